"""The README's run command, as an operator runs it: several workers, metrics summed across
them, static files, and a graceful stop on SIGTERM."""

import asyncio
import signal
import time

import httpx
import psycopg
import pytest
import websockets
from django.conf import settings

from bench.harness import server_process
from config.database import direct_connection_params
from riders.auth_tokens import token_issue
from rooms.services import room_create
from sessions_rt.consumers import PROTOCOL
from sessions_rt.protocol import CloseCode
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
                    assert closed.value.rcvd.reason == "server shutdown"

                    lock.rollback()
                    response = await asyncio.wait_for(join, 20)

        assert response.status_code == 200, response.text
        assert await asyncio.to_thread(server.process.wait, 20) == 0
        assert "Traceback" not in server.log_text()
