"""Faults a production Convoy survives, against real servers: PostgreSQL connections killed,
PostgreSQL out of reach, Redis stopped and started again, a worker killed mid-request.

Each fault is real (pg_terminate_backend on this test's own database, a TCP proxy cut, a
private redis-server stopped, SIGKILL) and each test is bounded to seconds.
"""

import asyncio
import json
import signal
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
import websockets
from django.conf import settings

from bench.harness import server_process
from config.database import direct_connection_params
from riders.auth_tokens import token_issue
from rooms.models import RoomParticipant
from rooms.services import room_create
from sessions_rt.consumers import PROTOCOL
from sessions_rt.protocol import CloseCode
from telemetry.models import ConnectionLog
from tests.ops.faults import PrivateRedis, TcpProxy
from tests.ops.processes import database_url_for, server_environment
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def riders_and_ride():
    leader = RiderFactory()
    room = room_create(creator=leader, name="Fault ride", max_participants=50)
    riders = [RiderFactory() for _ in range(12)]
    keys = [token_issue(rider=rider).key for rider in riders]
    return room, riders, keys, token_issue(rider=leader).key


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def _assert_clean_failure(response: httpx.Response) -> None:
    """Either an answer of the API's own, or a clean 503 saying the database is away."""
    assert response.status_code < 500 or response.status_code == 503, response.text
    if response.status_code == 503:
        assert response.json()["error"]["code"] == "database_unavailable"
        assert response.headers["Retry-After"] == "5"


def _participations_consistent(room) -> None:
    active = RoomParticipant.objects.filter(room=room, is_active=True)
    assert active.count() <= room.max_participants
    assert not active.filter(left_at__isnull=False).exists()
    assert not RoomParticipant.objects.filter(is_active=False, left_at__isnull=True).exists()


# --- PostgreSQL connections killed mid-traffic -------------------------------------------------


APP_NAME = "convoy-under-fault"


class BackendKiller(threading.Thread):
    """pg_terminate_backend on every backend the server under test holds on this test's
    database (told apart by application_name), in ``waves`` a second apart."""

    def __init__(self, waves: int = 3, interval: float = 1.0):
        super().__init__(daemon=True)
        self.waves, self.interval = waves, interval
        self.terminated = 0

    def run(self):
        with psycopg.connect(**direct_connection_params(), autocommit=True) as conn:
            for _ in range(self.waves):
                time.sleep(self.interval)
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = %s",
                    [APP_NAME],
                ).fetchall()
                self.terminated += len(rows)


async def _join_and_leave_until(http, code: str, key: str, deadline: float, responses: list):
    while time.monotonic() < deadline:
        for action in ("join", "leave"):
            responses.append(await http.post(f"/api/v1/rooms/{code}/{action}/", headers=_auth(key)))


def test_killed_database_connections_fail_requests_cleanly_and_the_next_ones_succeed(
    riders_and_ride,
):
    room, _riders, keys, _ = riders_and_ride
    env = server_environment(
        database_url_for(settings.DATABASES["default"]["NAME"], application_name=APP_NAME),
        DB_POOL_TIMEOUT="3",
    )

    with server_process(workers=1, extra_env=env) as server:

        async def traffic() -> list[httpx.Response]:
            responses: list[httpx.Response] = []
            async with httpx.AsyncClient(base_url=server.base, timeout=15) as http:
                deadline = time.monotonic() + 4
                await asyncio.gather(
                    *(
                        _join_and_leave_until(http, room.code, key, deadline, responses)
                        for key in keys
                    )
                )
            return responses

        killer = BackendKiller()
        killer.start()
        responses = asyncio.run(traffic())
        killer.join(10)

        assert killer.terminated > 0
        for response in responses:
            _assert_clean_failure(response)
        # No restart: every rider's next request is answered by the same server.
        with httpx.Client(base_url=server.base, timeout=10) as http:
            for key in keys:
                assert (
                    http.get(f"/api/v1/rooms/{room.code}/", headers=_auth(key)).status_code == 200
                )
        assert "Traceback" not in server.log_text()

    room.refresh_from_db()
    _participations_consistent(room)


# --- PostgreSQL out of reach for a while ------------------------------------------------------


def _database_url_through(port: int) -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgresql://{db['USER']}{password}@127.0.0.1:{port}/{db['NAME']}"


def _wait_for(call, *, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        result = call()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


OUTAGE_SECONDS = 10


@pytest.mark.skipif(
    str(settings.DATABASES["default"]["HOST"]).startswith("/"),
    reason="PostgreSQL on a unix socket: the proxy forwards TCP",
)
def test_an_unreachable_database_answers_503_and_recovers_by_itself(riders_and_ride):
    room, _riders, keys, _ = riders_and_ride
    db = settings.DATABASES["default"]

    with (
        TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)) as proxy,
        server_process(
            workers=1,
            extra_env=server_environment(_database_url_through(proxy.port), DB_POOL_TIMEOUT="2"),
        ) as server,
        httpx.Client(base_url=server.base, timeout=15) as http,
    ):
        ride = f"/api/v1/rooms/{room.code}/"
        assert http.get(ride, headers=_auth(keys[0])).status_code == 200

        proxy.cut()
        cut_at = time.monotonic()
        ready = http.get("/readyz")
        down = http.get(ride, headers=_auth(keys[0]))
        assert ready.status_code == 503
        assert ready.json()["checks"]["postgresql"]["ok"] is False
        assert down.status_code == 503
        assert down.json()["error"] == {
            "code": "database_unavailable",
            "message": "The database is unavailable, so nothing was saved; try again in a few "
            "seconds.",
        }
        # The whole outage: every request in it gets the same clean 503, none hangs.
        while time.monotonic() - cut_at < OUTAGE_SECONDS:
            assert http.get(ride, headers=_auth(keys[0])).status_code == 503
            time.sleep(1)
        proxy.restore()

        back = _wait_for(
            lambda: http.get(ride, headers=_auth(keys[0])).status_code == 200, timeout=30
        )
        assert back, "the server never recovered after PostgreSQL came back"
        assert http.get("/readyz").status_code == 200
        assert "Traceback" not in server.log_text()


# --- Redis stopped and started again --------------------------------------------------------


def _socket(base: str, code: str, key: str):
    return websockets.connect(
        f"{base.replace('http', 'ws')}/ws/rooms/{code}/",
        subprotocols=[PROTOCOL, f"bearer.{key}"],
        open_timeout=10,
    )


async def _close_code(socket, timeout: float = 10) -> int:
    async def drain():
        while True:
            await socket.recv()

    try:
        await asyncio.wait_for(drain(), timeout)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else closed.code
    raise AssertionError("the socket stayed open")


def test_rest_keeps_serving_while_redis_is_down_and_live_state_comes_back(riders_and_ride):
    room, _riders, _keys, leader_key = riders_and_ride
    headers = _auth(leader_key)

    with PrivateRedis() as redis:
        env = server_environment(REDIS_URL=redis.url)
        with (
            server_process(workers=1, extra_env=env) as server,
            httpx.Client(base_url=server.base, timeout=15) as http,
        ):

            async def socket_before_and_after_the_stop():
                async with _socket(server.base, room.code, leader_key) as socket:
                    assert '"snapshot"' in await asyncio.wait_for(socket.recv(), 10)
                    redis.stop()
                    await socket.send(json.dumps({"type": "heartbeat", "ref": "h1"}))
                    return await _close_code(socket)

            assert (
                http.get(f"/api/v1/rooms/{room.code}/presence/", headers=headers).status_code == 200
            )
            # An open socket is closed with 1013 (live state unavailable: reconnect later).
            assert asyncio.run(socket_before_and_after_the_stop()) == CloseCode.TRY_AGAIN

            # REST keeps serving; rate limits fail open; only the live state answers 503.
            for _ in range(5):
                assert http.get("/api/v1/riders/me/", headers=headers).status_code == 200
            assert http.get(f"/api/v1/rooms/{room.code}/", headers=headers).status_code == 200
            presence = http.get(f"/api/v1/rooms/{room.code}/presence/", headers=headers)
            assert presence.status_code == 503
            assert presence.json()["error"]["code"] == "realtime_unavailable"
            assert presence.headers["Retry-After"] == "5"
            assert http.get("/readyz").json()["checks"]["redis"]["ok"] is False

            async def new_socket_while_down():
                async with _socket(server.base, room.code, leader_key) as socket:
                    return await _close_code(socket)

            assert asyncio.run(new_socket_while_down()) == CloseCode.TRY_AGAIN

            redis.start()  # the same port, empty: the live state is rebuilt as phones return
            assert _wait_for(
                lambda: (
                    http.get(f"/api/v1/rooms/{room.code}/presence/", headers=headers).status_code
                    == 200
                ),
                timeout=15,
            )
            assert http.get("/readyz").status_code == 200

            async def socket_after_restart():
                async with _socket(server.base, room.code, leader_key) as socket:
                    return json.loads(await asyncio.wait_for(socket.recv(), 10))["type"]

            assert asyncio.run(socket_after_restart()) == "snapshot"


# --- A worker killed mid-request ----------------------------------------------------------------


def _wait_for_lock_waiter(timeout: float = 15) -> None:
    with psycopg.connect(**direct_connection_params(), autocommit=True) as conn:
        assert _wait_for(
            lambda: conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()[0],
            timeout=timeout,
        ), "the join never reached PostgreSQL"


def _events(count: int) -> list[dict]:
    now = datetime.now(UTC).isoformat()
    return [
        {"client_event_id": str(uuid.uuid4()), "event_type": "connected", "occurred_at": now}
        for _ in range(count)
    ]


def test_a_worker_killed_mid_request_leaves_no_partial_rows(riders_and_ride):
    room, riders, keys, _ = riders_and_ride
    joiner, uploader = riders[0], riders[1]

    with server_process(workers=1, extra_env=server_environment()) as server:
        http = httpx.Client(base_url=server.base, timeout=30)
        results: dict[str, object] = {}

        def send(name, path, key, body=None):
            try:
                results[name] = http.post(path, headers=_auth(key), json=body)
            except httpx.HTTPError as exc:
                results[name] = exc

        # The join waits on the ride's row, locked here, inside its transaction.
        with psycopg.connect(**direct_connection_params()) as lock:
            lock.execute("SELECT 1 FROM rooms_room WHERE id = %s FOR UPDATE", [room.pk])
            requests = [
                threading.Thread(
                    target=send, args=("join", f"/api/v1/rooms/{room.code}/join/", keys[0])
                ),
                threading.Thread(
                    target=send,
                    args=("upload", "/api/v1/telemetry/events/", keys[1], {"events": _events(500)}),
                ),
            ]
            for request in requests:
                request.start()
            _wait_for_lock_waiter()
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(10)
            lock.rollback()
        for request in requests:
            request.join(30)
        http.close()

    assert isinstance(results["join"], httpx.HTTPError)
    # Nothing of a transaction the worker never committed survives it.
    assert not RoomParticipant.objects.filter(room=room, user=joiner).exists()
    stored = ConnectionLog.objects.filter(user=uploader).count()
    assert stored in (0, 500)
    room.refresh_from_db()
    _participations_consistent(room)
