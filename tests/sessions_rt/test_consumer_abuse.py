"""What the ride socket does with bad input, floods, and a Redis it cannot reach."""

import json
import math
from contextlib import AsyncExitStack

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import override_settings

from config import redis_config
from rooms.models import RoomParticipant
from sessions_rt.protocol import CloseCode
from tests.sessions_rt.test_consumer import (
    connect_all,
    hang_up,
    make_ride,
    member_ids,
    opened,
    receive,
    receive_close,
    socket_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

# Port 1 on the loopback: nothing listens, so every connection is refused at once.
UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"


async def _assert_still_open(socket) -> None:
    await socket.send_json_to({"type": "heartbeat", "ref": "still-there"})
    assert await receive(socket) == {"type": "heartbeat_ack", "ref": "still-there"}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "invalid_json"),
        ("[" * 30_000, "invalid_json"),  # deeper than Python's recursion limit
        ('{"type": "heartbeat", "ref": Infinity}', "invalid_json"),
        ('{"type": "heartbeat", "ref": 1e999}', "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ('{"type": 7}', "invalid_message"),
        ('{"type": "teleport"}', "unknown_type"),
    ],
    ids=[
        "not_json",
        "deeply_nested",
        "infinity",
        "overflowing_float",
        "array",
        "type_not_text",
        "unknown_type",
    ],
)
async def test_a_bad_frame_gets_an_error_and_the_socket_stays_open(frame, code):
    ride = await make_ride(riders=1)
    async with AsyncExitStack() as stack:
        [socket], _ = await connect_all(stack, ride)
        await socket.send_to(text_data=frame)
        error = await receive(socket)
        assert (error["type"], error["code"]) == ("error", code)
        await _assert_still_open(socket)


async def test_a_binary_frame_gets_an_error():
    ride = await make_ride(riders=1)
    async with AsyncExitStack() as stack:
        [socket], _ = await connect_all(stack, ride)
        await socket.send_to(bytes_data=b"\x00\x01")
        assert (await receive(socket))["code"] == "binary_not_supported"
        await _assert_still_open(socket)


async def test_a_one_megabyte_frame_closes_1009():
    ride = await make_ride(riders=1)
    async with AsyncExitStack() as stack:
        [socket], _ = await connect_all(stack, ride)
        frame = json.dumps({"type": "heartbeat", "ref": "x" * 1_048_576})
        await socket.send_to(text_data=frame)
        code, messages = await receive_close(socket)
        await hang_up(socket, code)
    assert (code, messages) == (CloseCode.MESSAGE_TOO_BIG, [])


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ('{"type": "location", "lat": 95, "lon": 7}', "lat"),
        ('{"type": "location", "lat": 45, "lon": 200}', "lon"),
        ('{"type": "location", "lat": "45", "lon": 7}', "lat"),
        ('{"type": "location", "lat": 45, "lon": 7, "speed_kmh": -3}', "speed_kmh"),
    ],
    ids=["lat_95", "lon_200", "lat_text", "negative_speed"],
)
async def test_an_impossible_position_is_refused_and_not_broadcast(frame, field):
    ride = await make_ride(riders=2)
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        await rider_socket.send_to(text_data=frame)
        error = await receive(rider_socket)
        assert (error["type"], error["code"]) == ("error", "invalid_realtime_data")
        assert field in error["fields"]
        assert await leader_socket.receive_nothing(timeout=0.3)
        await _assert_still_open(rider_socket)


async def test_nan_is_refused_and_never_reaches_another_phone():
    """Python's json reads NaN; phones' JSON parsers do not, so it must not be relayed."""
    ride = await make_ride(riders=2)
    leader, _ = ride.members
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        # json.dumps writes a float NaN as the bare NaN that json.loads reads back.
        location = {"type": "location", "lat": 45.0, "lon": 7.0, "speed_kmh": math.nan}
        await rider_socket.send_to(text_data=json.dumps(location))
        assert (await receive(rider_socket))["type"] == "error"
        signal = {
            "type": "signal",
            "to": leader.id,
            "kind": "candidate",
            "payload": {"x": math.nan},
        }
        await rider_socket.send_to(text_data=json.dumps(signal))
        assert (await receive(rider_socket))["type"] == "error"
        assert await leader_socket.receive_nothing(timeout=0.3)
        await _assert_still_open(rider_socket)


async def test_a_flood_is_answered_then_closed_4008_and_the_flooder_leaves_the_ride():
    ride = await make_ride(riders=2)
    async with AsyncExitStack() as stack:
        (leader_socket, flooder), _ = await connect_all(stack, ride)
        for _ in range(1_000):
            await flooder.send_to(text_data='{"type": "heartbeat"}')
        code, messages = await receive_close(flooder)
        await hang_up(flooder, code)

        # A flood is a bug of the app, not a tunnel: the flooder leaves at once, and the
        # leader is served as before.
        left = await receive(leader_socket)
        assert (left["type"], left["payload"]["reason"]) == ("member_left", "protocol_error")
        await _assert_still_open(leader_socket)

    kinds = {(message["type"], message.get("code")) for message in messages}
    assert kinds == {("heartbeat_ack", None), ("error", "rate_limited")}
    acks = [message for message in messages if message["type"] == "heartbeat_ack"]
    # The burst, plus what refilled while it was served: far fewer than were sent.
    assert settings.WS_MESSAGE_BURST <= len(acks) < 200
    assert code == CloseCode.RATE_LIMITED


def _participants(room) -> list[tuple]:
    rows = RoomParticipant.objects.filter(room=room).order_by("user_id")
    return list(rows.values_list("user_id", "is_active", "joined_at", "left_at"))


async def test_an_unreachable_redis_closes_1013_and_leaves_postgresql_alone():
    """Django rebuilds its cache handlers when CACHES changes (override_settings), and
    django_redis keeps one connection pool per URL, so the socket's state calls go to the
    unreachable URL and, afterwards, back to the real one."""
    ride = await make_ride(riders=2)
    rider = ride.members[1]
    before = await database_sync_to_async(_participants)(ride.room)
    unreachable = redis_config.cache_settings(UNREACHABLE_REDIS_URL, settings.CONVOY_KEY_PREFIX)
    with override_settings(CACHES=unreachable):
        async with opened(socket_for(ride.room, rider.key)) as socket:
            code, messages = await receive_close(socket)
            # The phone reports the close; its disconnect cannot reach Redis either.
            await hang_up(socket, code)
    after = await database_sync_to_async(_participants)(ride.room)

    assert (code, messages) == (CloseCode.TRY_AGAIN, [])
    assert after == before
    async with opened(socket_for(ride.room, rider.key)) as socket:
        snapshot = await receive(socket)
    assert member_ids(snapshot) == [rider.id]
