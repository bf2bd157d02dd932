"""Deploys riders don't notice: a worker of two stopping, and a whole host restarting, with
riders connected, sending heartbeats and following the close's reconnect hint.

Each test prints what it checks: riders shown as left during the restart (0), seq gaps seen
by a phone (0), and handshakes or requests the stopping listener accepted and then reset (0).
"""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
import psutil
import pytest
import websockets
from channels.db import database_sync_to_async

from bench.harness import ROOT, _wait_until_ready, free_port
from riders.auth_tokens import token_issue
from rooms.services import participant_join, room_create
from sessions_rt.consumers import PROTOCOL
from sessions_rt.protocol import CloseCode
from sessions_rt.sockets import retry_after_ms
from tests.ops.processes import run_manage, server_environment
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db(transaction=True)

RIDERS = 12
# Short enough that a test outlives it, long enough for a host to restart inside it.
GRACE_SECONDS = 12
SETTINGS = {
    "RECONNECT_GRACE_SECONDS": str(GRACE_SECONDS),
    "WS_RESTART_RECONNECT_WINDOW_SECONDS": "2",
    "WS_HEARTBEAT_REFRESH_SECONDS": "1",
}


@dataclass
class Deadline:
    at: float

    def passed(self) -> bool:
        return time.monotonic() >= self.at


@dataclass
class Phone:
    """A rider's phone: one socket at a time, heartbeats every second, the seq it holds, and
    on a 1001 a reconnect after the close's retry_after_ms with since_seq and session_id."""

    key: str
    code: str
    seq: int = 0
    session_id: str | None = None
    gaps: list[tuple[int, int]] = field(default_factory=list)
    left: set[tuple[str, str]] = field(default_factory=set)
    sockets: int = 0
    closes: list[int] = field(default_factory=list)

    def url(self, base: str) -> str:
        query = (
            f"?{urlencode({'since_seq': self.seq, 'session_id': self.session_id})}"
            if self.session_id
            else ""
        )
        return f"{base.replace('http', 'ws')}/ws/rooms/{self.code}/{query}"

    async def ride(self, base: str, until: "Deadline") -> None:
        while not until.passed():
            try:
                async with websockets.connect(
                    self.url(base), subprotocols=[PROTOCOL, f"bearer.{self.key}"], open_timeout=5
                ) as socket:
                    self.sockets += 1
                    delay = await self._listen(socket, until)
            except (TimeoutError, OSError, websockets.InvalidHandshake):
                delay = 0.2  # the host is down: refused, as a stopped listener should
            await asyncio.sleep(delay)

    async def _listen(self, socket, until: "Deadline") -> float:
        last_beat = 0.0
        try:
            while not until.passed():
                if time.monotonic() - last_beat >= 1:
                    await socket.send(json.dumps({"type": "heartbeat"}))
                    last_beat = time.monotonic()
                with contextlib.suppress(asyncio.TimeoutError):
                    frame = json.loads(await asyncio.wait_for(socket.recv(), 0.5))
                    # Past ``until`` the phones close, one after the other: their own leaving
                    # is the test's end, not the deploy's doing.
                    if not until.passed():
                        self._read(frame)
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else 1006
            self.closes.append(code)
            hint = retry_after_ms(closed.rcvd.reason) if closed.rcvd else None
            return (hint or 200) / 1000
        return 0

    def _read(self, frame: dict) -> None:
        if frame["type"] == "snapshot":
            self.seq, self.session_id = frame["seq"], frame["session_id"]
        elif frame["type"] == "events":
            for event in frame["events"]:
                self._event(event)
        elif "seq" in frame:
            self._event(frame)

    def _event(self, event: dict) -> None:
        if event["seq"] <= self.seq:
            return
        if event["seq"] != self.seq + 1:
            self.gaps.append((self.seq, event["seq"]))
        self.seq = event["seq"]
        if event["type"] == "member_left":
            self.left.add((event["rider_id"], event["payload"]["reason"]))


@dataclass
class Prober:
    """New connections, back to back, while a listener stops: each is refused (not accepted),
    answered (any HTTP status, or a socket closed with a close code), or reset after being
    accepted, which must never happen."""

    base: str
    answered: int = 0
    refused: int = 0
    reset: list[str] = field(default_factory=list)

    async def run(self, until: float) -> None:
        while time.monotonic() < until:
            await asyncio.gather(self._post(), self._handshake())
            await asyncio.sleep(0.02)

    async def _post(self) -> None:
        try:
            async with httpx.AsyncClient(base_url=self.base, timeout=15) as http:
                await http.post("/api/v1/telemetry/events/", json={"events": []})
            self.answered += 1
        except httpx.ConnectError:
            self.refused += 1
        except httpx.HTTPError as exc:
            self.reset.append(f"POST: {type(exc).__name__}")

    async def _handshake(self) -> None:
        try:
            async with websockets.connect(
                f"{self.base.replace('http', 'ws')}/ws/rooms/ABCDEF/",
                subprotocols=[PROTOCOL],
                open_timeout=15,
            ) as socket:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(socket.recv(), 0.2)
            self.answered += 1
        except websockets.ConnectionClosed as closed:
            if closed.rcvd is None:
                self.reset.append("handshake: closed without a close frame")
            else:
                self.answered += 1
        except ConnectionRefusedError:
            self.refused += 1
        except (TimeoutError, OSError, websockets.InvalidHandshake) as exc:
            self.reset.append(f"handshake: {type(exc).__name__}: {exc}")


def _ride_of(size: int):
    riders = [RiderFactory() for _ in range(size)]
    room = room_create(creator=riders[0], name="Deploy", max_participants=50)
    for rider in riders[1:]:
        participant_join(rider=rider, code=room.code)
    return room, [token_issue(rider=rider).key for rider in riders]


@contextlib.contextmanager
def _serve(port: int, env: dict[str, str], workers: int = 2):
    log = open(os.devnull, "wb")  # noqa: SIM115 - closed below, after the process
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        env={"DJANGO_DEBUG": "false", **os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        _wait_until_ready(f"http://127.0.0.1:{port}", process, log)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _report(name: str, phones: list[Phone], prober: Prober) -> tuple[int, int, int]:
    left = set().union(*(phone.left for phone in phones))
    if left:
        print("member_left seen:", sorted(left))
    if prober.reset:
        print("reset:", prober.reset)
    gaps = sum(len(phone.gaps) for phone in phones)
    print(
        f"\n{name}: riders shown as left {len(left)}, seq gaps {gaps}, "
        f"handshakes/POSTs reset {len(prober.reset)} "
        f"(answered {prober.answered}, refused {prober.refused}); "
        f"sockets per phone {min(p.sockets for p in phones)}-{max(p.sockets for p in phones)}"
    )
    return len(left), gaps, len(prober.reset)


def _sweep(env: dict[str, str]) -> str:
    swept = run_manage("cleanup_expired_sessions", env=env)
    assert swept.returncode == 0, swept.stderr
    return swept.stdout


async def test_one_worker_of_two_stopping_shows_its_riders_reconnecting_never_gone():
    room, keys = await database_sync_to_async(_ride_of)(RIDERS)
    env = server_environment(**SETTINGS)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with _serve(port, env) as supervisor:
        phones = [Phone(key, room.code) for key in keys]
        until = Deadline(time.monotonic() + GRACE_SECONDS + 8)
        riding = asyncio.gather(*(phone.ride(base, until) for phone in phones))
        await asyncio.sleep(3)
        workers = [
            child
            for child in psutil.Process(supervisor.pid).children()
            if any("spawn_main" in part for part in child.cmdline())
        ]
        assert len(workers) == 2
        # The worker holding most sockets, so the stop moves riders for sure.
        stopping = max(workers, key=lambda worker: len(worker.net_connections()))
        prober = Prober(base)
        stopping.send_signal(signal.SIGTERM)
        await asyncio.gather(prober.run(time.monotonic() + 3), riding)
        # Past the grace period: the sweep finds nobody of this ride to take out.
        swept = await asyncio.to_thread(_sweep, env)

    left, gaps, reset = _report("one worker of two stopping", phones, prober)
    assert sum(phone.closes.count(CloseCode.SERVER_SHUTDOWN) for phone in phones) > 0
    assert str(room.pk) not in swept
    assert (left, gaps, reset) == (0, 0, 0)


async def test_a_host_restarting_shows_its_riders_reconnecting_never_gone():
    room, keys = await database_sync_to_async(_ride_of)(RIDERS)
    env = server_environment(**SETTINGS)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    phones = [Phone(key, room.code) for key in keys]
    prober = Prober(base)
    # Until the new host has served past the grace period: however long the shared machine
    # takes to stop one server and start the next.
    until = Deadline(time.monotonic() + 120)
    with _serve(port, env) as old:
        riding = asyncio.gather(*(phone.ride(base, until) for phone in phones))
        await asyncio.sleep(3)
        old.send_signal(signal.SIGTERM)
        probing = asyncio.ensure_future(prober.run(time.monotonic() + 3))
        await asyncio.to_thread(old.wait, 30)
        await probing
    with _serve(port, env):
        until.at = time.monotonic() + GRACE_SECONDS + 3
        await riding
        swept = await asyncio.to_thread(_sweep, env)

    left, gaps, reset = _report("host restart", phones, prober)
    assert all(phone.closes.count(CloseCode.SERVER_SHUTDOWN) == 1 for phone in phones)
    assert all(phone.sockets == 2 for phone in phones)
    assert str(room.pk) not in swept
    assert (left, gaps, reset) == (0, 0, 0)
