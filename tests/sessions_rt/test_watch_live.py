"""The server watches the ride: real phones' sockets on two server processes, two watchers.

Each rule raises one alert, however many watchers and ticks see the condition, and resolves
it when the condition is over; what must not alarm does not. A watcher killed with SIGKILL
loses its rides after the lease time and the other takes them over.

Rides run due north along 7°E from 45°N; 0.001° of latitude is about 111 m. Times are
shortened: a 3 s grace period, a trail point a second, ticks twice a second.
"""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import websockets
from channels.db import database_sync_to_async

from bench.harness import running_server
from riders.auth_tokens import token_issue
from riders.models import Rider
from rooms.models import AlertStatus, RideAlert, Room
from rooms.services import participant_join, room_create
from sessions_rt.consumers import PROTOCOL
from tests.ops.processes import server_environment
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
GRACE_SECONDS = 3
M_PER_DEG = 111_226.0


def cluster_environment(prefix: str) -> dict[str, str]:
    return server_environment(
        CONVOY_KEY_PREFIX=prefix,
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
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                raise


def log_of(process) -> str:
    process.log.flush()
    process.log.seek(0)
    return process.log.read().decode(errors="replace")


@pytest.fixture(scope="module")
def cluster(django_db_setup, django_db_blocker):
    """Two servers and two watchers on the test database and Redis."""
    env = cluster_environment(f"convoy-test-watch-{uuid.uuid4().hex[:8]}")
    with (
        django_db_blocker.unblock(),
        running_server(workers=1, extra_env=env) as first,
        running_server(workers=1, extra_env=env) as second,
        watcher_process(env),
        watcher_process(env),
    ):
        yield first, second


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


async def test_a_split_is_raised_once_and_resolved_when_the_rider_closes_up(cluster):
    room, riders, keys = await new_ride(3, split_distance_m=200, stopped_seconds=900)
    closed_up = asyncio.Event()

    def straggler(t):
        north = 1000 + 60 / 3.6 * t if closed_up.is_set() else 500 + 60 / 3.6 * t
        return north, 60.0

    phones = await phones_on(cluster, room, keys, [moving(1000), moving(1020), straggler])
    try:

        async def raised():
            return len(await alerts_of(room, "split")) > 0

        await wait_for(raised, timeout=10)
        await asyncio.sleep(2)  # more ticks of both watchers, on a condition that lasts
        [alert] = await alerts_of(room, "split")
        assert (str(alert.rider_id), alert.status) == (riders[2], AlertStatus.OPEN)
        assert alert.details["side"] == "behind"
        assert 400 <= alert.details["distance_m"] <= 600

        closed_up.set()

        async def resolved():
            [alert] = await alerts_of(room, "split")
            return alert.status == AlertStatus.RESOLVED

        await wait_for(resolved, timeout=10)
        [alert] = await alerts_of(room, "split")
        assert alert.resolution == "condition_cleared"
    finally:
        for phone in phones:
            await phone.close()


async def test_a_rider_stopped_while_the_group_rides_on_is_raised_once(cluster):
    room, riders, keys = await new_ride(3, split_distance_m=20000, stopped_seconds=30)
    phones = await phones_on(cluster, room, keys, [moving(0), moving(20), standing(0)])
    try:
        await asyncio.sleep(25)
        assert await alerts_of(room, "stopped") == []

        async def raised():
            return len(await alerts_of(room, "stopped")) > 0

        await wait_for(raised, timeout=15)
        await asyncio.sleep(2)
        [alert] = await alerts_of(room, "stopped")
        assert str(alert.rider_id) == riders[2]
        assert alert.details["stopped_seconds"] >= 30
        assert len(alert.trail) >= 25
    finally:
        for phone in phones:
            await phone.close()


async def test_a_group_stop_raises_nothing(cluster):
    room, _riders, keys = await new_ride(3, stopped_seconds=30)
    phones = await phones_on(cluster, room, keys, [standing(0), standing(10), standing(20)])
    try:
        await asyncio.sleep(36)
        assert await alerts_of(room, "stopped") == []
    finally:
        for phone in phones:
            await phone.close()


async def test_a_rider_silent_at_speed_is_raised_once_and_resolved_when_back(cluster):
    room, riders, keys = await new_ride(3)
    phones = await phones_on(cluster, room, keys, [moving(0), moving(30), moving(60)])
    try:
        await asyncio.sleep(2.5)
        await phones[2].drop()
        await asyncio.sleep(GRACE_SECONDS - 0.5)
        assert await alerts_of(room, "silent") == []

        async def raised():
            return len(await alerts_of(room, "silent")) > 0

        await wait_for(raised, timeout=6)
        await asyncio.sleep(2)
        [alert] = await alerts_of(room, "silent")
        assert str(alert.rider_id) == riders[2]
        assert alert.speed_kmh == 60.0
        assert sorted(alert.details["neighbours_connected"]) == sorted(riders[:2])

        back = Phone(cluster[0], room.code, keys[2], moving(200))
        await back.start(time.monotonic())
        phones.append(back)

        async def resolved():
            [alert] = await alerts_of(room, "silent")
            return alert.status == AlertStatus.RESOLVED

        await wait_for(resolved, timeout=6)
        [alert] = await alerts_of(room, "silent")
        assert alert.resolution == "rider_back"
    finally:
        for phone in phones:
            await phone.close()


async def test_a_tunnel_several_riders_enter_together_raises_nothing(cluster):
    room, _riders, keys = await new_ride(3)
    phones = await phones_on(cluster, room, keys, [moving(0), moving(30), moving(60)])
    try:
        await asyncio.sleep(2.5)
        await phones[1].drop()
        await phones[2].drop()
        await asyncio.sleep(GRACE_SECONDS + 4)
        assert await alerts_of(room, "silent") == []
    finally:
        for phone in phones:
            await phone.close()


async def test_a_slow_rider_whose_phone_dies_raises_nothing(cluster):
    room, _riders, keys = await new_ride(3, stopped_seconds=900)
    phones = await phones_on(cluster, room, keys, [moving(0, 10), moving(10, 10), moving(20, 10)])
    try:
        await asyncio.sleep(2.5)
        await phones[2].drop()
        await asyncio.sleep(GRACE_SECONDS + 4)
        assert await alerts_of(room, "silent") == []
    finally:
        for phone in phones:
            await phone.close()


def holder_of(watchers, room_id: str):
    holders = [w for w in watchers if f"took ride {room_id}" in log_of(w)]
    assert len(holders) == 1, [log_of(w)[-2000:] for w in watchers]
    return holders[0]


async def test_a_killed_watchers_rides_are_taken_over_after_the_lease_time():
    env = cluster_environment(f"convoy-test-handover-{uuid.uuid4().hex[:8]}")
    with (
        running_server(workers=1, extra_env=env) as base,
        watcher_process(env) as one,
        watcher_process(env) as other,
    ):
        room, riders, keys = await new_ride(3, split_distance_m=200, stopped_seconds=900)
        behind = asyncio.Event()

        def straggler(t):
            return (200 if behind.is_set() else 980) + 60 / 3.6 * t, 60.0

        phones = await phones_on((base, base), room, keys, [moving(1000), moving(1020), straggler])
        try:
            await asyncio.sleep(2)
            holder = holder_of([one, other], str(room.pk))
            survivor = other if holder is one else one
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=5)
            killed_at = time.monotonic()
            behind.set()

            async def raised():
                return len(await alerts_of(room, "split")) > 0

            await wait_for(raised, timeout=10)
            # Not before the dead watcher's lease ran out (2 s), and by the survivor.
            assert time.monotonic() - killed_at >= 1.0
            assert f"took ride {room.pk}" in log_of(survivor)
            await asyncio.sleep(2)
            [alert] = await alerts_of(room, "split")
            assert str(alert.rider_id) == riders[2]
        finally:
            for phone in phones:
                await phone.close()


async def test_a_stopped_watcher_releases_its_rides_at_once():
    env = cluster_environment(f"convoy-test-release-{uuid.uuid4().hex[:8]}")
    with running_server(workers=1, extra_env=env) as base, watcher_process(env) as one:
        room, _riders, keys = await new_ride(2)
        phones = await phones_on((base, base), room, keys, [moving(0), moving(20)])
        try:
            await asyncio.sleep(2)
            assert f"took ride {room.pk}" in log_of(one)
            one.send_signal(signal.SIGTERM)
            assert one.wait(timeout=10) == 0
            assert "its rides are released" in log_of(one)
            with watcher_process(env) as two:
                # Taken at its first tick, not after the lease time.
                await asyncio.sleep(1)
                assert f"took ride {room.pk}" in log_of(two)
        finally:
            for phone in phones:
                await phone.close()
