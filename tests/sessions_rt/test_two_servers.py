"""Two real server processes share one ride through PostgreSQL and Redis.

A rider on one process sees a rider on the other join, move and be kicked: the channel layer
carries every message between processes, as it does between hosts behind a load balancer.
"""

import asyncio
import json

import httpx
import pytest
import websockets
from django.conf import settings

from bench.harness import running_server
from riders.auth_tokens import token_issue
from rooms.services import participant_join, room_create
from sessions_rt.consumers import PROTOCOL
from sessions_rt.protocol import CloseCode
from tests.ops.processes import database_url_for
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_servers():
    """Two single-worker servers on the test database and the test Redis."""
    env = {
        "DATABASE_URL": database_url_for(settings.DATABASES["default"]["NAME"]),
        "REDIS_URL": settings.REDIS_URL,
        "CONVOY_KEY_PREFIX": "convoy-test-two-servers",
        "LOG_LEVEL": "WARNING",
        # Two connections each are plenty here and keep the suite's footprint small.
        "DB_POOL_SIZE": "2",
        "DB_CONNECTION_LIMIT": "4",
    }
    with (
        running_server(workers=1, extra_env=env) as first,
        running_server(workers=1, extra_env=env) as second,
    ):
        yield first, second


async def _receive(socket, wanted_type: str, rider_id=None, timeout: float = 5.0) -> dict:
    """The next message of ``wanted_type`` (about ``rider_id`` if given); others are skipped,
    such as a socket's own member_joined, which phones de-duplicate by seq."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == wanted_type and rider_id in (None, message.get("rider_id")):
                return message


def _socket(base: str, code: str, key: str):
    return websockets.connect(
        f"{base.replace('http', 'ws')}/ws/rooms/{code}/",
        subprotocols=[PROTOCOL, f"bearer.{key}"],
        open_timeout=10,
    )


@pytest.fixture
def ride():
    leader, rider = RiderFactory(), RiderFactory()
    room = room_create(creator=leader, name="Two hosts")
    participant_join(rider=rider, code=room.code)
    return room, leader, rider, token_issue(rider=leader).key, token_issue(rider=rider).key


async def test_riders_on_two_processes_see_each_other_join_move_and_be_kicked(two_servers, ride):
    first, second = two_servers
    room, _leader, rider, leader_key, rider_key = ride

    async with _socket(first, room.code, leader_key) as leader_socket:
        await _receive(leader_socket, "snapshot")
        async with _socket(second, room.code, rider_key) as rider_socket:
            await _receive(rider_socket, "snapshot")

            joined = await _receive(leader_socket, "member_joined", rider_id=str(rider.pk))
            assert joined["seq"] == 2

            await rider_socket.send(json.dumps({"type": "location", "lat": 46.5, "lon": 11.35}))
            moved = await _receive(leader_socket, "location", rider_id=str(rider.pk))
            assert (moved["rider_id"], moved["lat"], moved["lon"]) == (str(rider.pk), 46.5, 11.35)

            async with httpx.AsyncClient(base_url=first) as http:
                kicked = await http.delete(
                    f"/api/v1/rooms/{room.code}/participants/{rider.pk}/",
                    headers={"Authorization": f"Bearer {leader_key}"},
                )
            assert kicked.status_code == 204, kicked.text

            removed = await _receive(rider_socket, "removed")
            assert removed["reason"] == "kicked"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(rider_socket.recv(), 5)
            assert closed.value.rcvd.code == CloseCode.KICKED

            left = await _receive(leader_socket, "member_left", rider_id=str(rider.pk))
            assert (left["rider_id"], left["payload"]["reason"]) == (str(rider.pk), "kicked")
