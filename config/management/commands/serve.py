"""Serve HTTP and WebSocket from one ASGI server (uvicorn)."""

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand

from config.env import env_int, env_str


class Command(BaseCommand):
    help = "Serve Convoy's HTTP API, admin and WebSocket with uvicorn."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=env_str("CONVOY_HOST", "127.0.0.1"))
        parser.add_argument(
            "--port", type=int, default=env_int("CONVOY_PORT", 8000, minimum=1, maximum=65535)
        )
        parser.add_argument(
            "--workers", type=int, default=env_int("CONVOY_WORKERS", 1, minimum=1, maximum=64)
        )

    def handle(self, *args, host, port, workers, **options):
        if not 1 <= port <= 65535:
            self.stderr.write(f"--port must be from 1 to 65535, got {port}")
            raise SystemExit(2)
        if not 1 <= workers <= 64:
            self.stderr.write(f"--workers must be from 1 to 64, got {workers}")
            raise SystemExit(2)
        self.stdout.write(f"Convoy serving on http://{host}:{port}/ with {workers} worker(s)")
        uvicorn.run(
            "config.asgi:application",
            host=host,
            port=port,
            workers=workers,
            # Channels' router speaks HTTP and WebSocket, not the lifespan protocol.
            lifespan="off",
            # Frames past the socket's own limit (answered with close 1009) are cut off here,
            # before they are read into memory.
            ws_max_size=settings.WS_MAX_MESSAGE_CHARS * 4 + 1024,
            # Ride frames are a few hundred bytes: compressing each one costs more CPU than the
            # bytes it saves, and the worker's CPU is what limits fan-out.
            ws_per_message_deflate=False,
            log_level="info",
        )
