"""Each message a phone sends on the ride socket, and what the other riders receive."""

import asyncio
import json
import time
from contextlib import AsyncExitStack

import pytest
from asgiref.sync import sync_to_async

from config.redis_config import redis_client
from sessions_rt.store import keys
from tests.sessions_rt.test_consumer import (
    connect_all,
    connection_logs,
    make_ride,
    opened,
    receive,
    socket_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

# How long the test keeps the database thread busy; every answer must come well within it.
BUSY_SECONDS = 3

OFFER = {"sdp": "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n", "type": "offer"}


async def test_a_heartbeat_is_acknowledged_with_its_ref():
    ride = await make_ride(riders=1)
    async with AsyncExitStack() as stack:
        [socket], _ = await connect_all(stack, ride)
        await socket.send_json_to({"type": "heartbeat", "ref": "hb-1"})
        assert await receive(socket) == {"type": "heartbeat_ack", "ref": "hb-1"}


async def test_a_status_reaches_the_other_rider_as_presence_changed():
    ride = await make_ride(riders=2)
    rider = ride.members[1]
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        await rider_socket.send_json_to(
            {"type": "status", "status": "riding", "battery_pct": 81, "network_type": "cellular"}
        )
        event = await receive(leader_socket)
        # The sender gets the same event: every socket of the room does.
        assert await receive(rider_socket) == event

    assert (event["type"], event["rider_id"]) == ("presence_changed", rider.id)
    assert event["payload"] == {
        "status": "riding",
        "previous_status": "online",
        "battery_pct": 81,
        "network_type": "cellular",
    }


async def test_a_status_only_the_server_sets_is_refused():
    ride = await make_ride(riders=2)
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        await rider_socket.send_json_to({"type": "status", "status": "reconnecting", "ref": 7})
        error = await receive(rider_socket)
        assert (error["type"], error["code"], error["ref"]) == ("error", "invalid_realtime_data", 7)
        assert "status" in error["fields"]
        assert await leader_socket.receive_nothing(timeout=0.3)


async def test_a_location_reaches_the_other_riders_and_not_the_sender():
    ride = await make_ride(riders=2)
    rider = ride.members[1]
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        await rider_socket.send_json_to(
            {
                "type": "location",
                "lat": 45.9237,
                "lon": 6.8694,
                "speed_kmh": 62.5,
                "heading_deg": 90,
            }
        )
        location = await receive(leader_socket)
        # Its phone knows where it is: one frame a second less on a metered connection.
        assert await rider_socket.receive_nothing(timeout=0.3)

    assert location["type"] == "location"
    assert location["rider_id"] == rider.id
    assert (location["lat"], location["lon"]) == (45.9237, 6.8694)
    assert (location["speed_kmh"], location["heading_deg"]) == (62.5, 90)
    assert location["at"].endswith("Z")


async def test_a_connection_state_reaches_the_other_rider_as_connection_changed():
    ride = await make_ride(riders=2)
    leader, rider = ride.members
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        await rider_socket.send_json_to(
            {"type": "connection_state", "peer_id": leader.id, "state": "connecting"}
        )
        event = await receive(leader_socket)
        assert (event["type"], event["rider_id"]) == ("connection_changed", rider.id)
        assert event["payload"] == {
            "peer_id": leader.id,
            "state": "connecting",
            "ice_state": None,
            "previous_state": None,
        }
        assert await receive(rider_socket) == event

        await rider_socket.send_json_to(
            {
                "type": "connection_state",
                "peer_id": leader.id,
                "state": "failed",
                "ice_state": "failed",
            }
        )
        failed = await receive(leader_socket)
        assert (failed["payload"]["state"], failed["payload"]["previous_state"]) == (
            "failed",
            "connecting",
        )
        await receive(rider_socket)

    logs = await connection_logs(rider.rider, ride.room)
    assert ("ice_failed", {"ice_state": "failed"}) in logs


async def test_a_signal_is_relayed_to_the_addressed_rider_only():
    ride = await make_ride(riders=3)
    alice, bob, _ = ride.members
    async with AsyncExitStack() as stack:
        (alice_socket, bob_socket, carol_socket), _ = await connect_all(stack, ride)
        await alice_socket.send_json_to(
            {"type": "signal", "to": bob.id, "kind": "offer", "payload": OFFER}
        )
        assert await receive(bob_socket) == {
            "type": "signal",
            "from": alice.id,
            "kind": "offer",
            "payload": OFFER,
        }
        assert await carol_socket.receive_nothing(timeout=0.3)
        assert await alice_socket.receive_nothing(timeout=0.1)


async def test_a_signal_to_a_rider_who_is_not_live_in_the_room_is_refused():
    """Bob is a participant whose phone is not connected; Dave is live in another ride."""
    ride = await make_ride(riders=3)
    other_ride = await make_ride(riders=1)
    alice, bob, carol = ride.members
    [dave] = other_ride.members
    async with AsyncExitStack() as stack:
        (alice_socket, carol_socket), _ = await connect_all(stack, ride, [alice, carol])
        [dave_socket], _ = await connect_all(stack, other_ride)
        for to in (bob.id, dave.id):
            await alice_socket.send_json_to(
                {"type": "signal", "to": to, "kind": "offer", "payload": OFFER, "ref": to}
            )
            error = await receive(alice_socket)
            assert (error["type"], error["code"], error["ref"]) == ("error", "not_live_member", to)
            assert list(error["fields"]) == ["to"]
        assert await dave_socket.receive_nothing(timeout=0.3)
        assert await carol_socket.receive_nothing(timeout=0.1)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda sender: {"kind": "renegotiate"}, "kind"),
        (lambda sender: {"to": sender.id}, "to"),
        (lambda sender: {"to": sender.id.upper()}, "to"),
        (lambda sender: {"payload": {"sdp": "x" * 20_000}}, "payload"),
        # 5,500 three-byte characters: under the limit in characters, over it in bytes.
        (lambda sender: {"payload": {"sdp": "€" * 5_500}}, "payload"),
        (lambda sender: {"to": "not-a-uuid"}, "to"),
        (lambda sender: {"payload": "v=0"}, "payload"),
    ],
    ids=[
        "unknown_kind",
        "to_self",
        "to_self_in_capitals",
        "payload_too_big",
        "payload_too_big_in_bytes",
        "to_not_a_uuid",
        "payload_not_an_object",
    ],
)
async def test_a_malformed_signal_is_refused_naming_the_field(change, field):
    ride = await make_ride(riders=2)
    alice, bob = ride.members
    async with AsyncExitStack() as stack:
        (alice_socket, bob_socket), _ = await connect_all(stack, ride)
        signal = {"type": "signal", "to": bob.id, "kind": "offer", "payload": OFFER}
        frame = {**signal, **change(alice), "ref": "s1"}
        await alice_socket.send_to(text_data=json.dumps(frame, ensure_ascii=False))
        error = await receive(alice_socket)
        assert (error["type"], error["code"], list(error["fields"]), error["ref"]) == (
            "error",
            "invalid_realtime_data",
            [field],
            "s1",
        )
        assert await bob_socket.receive_nothing(timeout=0.3)
        assert await alice_socket.receive_nothing(timeout=0.1)


async def test_sync_returns_exactly_the_events_missed_since_the_snapshot():
    ride = await make_ride(riders=2)
    leader, rider = ride.members
    async with AsyncExitStack() as stack:
        [leader_socket], [snapshot] = await connect_all(stack, ride, [leader])
        [rider_socket], _ = await connect_all(stack, ride, [rider])
        await rider_socket.send_json_to({"type": "status", "status": "paused"})
        await rider_socket.send_json_to({"type": "status", "status": "riding"})
        # What the leader's phone saw live; say it lost them (a socket that stalled).
        seen_live = [await receive(leader_socket) for _ in range(3)]

        await leader_socket.send_json_to(
            {"type": "sync", "since_seq": snapshot["seq"], "session_id": snapshot["session_id"]}
        )
        caught_up = await receive(leader_socket)

    assert caught_up == {"type": "events", "events": seen_live}
    assert [(event["type"], event["rider_id"], event["seq"]) for event in seen_live] == [
        ("member_joined", rider.id, snapshot["seq"] + 1),
        ("presence_changed", rider.id, snapshot["seq"] + 2),
        ("presence_changed", rider.id, snapshot["seq"] + 3),
    ]


async def test_sync_from_another_session_gets_a_snapshot():
    ride = await make_ride(riders=1)
    async with AsyncExitStack() as stack:
        [socket], [snapshot] = await connect_all(stack, ride)
        await socket.send_json_to({"type": "sync", "since_seq": 0, "session_id": "an-old-session"})
        fresh = await receive(socket)
        await socket.send_json_to({"type": "sync", "since_seq": -1, "session_id": "x"})
        error = await receive(socket)

    assert fresh["type"] == "snapshot"
    assert (fresh["session_id"], fresh["seq"]) == (snapshot["session_id"], snapshot["seq"])
    assert (error["type"], error["code"]) == ("error", "invalid_realtime_data")


async def test_an_auth_message_can_ask_for_the_events_since_a_seq():
    """A phone coming back on a new socket sends its last seq instead of taking a snapshot."""
    ride = await make_ride(riders=2)
    leader, rider = ride.members
    async with AsyncExitStack() as stack:
        [leader_socket], [snapshot] = await connect_all(stack, ride, [leader])
        [rider_socket], _ = await connect_all(stack, ride, [rider])
        await rider_socket.send_json_to({"type": "status", "status": "riding"})
        seen_live = [await receive(leader_socket) for _ in range(2)]

        # The leader's second socket replaces the first (see the lifecycle tests).
        again = await stack.enter_async_context(opened(socket_for(ride.room)))
        await again.send_json_to(
            {
                "type": "auth",
                "token": leader.key,
                "since_seq": snapshot["seq"],
                "session_id": snapshot["session_id"],
            }
        )
        caught_up = await receive(again)

    assert caught_up == {"type": "events", "events": seen_live}
    assert [(event["type"], event["rider_id"]) for event in seen_live] == [
        ("member_joined", rider.id),
        ("presence_changed", rider.id),
    ]


async def test_heartbeats_and_positions_never_wait_for_the_database_thread():
    """The one thread that runs ORM calls may be busy (a slow query); a ride socket's
    heartbeats and the fan-out of positions go on without it."""
    ride = await make_ride(riders=2)
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        database_thread_busy = asyncio.ensure_future(sync_to_async(time.sleep)(BUSY_SECONDS))
        try:
            await rider_socket.send_json_to({"type": "heartbeat", "ref": "hb"})
            ack = await rider_socket.receive_json_from(timeout=BUSY_SECONDS / 3)
            await rider_socket.send_json_to({"type": "location", "lat": 45.5, "lon": 6.9})
            location = await leader_socket.receive_json_from(timeout=BUSY_SECONDS / 3)
            assert not database_thread_busy.done()
        finally:
            await database_thread_busy

    assert ack == {"type": "heartbeat_ack", "ref": "hb"}
    assert (location["type"], location["rider_id"]) == ("location", ride.members[1].id)


def _last_seen_ms(ride, member) -> float | None:
    redis = redis_client()
    return redis.zscore(keys.room_keys(str(ride.room.pk)).last_seen, member.id)


async def test_a_heartbeat_soon_after_a_position_is_acknowledged_without_a_redis_write(settings):
    settings.WS_HEARTBEAT_REFRESH_SECONDS = 30
    ride = await make_ride(riders=2)
    member = ride.members[1]
    async with AsyncExitStack() as stack:
        (leader_socket, socket), _ = await connect_all(stack, ride)
        await socket.send_json_to({"type": "location", "lat": 45.5, "lon": 6.9})
        assert (await receive(leader_socket))["type"] == "location"  # stored by now
        seen = await sync_to_async(_last_seen_ms)(ride, member)
        await asyncio.sleep(0.05)

        await socket.send_json_to({"type": "heartbeat", "ref": "hb"})
        assert await receive(socket) == {"type": "heartbeat_ack", "ref": "hb"}
        assert await sync_to_async(_last_seen_ms)(ride, member) == seen


async def test_with_no_refresh_interval_every_heartbeat_marks_the_rider_seen(settings):
    settings.WS_HEARTBEAT_REFRESH_SECONDS = 0
    ride = await make_ride(riders=1)
    [member] = ride.members
    async with AsyncExitStack() as stack:
        [socket], _ = await connect_all(stack, ride)
        seen = []
        for ref in ("hb-1", "hb-2"):
            await asyncio.sleep(0.05)
            await socket.send_json_to({"type": "heartbeat", "ref": ref})
            assert await receive(socket) == {"type": "heartbeat_ack", "ref": ref}
            seen.append(await sync_to_async(_last_seen_ms)(ride, member))

    assert seen[0] < seen[1]
