"""The README's run command, as an operator runs it: several workers, metrics summed across
them, static files, and a graceful stop on SIGTERM."""

import asyncio
import collections
import contextlib
import signal
import time

import httpx
import psycopg
import pytest
import websockets
from channels.db import database_sync_to_async
from django.conf import settings

from bench.harness import server_process
from config.database import direct_connection_params
from riders.auth_tokens import token_issue
from rooms.services import participant_join, room_create
from sessions_rt.consumers import PROTOCOL
from sessions_rt.protocol import CloseCode
from sessions_rt.sockets import RECONNECT_FLOOR_MS, reconnect_reason, retry_after_ms
from tests.ops.processes import server_environment
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db(transaction=True)


def ride_socket(base: str, code: str, key: str):
    return websockets.connect(
        f"{base.replace('http', 'ws')}/ws/rooms/{code}/",
        subprotocols=[PROTOCOL, f"bearer.{key}"],
        open_timeout=10,
    )


def metric_value(text: str, line_start: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)
    )


def test_two_workers_sum_their_metrics_and_serve_static_files(tmp_path):
    with (
        server_process(
            workers=2,
            extra_env=server_environment(PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics")),
        ) as server,
        httpx.Client(base_url=server.base, timeout=10) as http,
    ):
        # New connections each time, so both workers answer some of them.
        for _ in range(20):
            assert httpx.get(f"{server.base}/healthz", timeout=10).status_code == 200
        static = http.get("/static/admin/css/base.css")
        metrics = http.get("/metrics")

    assert static.status_code == 200
    assert "text/css" in static.headers["content-type"]
    assert metrics.status_code == 200
    text = metrics.text
    served = metric_value(
        text, 'convoy_http_requests_total{method="GET",route="healthz",status="200"}'
    )
    # The readiness polling of the harness adds a few /healthz of its own.
    assert served >= 20
    assert metric_value(text, 'convoy_db_pool_connections{state="size"}') >= 1
    assert "convoy_websockets_open" in text


def _wait_for_lock_waiter(dbname: str, timeout: float = 10) -> None:
    params = direct_connection_params()
    deadline = time.monotonic() + timeout
    with psycopg.connect(**params, autocommit=True) as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = %s AND wait_event_type = 'Lock'",
                [dbname],
            ).fetchone()[0]
            if waiting:
                return
            time.sleep(0.05)
    raise AssertionError("the join never reached PostgreSQL")


async def _drain(socket) -> None:
    """Read until the socket closes (presence messages may come before the close)."""
    while True:
        await socket.recv()


@pytest.fixture
def ride():
    leader, rider = RiderFactory(), RiderFactory()
    room = room_create(creator=leader, name="Last ride of the day")
    return room, token_issue(rider=leader).key, token_issue(rider=rider).key


async def test_sigterm_closes_sockets_with_1001_and_finishes_the_request_in_flight(ride):
    room, leader_key, rider_key = ride
    dbname = settings.DATABASES["default"]["NAME"]

    with server_process(workers=2, extra_env=server_environment()) as server:
        async with ride_socket(server.base, room.code, leader_key) as socket:
            assert '"snapshot"' in await asyncio.wait_for(socket.recv(), 10)
            # The ride's row is locked here, so the join below waits inside its transaction:
            # a request in flight when SIGTERM arrives.
            with psycopg.connect(**direct_connection_params()) as lock:
                lock.execute("SELECT 1 FROM rooms_room WHERE id = %s FOR UPDATE", [room.pk])
                async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
                    join = asyncio.create_task(
                        http.post(
                            f"/api/v1/rooms/{room.code}/join/",
                            headers={"Authorization": f"Bearer {rider_key}"},
                        )
                    )
                    await asyncio.to_thread(_wait_for_lock_waiter, dbname)
                    server.process.send_signal(signal.SIGTERM)

                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        await asyncio.wait_for(_drain(socket), 10)
                    assert closed.value.rcvd.code == CloseCode.SERVER_SHUTDOWN
                    assert closed.value.rcvd.reason.startswith("server shutdown; retry_after_ms=")

                    lock.rollback()
                    response = await asyncio.wait_for(join, 20)

        assert response.status_code == 200, response.text
        assert await asyncio.to_thread(server.process.wait, 20) == 0
        assert "Traceback" not in server.log_text()


RIDERS_AT_RESTART, RESTART_WINDOW_SECONDS = 30, 4


def _ride_of(size: int):
    riders = [RiderFactory() for _ in range(size)]
    room = room_create(creator=riders[0], name="Restart", max_participants=50)
    for rider in riders[1:]:
        participant_join(rider=rider, code=room.code)
    return room, [token_issue(rider=rider).key for rider in riders]


async def _close_reason(socket) -> str:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(_drain(socket), 15)
    assert closed.value.rcvd.code == CloseCode.SERVER_SHUTDOWN
    return closed.value.rcvd.reason


async def test_after_a_restart_phones_following_the_hint_come_back_spread_over_the_window():
    """Thirty phones on a host that stops each get their own retry_after_ms; following it,
    they reconnect to the other host spread over WS_RESTART_RECONNECT_WINDOW_SECONDS instead
    of all in the same second."""
    room, keys = await database_sync_to_async(_ride_of)(RIDERS_AT_RESTART)
    window = {"WS_RESTART_RECONNECT_WINDOW_SECONDS": str(RESTART_WINDOW_SECONDS)}

    with (
        server_process(workers=1, extra_env=server_environment(**window)) as stopping,
        server_process(workers=1, extra_env=server_environment()) as other,
    ):
        async with contextlib.AsyncExitStack() as stack:
            sockets = [
                await stack.enter_async_context(ride_socket(stopping.base, room.code, key))
                for key in keys
            ]
            for socket in sockets:
                assert '"snapshot"' in await asyncio.wait_for(socket.recv(), 10)
            stopping.process.send_signal(signal.SIGTERM)
            closed_at = time.monotonic()
            reasons = await asyncio.gather(*(_close_reason(socket) for socket in sockets))

        async def come_back(key: str, reason: str) -> float:
            delay = retry_after_ms(reason)
            assert delay is not None, reason
            await asyncio.sleep(closed_at + delay / 1000 - time.monotonic())
            async with ride_socket(other.base, room.code, key) as socket:
                assert '"snapshot"' in await asyncio.wait_for(socket.recv(), 10)
                return time.monotonic() - closed_at

        back_after = await asyncio.gather(
            *(come_back(key, reason) for key, reason in zip(keys, reasons, strict=True))
        )

    hints = sorted(retry_after_ms(reason) or 0 for reason in reasons)
    assert hints[0] >= RECONNECT_FLOOR_MS
    assert hints[-1] <= RESTART_WINDOW_SECONDS * 1000
    assert len(set(hints)) > RIDERS_AT_RESTART // 2
    # Reconnections by second since the close: spread over the window, no second holding two
    # thirds of them (uniform, each of the three seconds gets about ten).
    per_second = collections.Counter(int(seconds) for seconds in back_after)
    assert max(back_after) < RESTART_WINDOW_SECONDS + 2
    assert len(per_second) >= RESTART_WINDOW_SECONDS - 1, per_second
    assert max(per_second.values()) < RIDERS_AT_RESTART * 2 / 3, per_second


def test_a_reconnect_hint_stays_inside_its_window():
    delays = [retry_after_ms(reconnect_reason("x", window_seconds=3)) for _ in range(2000)]

    assert min(delays) >= RECONNECT_FLOOR_MS
    assert max(delays) <= 3000
    # Uniform: each third of the range gets its share.
    thirds = collections.Counter(min((delay - 1000) * 3 // 2001, 2) for delay in delays)
    assert all(count > 500 for count in thirds.values()), thirds
    assert retry_after_ms("server shutdown") is None
