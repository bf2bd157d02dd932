"""A real HTTP receiver on loopback for webhook tests, and the delivery worker as operators
run it (``manage.py procrastinate worker``) in a child process.

The receiver verifies every request with the Standard Webhooks reference library, as an
operator's receiver would, and keeps what it accepted in arrival order. What it answers is
the test's to set: up or down (the port closed), slow, an error status, a redirect, an
endless or huge body.
"""

import contextlib
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.ops.processes import PROJECT_ROOT, server_environment, stop_process


@dataclass
class Received:
    webhook_id: str
    payload: dict
    headers: dict[str, str]


@dataclass
class Receiver:
    secret: str = ""
    status: int = 200
    delay_seconds: float = 0.0
    body: bytes = b"ok"
    # Called instead of the usual answer when set: (handler) -> None.
    answer: Callable | None = None
    received: list[Received] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    server: http.server.ThreadingHTTPServer | None = None
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self, port: int = 0) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                data = self.rfile.read(length)
                if receiver.answer is not None:
                    receiver.answer(self)
                    return
                if receiver.delay_seconds:
                    time.sleep(receiver.delay_seconds)
                if receiver.status < 300:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    try:
                        payload = Webhook(receiver.secret).verify(data, headers)
                    except WebhookVerificationError as exc:
                        receiver.rejected.append(str(exc))
                        self.send_response(400)
                        self.end_headers()
                        return
                    with receiver.lock:
                        receiver.received.append(Received(headers["webhook-id"], payload, headers))
                self.send_response(receiver.status)
                self.send_header("content-length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def wait_for(self, count: int, *, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"received {len(self.received)} of {count} within {timeout} s")


@contextlib.contextmanager
def receiver_running(**options) -> Iterator[Receiver]:
    receiver = Receiver(**options)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@contextlib.contextmanager
def delivery_worker(**extra_env: str) -> Iterator[subprocess.Popen]:
    """``manage.py procrastinate worker`` on the test database, stopped at the end (SIGTERM,
    as a deploy does; a test may SIGKILL it first)."""
    env = {
        **os.environ,
        **server_environment(DJANGO_SETTINGS_MODULE="config.settings.test"),
        **extra_env,
    }
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "procrastinate", "worker"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            stop_process(process)
