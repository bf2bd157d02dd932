"""The ride sees a deleted account leave: its socket is told why and closed, the others see
member_left with reason account_deleted, and nothing of the rider stays in the live state."""

import uuid
from contextlib import AsyncExitStack

import pytest
from channels.db import database_sync_to_async

from config.redis_config import redis_client
from sessions_rt.protocol import CloseCode
from sessions_rt.selectors import live_room_snapshot
from sessions_rt.store import keys
from telemetry.account_deletion import account_delete_own
from tests.riders.factories import TEST_PASSWORD, RiderFactory
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
    settings.CONVOY_KEY_PREFIX = f"convoy-deletion-test-{uuid.uuid4().hex[:12]}"
    yield
    delete_keys(redis_client(), f"{keys.key_prefix()}:*")


def _live_keys_naming(rider_id: str) -> list[str]:
    """Every live-state key of this test holding the rider (as a member, a position, a link
    or a connection record: in the key, or among a hash's, set's or zset's members), but the
    ride's event log, whose member_left says who left."""
    redis = redis_client()
    read = {
        "hash": redis.hkeys,
        "set": redis.smembers,
        "zset": lambda key: redis.zrange(key, 0, -1),
        "string": lambda key: [redis.get(key) or b""],
    }
    found = []
    for raw in redis.scan_iter(match=f"{keys.key_prefix()}:*"):
        key = raw.decode()
        if key.endswith(":events"):
            continue
        members = read.get(redis.type(raw).decode(), lambda key: [])(raw)
        if rider_id in key or any(rider_id.encode() in member for member in members):
            found.append(key)
    return found


async def test_the_others_see_member_left_with_account_deleted():
    ride = await make_ride(riders=3)
    leaving = ride.members[1]
    async with AsyncExitStack() as stack:
        (leader_socket, leaving_socket, other_socket), _ = await connect_all(stack, ride)
        await leaving_socket.send_json_to(
            {"type": "location", "lat": 46.5, "lon": 11.3, "speed_kmh": 40, "heading_deg": 90}
        )
        # The others get the position (its sender gets no copy of its own).
        for socket in (leader_socket, other_socket):
            assert (await receive(socket))["type"] == "location"

        await database_sync_to_async(account_delete_own)(
            rider=leaving.rider, password=TEST_PASSWORD
        )

        code, messages = await receive_close(leaving_socket)
        await hang_up(leaving_socket, code)
        left_for_leader = await receive(leader_socket)
        left_for_other = await receive(other_socket)
        assert await other_socket.receive_nothing(timeout=0.2)
        snapshot = await database_sync_to_async(live_room_snapshot)(room=ride.room)
        # The token died with the account: the phone cannot come back.
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
        CloseCode.LEFT_ROOM,
        [{"type": "removed", "reason": "account_deleted"}],
    )
    assert left_for_leader == left_for_other
    assert (left_for_other["type"], left_for_other["rider_id"]) == ("member_left", leaving.id)
    assert left_for_other["payload"] == {"reason": "account_deleted", "role": "rider"}
    assert [member["rider_id"] for member in snapshot["members"]] == [
        ride.members[0].id,
        ride.members[2].id,
    ]
    assert all(position["rider_id"] != leaving.id for position in snapshot.get("positions", []))
    assert _live_keys_naming(leaving.id) == []


async def test_deleting_an_account_in_no_ride_touches_no_ride():
    ride = await make_ride(riders=2)
    bystander = await database_sync_to_async(RiderFactory)()
    async with AsyncExitStack() as stack:
        sockets, _ = await connect_all(stack, ride)
        await database_sync_to_async(account_delete_own)(rider=bystander, password=TEST_PASSWORD)
        for socket in sockets:
            assert await socket.receive_nothing(timeout=0.3)
