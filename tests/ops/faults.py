"""Real faults for the tests: a TCP proxy that can cut PostgreSQL off, and a private Redis that
a test may stop and start again. The machine's own servers are shared and never touched."""

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from bench.harness import free_port


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target``; ``cut()`` refuses and drops every connection
    (the server looks down), ``restore()`` accepts again on the same port."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> "TcpProxy":
        self.thread.start()
        self.restore()
        return self

    def __exit__(self, *exc) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def restore(self) -> None:
        async def listen():
            self.server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

        self._call(listen())

    def cut(self) -> None:
        async def close():
            if self.server is not None:
                self.server.close()
                self.server = None
            for writer in list(self.writers):
                writer.transport.abort()
            self.writers.clear()

        self._call(close())

    async def _forward(self, client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self.writers.update((client_writer, server_writer))

        async def pipe(reader, writer):
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.transport.abort()

        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))
        self.writers.difference_update((client_writer, server_writer))


class PrivateRedis:
    """A real redis-server of this test alone, on a free port, that may be stopped."""

    def __init__(self):
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="convoy-test-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> "PrivateRedis":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.directory,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


class PrivateSentinel:
    """A real Redis Sentinel (redis-server in sentinel mode) watching ``redis`` as ``master``."""

    def __init__(self, redis: PrivateRedis, master: str):
        self.port = free_port()
        self.redis = redis
        self.master = master
        self.directory = tempfile.mkdtemp(prefix="convoy-test-sentinel-")
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "PrivateSentinel":
        config = f"{self.directory}/sentinel.conf"
        with open(config, "w") as file:
            file.write(
                f"port {self.port}\nbind 127.0.0.1\ndir {self.directory}\n"
                f"sentinel monitor {self.master} 127.0.0.1 {self.redis.port} 1\n"
            )
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", config, "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return self
            time.sleep(0.05)
        raise RuntimeError("the private sentinel did not start")

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)
