"""Shared pieces of Convoy's benchmarks: a real server process and latency summaries."""

import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    from config.startup import boot, start_embedded_servers_or_exit

    # The servers this benchmark starts inherit the URLs of the embedded ones, if any.
    start_embedded_servers_or_exit()
    boot()
    logging.getLogger("httpx").setLevel(logging.WARNING)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(*, workers: int, extra_env: dict | None = None, log_path: Path | None = None):
    """Start ``manage.py serve`` with the given workers; yield its base URL; stop it."""
    with server_process(workers=workers, extra_env=extra_env, log_path=log_path) as server:
        yield server.base


@dataclass
class ServerProcess:
    base: str
    process: subprocess.Popen
    log: IO[bytes]

    def log_text(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


@contextmanager
def server_process(*, workers: int, extra_env: dict | None = None, log_path: Path | None = None):
    """Start ``manage.py serve``; yield its URL, process and log; stop it (SIGTERM).

    The server's log goes to ``log_path`` (a temporary file if not given), never to a pipe:
    nobody reads a pipe while the server runs, and once its buffer is full every request that
    logs (a 500's traceback) blocks the server for good.
    """
    port = free_port()
    # Measured as deployed: without debug mode, which records every SQL statement. A
    # DJANGO_DEBUG in the environment still wins, for a run that wants the debug pages.
    env = {"DJANGO_DEBUG": "false", **os.environ, **(extra_env or {})}
    with _log_file(log_path) as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port), "--workers", str(workers)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_ready(base, process, log)
            yield ServerProcess(base=base, process=process, log=log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _log_file(log_path: Path | None):
    if log_path is None:
        return tempfile.TemporaryFile(mode="w+b")
    return open(log_path, "w+b")


def _wait_until_ready(base: str, process: subprocess.Popen, log, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited early: {log.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become ready in time")


@dataclass
class Samples:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    transport_errors: int = 0
    elapsed_s: float = 0.0

    def add(self, started: float, ok: bool) -> None:
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        if not ok:
            self.errors += 1

    async def request(self, sending, ok) -> "object | None":
        """Await ``sending`` (an httpx request), record its latency and whether ``ok(response)``
        holds. A connection the server dropped counts as an error, not a crash of the run."""
        started = time.perf_counter()
        try:
            response = await sending
        except httpx.TransportError:
            self.add(started, False)
            self.transport_errors += 1
            return None
        self.add(started, ok(response))
        return response

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    def row(self) -> str:
        median = statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")
        return (
            f"{self.name:<28} {len(self.latencies_ms):>8} {self.rate:>10.1f} "
            f"{median:>9.1f} {self.percentile(0.99):>9.1f} {self.errors:>7}"
        )


HEADER = (
    f"{'operation':<28} {'requests':>8} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}"
)
