"""PostgreSQL outages a phone notices only as a quick 503 (or a 1013 close) and a retry.

Real faults against a real server: a TCP proxy cut between the server and PostgreSQL (the
server looks down, connections refused and dropped), pg_terminate_backend on the server's
connections (what a failover does), a row lock that holds the worker's only HTTP thread.
Each test prints the figure it checks.
"""

import asyncio
import statistics
import threading
import time

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
from sessions_rt.sockets import retry_after_ms
from tests.ops.faults import TcpProxy
from tests.ops.processes import database_url_for, server_environment
from tests.riders.factories import RiderFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        str(settings.DATABASES["default"]["HOST"]).startswith("/"),
        reason="PostgreSQL on a unix socket: the proxy forwards TCP",
    ),
]

CONCURRENT, OUTAGE_SECONDS = 24, 15
# Every request in the outage is answered within this, however many come at once.
ANSWER_BOUND_SECONDS = 2.0
RECOVERY_BOUND_SECONDS = 8.0


@pytest.fixture
def ride():
    leader = RiderFactory()
    room = room_create(creator=leader, name="Outage ride", max_participants=50)
    riders = [RiderFactory() for _ in range(4)]
    return room, token_issue(rider=leader).key, [token_issue(rider=r).key for r in riders]


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def _through(port: int) -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgresql://{db['USER']}{password}@127.0.0.1:{port}/{db['NAME']}"


async def _timed(http: httpx.AsyncClient, method: str, path: str, **kwargs):
    started = time.monotonic()
    response = await http.request(method, path, **kwargs)
    return response, time.monotonic() - started


def test_a_database_outage_is_answered_503_at_once_and_recovers_in_seconds(ride):
    room, leader_key, _ = ride
    db = settings.DATABASES["default"]
    path = f"/api/v1/rooms/{room.code}/"

    with (
        TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)) as proxy,
        server_process(workers=1, extra_env=server_environment(_through(proxy.port))) as server,
    ):

        async def outage() -> tuple[list, float, list]:
            async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
                assert (await http.get(path, headers=_auth(leader_key))).status_code == 200
                proxy.cut()
                cut_at = time.monotonic()
                answers, readiness = [], []
                # Waves of concurrent requests through the whole outage, the first at once.
                while time.monotonic() - cut_at < OUTAGE_SECONDS:
                    wave = await asyncio.gather(
                        *(
                            _timed(http, "GET", path, headers=_auth(leader_key))
                            for _ in range(CONCURRENT)
                        ),
                        _timed(http, "GET", "/readyz"),
                    )
                    answers.extend(wave[:-1])
                    readiness.append(wave[-1])
                    await asyncio.sleep(2)
                proxy.restore()
                restored_at = time.monotonic()
                while (await http.get(path, headers=_auth(leader_key))).status_code != 200:
                    assert time.monotonic() - restored_at < 30, "never recovered"
                    await asyncio.sleep(0.2)
                recovered = time.monotonic() - restored_at
                return answers, recovered, readiness

        answers, recovered, readiness = asyncio.run(outage())
        log = server.log_text()

    waits = sorted(seconds for _, seconds in answers)
    print(
        f"\n{len(answers)} requests during a {OUTAGE_SECONDS}s outage, {CONCURRENT} at a time: "
        f"answered in max {waits[-1]:.3f}s, p95 {waits[int(len(waits) * 0.95)]:.3f}s, "
        f"median {statistics.median(waits):.3f}s (bound {ANSWER_BOUND_SECONDS}s); "
        f"recovered {recovered:.2f}s after PostgreSQL returned; "
        f"/readyz max {max(s for _, s in readiness):.3f}s"
    )
    for response, _ in answers:
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "database_unavailable"
        assert response.headers["Retry-After"] == "5"
    assert waits[-1] < ANSWER_BOUND_SECONDS
    for response, seconds in readiness:
        assert response.status_code == 503
        assert response.json()["checks"]["postgresql"]["ok"] is False
        assert seconds < ANSWER_BOUND_SECONDS
    assert recovered < RECOVERY_BOUND_SECONDS
    assert "Traceback" not in log


def test_a_socket_opened_during_an_outage_closes_at_once_with_1013_and_a_hint(ride):
    room, leader_key, _ = ride
    db = settings.DATABASES["default"]

    with (
        TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)) as proxy,
        server_process(workers=1, extra_env=server_environment(_through(proxy.port))) as server,
    ):
        assert httpx.get(f"{server.base}/readyz", timeout=10).status_code == 200

        async def socket_in_the_outage(delay: float) -> tuple[int, str, float]:
            await asyncio.sleep(delay)
            started = time.monotonic()
            async with websockets.connect(
                f"{server.base.replace('http', 'ws')}/ws/rooms/{room.code}/",
                subprotocols=[PROTOCOL, f"bearer.{leader_key}"],
                open_timeout=10,
            ) as socket:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(socket.recv(), 15)
            assert closed.value.rcvd is not None, "dropped without a close frame"
            return closed.value.rcvd.code, closed.value.rcvd.reason, time.monotonic() - started

        proxy.cut()

        # The first socket meets the pool's dropped connections, the later ones the breaker.
        async def sockets() -> list[tuple[int, str, float]]:
            return await asyncio.wait_for(
                asyncio.gather(*(socket_in_the_outage(delay) for delay in (0, 2, 2, 2, 5))), 60
            )

        closes = asyncio.run(sockets())
        proxy.restore()
        log = server.log_text()

    print(
        "\nsockets opened during the outage closed after "
        + ", ".join(f"{seconds:.3f}s ({code})" for code, _, seconds in closes)
    )
    for code, reason, seconds in closes:
        assert code == CloseCode.TRY_AGAIN
        assert reason.startswith("database unavailable; retry_after_ms=")
        assert retry_after_ms(reason) >= 1000
        assert seconds < ANSWER_BOUND_SECONDS
    assert "PoolTimeout" not in log
    assert "Traceback" not in log


APP_NAME = "convoy-failover"


def _terminate_backends() -> int:
    with psycopg.connect(**direct_connection_params(), autocommit=True) as conn:
        return len(
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = %s",
                [APP_NAME],
            ).fetchall()
        )


P95_BOUND_SECONDS = 0.5


def test_after_terminated_backends_requests_do_not_wait_and_readyz_tells_the_truth(ride):
    room, leader_key, keys = ride
    env = server_environment(
        database_url_for(settings.DATABASES["default"]["NAME"], application_name=APP_NAME),
        DB_POOL_SIZE="4",
    )
    path = f"/api/v1/rooms/{room.code}/"

    with server_process(workers=1, extra_env=env) as server:

        async def load() -> tuple[list[float], list[int], int]:
            latencies: list[float] = []
            statuses: list[int] = []
            async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
                # Every pooled connection is in use once, then idle in the pool.
                await asyncio.gather(
                    *(http.get(path, headers=_auth(key)) for key in [leader_key, *keys] * 2)
                )
                deadline = time.monotonic() + 6

                async def rider(key: str) -> None:
                    while time.monotonic() < deadline:
                        response, seconds = await _timed(http, "GET", path, headers=_auth(key))
                        latencies.append(seconds)
                        statuses.append(response.status_code)

                async def failovers() -> int:
                    terminated = 0
                    for _ in range(3):
                        await asyncio.sleep(1.5)
                        terminated += await asyncio.to_thread(_terminate_backends)
                    return terminated

                *_, terminated = await asyncio.gather(
                    *(rider(key) for key in [leader_key, *keys]), failovers()
                )
            return latencies, statuses, terminated

        latencies, statuses, terminated = asyncio.run(load())

        # An idle server: every pooled connection dropped, then one request after another.
        _terminate_backends()
        sequential = []
        with httpx.Client(base_url=server.base, timeout=30) as http:
            ready = http.get("/readyz")
            for _ in range(3):
                started = time.monotonic()
                sequential.append(
                    (http.get(path, headers=_auth(leader_key)), time.monotonic() - started)
                )
        log = server.log_text()

    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95)]
    print(
        f"\n{len(latencies)} requests under load, {terminated} backends terminated in 3 waves: "
        f"p95 {p95:.3f}s, max {latencies[-1]:.3f}s (bound p95 {P95_BOUND_SECONDS}s), "
        f"503s {statuses.count(503)}; idle after termination: "
        + ", ".join(f"{r.status_code} in {s:.3f}s" for r, s in sequential)
        + f"; /readyz {ready.status_code}"
    )
    assert terminated > 0
    assert set(statuses) <= {200, 503}
    assert p95 < P95_BOUND_SECONDS
    assert ready.status_code == 200, ready.text
    for response, seconds in sequential:
        assert response.status_code == 200
        assert seconds < P95_BOUND_SECONDS
    assert "Traceback" not in log


def _wait_for_lock_waiter(timeout: float = 15) -> None:
    with psycopg.connect(**direct_connection_params(), autocommit=True) as conn:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the join never reached PostgreSQL")


def test_a_join_queued_past_the_limit_is_answered_503_and_never_runs(ride):
    room, _, keys = ride
    env = server_environment(HTTP_THREADS_PER_WORKER="1", HTTP_QUEUE_TIMEOUT_SECONDS="2")
    joiner, queued = keys[0], keys[1]

    with server_process(workers=1, extra_env=env) as server:
        http = httpx.Client(base_url=server.base, timeout=30)
        results: dict[str, tuple[httpx.Response, float]] = {}

        def post(name: str, key: str) -> None:
            started = time.monotonic()
            response = http.post(f"/api/v1/rooms/{room.code}/join/", headers=_auth(key))
            results[name] = (response, time.monotonic() - started)

        # The worker's one thread waits on the ride's row, locked here; the second join
        # queues behind it for longer than HTTP_QUEUE_TIMEOUT_SECONDS.
        with psycopg.connect(**direct_connection_params()) as lock:
            lock.execute("SELECT 1 FROM rooms_room WHERE id = %s FOR UPDATE", [room.pk])
            first = threading.Thread(target=post, args=("first", joiner))
            first.start()
            _wait_for_lock_waiter()
            second = threading.Thread(target=post, args=("queued", queued))
            second.start()
            time.sleep(3)
            lock.rollback()
        first.join(20)
        second.join(20)
        # Once the thread is free, a new request runs as usual.
        again = http.post(f"/api/v1/rooms/{room.code}/join/", headers=_auth(queued))
        http.close()

    response, seconds = results["queued"]
    print(f"\na join queued {seconds:.2f}s (limit 2s): {response.status_code}")
    assert results["first"][0].status_code == 200
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "request_expired"
    assert response.headers["Retry-After"] == "2"
    assert again.status_code == 200, again.text
    assert RoomParticipant.objects.filter(room=room, is_active=True).count() == 3
