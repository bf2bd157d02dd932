"""Serve HTTP and WebSocket from one ASGI server (uvicorn), in one or more worker processes."""

import os
import tempfile
from pathlib import Path

import uvicorn
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand

from config.env import env_int, env_str
from config.server import run_server
from config.startup import one_line

MAX_WORKERS = 64


class Command(BaseCommand):
    help = "Serve Convoy's HTTP API, admin, static files and WebSocket with uvicorn."

    def add_arguments(self, parser):
        # Defaults come from the environment in handle(), where a malformed value can be
        # reported as one line instead of a traceback.
        parser.add_argument("--host", help="address to listen on (CONVOY_HOST, 127.0.0.1)")
        parser.add_argument("--port", help="port to listen on (CONVOY_PORT, 8000)")
        parser.add_argument(
            "--workers",
            help=f"worker processes, 1 to {MAX_WORKERS} (CONVOY_WORKERS, WEB_CONCURRENCY, 1)",
        )

    def handle(self, *args, host, port, workers, **options):
        try:
            host = host or env_str("CONVOY_HOST", "127.0.0.1")
            port = _number("--port", port) or env_int("CONVOY_PORT", 8000, minimum=1, maximum=65535)
            # WEB_CONCURRENCY is what hosting platforms set for the processes a dyno can run.
            platform_workers = env_int("WEB_CONCURRENCY", 1, minimum=1, maximum=MAX_WORKERS)
            workers = _number("--workers", workers, maximum=MAX_WORKERS) or env_int(
                "CONVOY_WORKERS", platform_workers, minimum=1, maximum=MAX_WORKERS
            )
            shutdown_seconds = env_int(
                "CONVOY_SHUTDOWN_TIMEOUT_SECONDS", 20, minimum=1, maximum=600
            )
            keep_alive_seconds = env_int("HTTP_KEEP_ALIVE_SECONDS", 75, minimum=1, maximum=3600)
            if workers > 1:
                _fresh_metrics_directory()
        except ImproperlyConfigured as exc:
            self.stderr.write(f"convoy: configuration error: {one_line(exc)}")
            raise SystemExit(2) from None
        self.stdout.write(f"Convoy serving on http://{host}:{port}/ with {workers} worker(s)")
        config = uvicorn.Config(
            "config.asgi:application",
            host=host,
            port=port,
            workers=workers,
            # Channels' router speaks HTTP and WebSocket, not the lifespan protocol.
            lifespan="off",
            # Both count UTF-8 bytes. A frame just past the socket's own limit reaches the
            # consumer, which closes it with 1009; one far past it is cut off here, with the
            # same code, before it is read into memory.
            ws_max_size=settings.WS_MAX_MESSAGE_BYTES + 1024,
            # Ride frames are a few hundred bytes: compressing each one costs more CPU than the
            # bytes it saves, and the worker's CPU is what limits fan-out.
            ws_per_message_deflate=False,
            # Django's LOGGING (structured, with request ids) formats uvicorn's lines too, and
            # Convoy's middleware writes the one access line per request.
            log_config=None,
            log_level=settings.LOG_LEVEL.lower(),
            access_log=False,
            timeout_graceful_shutdown=shutdown_seconds,
            # An idle keep-alive connection must outlive the load balancer's (60 s on most):
            # a server that closes first races the next request sent on it, which the client
            # then sees fail with nothing read.
            timeout_keep_alive=keep_alive_seconds,
        )
        run_server(config)


def _number(option: str, raw: str | None, *, maximum: int = 65535) -> int | None:
    if raw is None:
        return None
    if not raw.strip().isdigit() or not 1 <= int(raw) <= maximum:
        raise ImproperlyConfigured(f"{option} must be an integer from 1 to {maximum}, got {raw!r}")
    return int(raw)


def _fresh_metrics_directory() -> None:
    """Every worker writes its metrics to files here; values of a previous run are removed
    (only prometheus-client's own ``*.db`` files), or counters would carry on from the last
    deployment's."""
    path = Path(env_str("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="convoy-metrics-"))
    try:
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"PROMETHEUS_MULTIPROC_DIR {path} cannot be emptied and written ({exc.strerror})"
        ) from None
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
