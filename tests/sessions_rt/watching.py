"""What the watcher's live tests share: servers and watchers as processes, phones on real
sockets driving riders along a route, and waiting for alerts.

Rides run due north along 7°E from 45°N; 0.001° of latitude is about 111 m. Times are
shortened: a 3 s grace period, a trail point a second, ticks twice a second.
"""

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import websockets
from channels.db import database_sync_to_async

from riders.auth_tokens import token_issue
from riders.models import Rider
from rooms.models import RideAlert, Room
from rooms.services import participant_join, room_create
from sessions_rt.consumers import PROTOCOL
from tests.ops.processes import server_environment, stop_process
from tests.riders.factories import RiderFactory

ROOT = Path(__file__).resolve().parents[2]
GRACE_SECONDS = 3
M_PER_DEG = 111_226.0


def cluster_environment() -> dict[str, str]:
    """Test servers and watchers: shortened times. Test settings fix the key prefix, so the
    processes of one test module share the live state with those of any other running."""
    return server_environment(
        RECONNECT_GRACE_SECONDS=str(GRACE_SECONDS),
        TRAIL_SAMPLE_SECONDS="1",
        TRAIL_KEEP_SECONDS="60",
        WATCH_INTERVAL_SECONDS="1",
        WATCH_LEASE_SECONDS="2",
    )


@contextlib.contextmanager
def watcher_process(env: dict[str, str]):
    """``manage.py watch_rides`` ticking twice a second, its log in a file, once it runs;
    stopped with SIGTERM (a test may have killed it first)."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-u", "manage.py", "watch_rides", "--interval", "0.5"],
            cwd=ROOT,
            env={**os.environ, **env, "LOG_LEVEL": "INFO"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        process.log = log  # type: ignore[attr-defined]
        try:
            deadline = time.monotonic() + 60
            while "Convoy watching rides" not in log_of(process):
                assert process.poll() is None, log_of(process)[-2000:]
                assert time.monotonic() < deadline, "the watcher did not start in time"
                time.sleep(0.1)
            yield process
        finally:
            stop_process(process)


def log_of(process) -> str:
    process.log.flush()
    process.log.seek(0)
    return process.log.read().decode(errors="replace")


class Phone:
    """A rider's phone: one socket to one server, a position a second from ``route(t)``
    (north in metres and speed in km/h at ``t`` seconds into the test), every frame it
    receives read (and so checked against the AsyncAPI document)."""

    def __init__(self, base: str, code: str, key: str, route: Callable[[float], tuple]):
        self.url = f"{base.replace('http', 'ws')}/ws/rooms/{code}/"
        self.key = key
        self.route = route
        self.tasks: list[asyncio.Task] = []
        self.socket: Any = None

    async def start(self, started: float) -> None:
        self.socket = await websockets.connect(
            self.url, subprotocols=[PROTOCOL, f"bearer.{self.key}"], open_timeout=10
        )
        first = json.loads(await self.socket.recv())
        assert first["type"] == "snapshot"
        self.tasks = [
            asyncio.create_task(self._send(started)),
            asyncio.create_task(self._drain()),
        ]

    async def _send(self, started: float) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                north, speed = self.route(time.monotonic() - started)
                await self.socket.send(
                    json.dumps(
                        {
                            "type": "location",
                            "lat": 45 + north / M_PER_DEG,
                            "lon": 7.0,
                            "speed_kmh": speed,
                            "heading_deg": 0,
                        }
                    )
                )
                await asyncio.sleep(1)

    async def _drain(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await self.socket.recv()

    async def drop(self) -> None:
        """The phone dies in a crash or a tunnel: the connection is cut, no close frame."""
        for task in self.tasks:
            task.cancel()
        self.socket.transport.abort()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await self.socket.close()


def moving(start_m: float, speed: float = 60.0):
    return lambda t: (start_m + speed / 3.6 * t, speed)


def standing(at_m: float):
    return lambda t: (at_m, 0.0)


@database_sync_to_async
def new_ride(size: int, **thresholds):
    riders: list[Rider] = [RiderFactory() for _ in range(size)]
    room = room_create(creator=riders[0], name="Watched ride")
    for rider in riders[1:]:
        participant_join(rider=rider, code=room.code)
    Room.objects.filter(pk=room.pk).update(**thresholds)
    return room, [str(r.pk) for r in riders], [token_issue(rider=r).key for r in riders]


@database_sync_to_async
def alerts_of(room, kind: str) -> list[RideAlert]:
    return list(RideAlert.objects.filter(room=room, kind=kind).order_by("raised_at"))


async def wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.25)


async def phones_on(servers, room, keys, routes) -> list[Phone]:
    started = time.monotonic()
    phones = [
        Phone(servers[index % 2], room.code, key, route)
        for index, (key, route) in enumerate(zip(keys, routes, strict=True))
    ]
    for phone in phones:
        await phone.start(started)
    return phones


async def holder_of(watchers, room_id: str, timeout: float = 20):
    """The one watcher that took the ride, once one has (a busy host may take a few ticks
    to start its first)."""
    deadline = time.monotonic() + timeout
    while True:
        holders = [w for w in watchers if f"took ride {room_id}" in log_of(w)]
        if holders or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
    assert len(holders) == 1, [log_of(w)[-2000:] for w in watchers]
    return holders[0]
