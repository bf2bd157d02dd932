"""A deactivated rider's phone is told `deactivated`, not `kicked`: its socket gets `removed`
with that reason and closes with 4014, the ride sees member_left with the same reason, and the
revoked token cannot open a new socket."""

import asyncio
import json
import uuid
from contextlib import AsyncExitStack

import pytest
import websockets
from channels.db import database_sync_to_async

from config.redis_config import redis_client
from riders.auth_tokens import token_issue
from rooms.services import participant_join, participant_remove, rider_deactivate, room_create
from sessions_rt.consumers import PROTOCOL
from sessions_rt.protocol import CloseCode
from sessions_rt.store import keys
from tests.riders.factories import RiderFactory
from tests.sessions_rt.conftest import delete_keys
from tests.sessions_rt.test_consumer import (
    TIMEOUT,
    connect_all,
    hang_up,
    make_ride,
    receive,
    receive_close,
    socket_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def isolated_redis_prefix(settings):
    settings.CONVOY_KEY_PREFIX = f"convoy-deactivation-test-{uuid.uuid4().hex[:12]}"
    yield
    delete_keys(redis_client(), f"{keys.key_prefix()}:*")


async def test_a_deactivated_riders_phone_is_told_deactivated():
    ride = await make_ride(riders=3)
    moderator = await database_sync_to_async(RiderFactory)(is_staff=True)
    leaving = ride.members[1]
    async with AsyncExitStack() as stack:
        (leader_socket, leaving_socket, other_socket), _ = await connect_all(stack, ride)

        await database_sync_to_async(rider_deactivate)(
            rider=leaving.rider, actor=moderator, reason="Abusive on the channel"
        )

        code, messages = await receive_close(leaving_socket)
        await hang_up(leaving_socket, code)
        left_for_leader = await receive(leader_socket)
        left_for_other = await receive(other_socket)
        refused = socket_for(ride.room, leaving.key)
        connected, _ = await refused.connect(timeout=TIMEOUT)
        if connected:
            closed = await refused.receive_output(timeout=TIMEOUT)
            assert (closed["type"], closed["code"]) == (
                "websocket.close",
                CloseCode.UNAUTHENTICATED,
            )
        await hang_up(refused)

    assert (code, messages) == (
        CloseCode.DEACTIVATED,
        [{"type": "removed", "reason": "deactivated"}],
    )
    assert left_for_leader == left_for_other
    assert (left_for_other["type"], left_for_other["rider_id"]) == ("member_left", leaving.id)
    assert left_for_other["payload"] == {"reason": "deactivated", "role": "rider"}


async def test_a_removal_by_the_leader_is_still_kicked():
    ride = await make_ride(riders=2)
    removed = ride.members[1]
    async with AsyncExitStack() as stack:
        (_, removed_socket), _ = await connect_all(stack, ride)
        await database_sync_to_async(participant_remove)(
            room=ride.room, rider=removed.rider, actor=ride.members[0].rider
        )
        code, messages = await receive_close(removed_socket)
        await hang_up(removed_socket, code)

    assert (code, messages) == (CloseCode.KICKED, [{"type": "removed", "reason": "kicked"}])


async def _frames_until_closed(socket) -> tuple[list[dict], int | None]:
    frames: list[dict] = []
    try:
        async with asyncio.timeout(5):
            while True:
                frames.append(json.loads(await socket.recv()))
    except websockets.ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None


async def test_a_phone_on_a_live_server_is_told_deactivated(live_server_url):
    """The same through a real server process and a websockets client: the deactivation is
    committed here, the live server's socket hears it through Redis."""

    def setup():
        leader, rider = RiderFactory(), RiderFactory()
        room = room_create(creator=leader, name="Live deactivation")
        participant_join(rider=rider, code=room.code)
        return room, rider, token_issue(rider=rider).key, RiderFactory(is_staff=True)

    room, rider, key, moderator = await database_sync_to_async(setup)()
    url = f"{live_server_url.replace('http', 'ws')}/ws/rooms/{room.code}/"
    async with websockets.connect(
        url, subprotocols=[PROTOCOL, f"bearer.{key}"], open_timeout=10
    ) as phone:
        async with asyncio.timeout(5):
            while json.loads(await phone.recv())["type"] != "snapshot":
                pass
        await database_sync_to_async(rider_deactivate)(
            rider=rider, actor=moderator, reason="Abusive on the channel"
        )
        frames, code = await _frames_until_closed(phone)

    assert {"type": "removed", "reason": "deactivated"} in frames
    assert code == CloseCode.DEACTIVATED
