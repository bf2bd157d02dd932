"""Riders coming and going on the ride socket: joins, clean closes, tunnels and their grace
period, a second socket of the same rider, and the REST side removing riders or ending the
ride."""

import asyncio
from contextlib import AsyncExitStack

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from django.conf import settings
from django.test import override_settings
from django.urls import path

from rooms.services import participant_leave, participant_remove, room_deactivate
from sessions_rt.consumers import RideConsumer
from sessions_rt.protocol import CloseCode
from sessions_rt.store.keys import rider_group
from tests.sessions_rt.test_consumer import (
    TIMEOUT,
    connect_all,
    connection_logs,
    hang_up,
    make_ride,
    member_ids,
    opened,
    receive,
    receive_close,
    socket_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

# The close code a phone's socket reports when the network vanished (no close frame).
ABNORMAL_CLOSURE = 1006


async def test_a_second_rider_joining_is_announced_to_the_first():
    ride = await make_ride(riders=2)
    leader, rider = ride.members
    async with opened(socket_for(ride.room, leader.key)) as leader_socket:
        assert (await receive(leader_socket))["type"] == "snapshot"
        async with opened(socket_for(ride.room, rider.key)) as rider_socket:
            snapshot = await receive(rider_socket)
            joined = await receive(leader_socket)

    assert member_ids(snapshot) == [leader.id, rider.id]
    assert (joined["type"], joined["rider_id"], joined["seq"]) == (
        "member_joined",
        rider.id,
        snapshot["seq"],
    )
    assert joined["payload"] == {"status": "online", "role": "rider"}


async def test_a_clean_close_is_announced_as_member_left():
    ride = await make_ride(riders=2)
    rider = ride.members[1]
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        await hang_up(rider_socket, CloseCode.CLIENT_CLOSED)
        left = await receive(leader_socket)

    assert (left["type"], left["rider_id"]) == ("member_left", rider.id)
    assert left["payload"] == {"reason": "client_closed", "role": "rider"}
    assert await connection_logs(rider.rider, ride.room) == [
        ("connected", {}),
        ("disconnected", {"reason": "client_closed"}),
    ]


async def test_a_dropped_socket_is_reconnecting_and_a_reconnect_within_grace_resumes():
    ride = await make_ride(riders=2)
    leader, rider = ride.members
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        await rider_socket.send_json_to({"type": "status", "status": "riding"})
        await receive(leader_socket)

        await hang_up(rider_socket, ABNORMAL_CLOSURE)
        dropped = await receive(leader_socket)
        assert (dropped["type"], dropped["rider_id"]) == ("presence_changed", rider.id)
        assert (dropped["payload"]["status"], dropped["payload"]["previous_status"]) == (
            "reconnecting",
            "riding",
        )

        back = await stack.enter_async_context(opened(socket_for(ride.room, rider.key)))
        snapshot = await receive(back)
        resumed = await receive(leader_socket)
        # No member_joined, no member_left: the rider never left the ride.
        assert await leader_socket.receive_nothing(timeout=0.3)

    assert (resumed["type"], resumed["rider_id"]) == ("presence_changed", rider.id)
    assert (resumed["payload"]["status"], resumed["payload"]["previous_status"]) == (
        "riding",
        "reconnecting",
    )
    assert member_ids(snapshot) == [leader.id, rider.id]
    assert [event for event, _ in await connection_logs(rider.rider, ride.room)] == [
        "connected",
        "reconnecting",
        "reconnected",
        "disconnected",
    ]


@override_settings(RECONNECT_GRACE_SECONDS=1)
async def test_a_rider_not_back_within_grace_leaves_with_timed_out():
    ride = await make_ride(riders=2)
    rider = ride.members[1]
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        await hang_up(rider_socket, ABNORMAL_CLOSURE)
        dropped = await receive(leader_socket)
        assert dropped["payload"]["status"] == "reconnecting"

        assert await leader_socket.receive_nothing(timeout=0.8)
        left = await leader_socket.receive_json_from(timeout=TIMEOUT)

    assert (left["type"], left["rider_id"]) == ("member_left", rider.id)
    assert left["payload"] == {"reason": "timed_out", "role": "rider"}
    logs = await _logs_once_settled(rider, ride.room, count=3)
    assert logs == [
        ("connected", {}),
        ("reconnecting", {}),
        ("disconnected", {"reason": "timed_out"}),
    ]


async def _logs_once_settled(member, room, *, count: int):
    """The log of the timeout is written just after member_left is sent."""
    for _ in range(20):
        logs = await connection_logs(member.rider, room)
        if len(logs) >= count:
            return logs
        await asyncio.sleep(0.05)
    return logs


async def test_a_second_socket_of_the_same_rider_replaces_the_first():
    ride = await make_ride(riders=2)
    leader, rider = ride.members
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        second = await stack.enter_async_context(opened(socket_for(ride.room, rider.key)))
        snapshot = await receive(second)

        code, messages = await receive_close(rider_socket)
        assert (code, messages) == (CloseCode.DUPLICATE_SESSION, [{"type": "session_replaced"}])
        await hang_up(rider_socket, code)
        # The rider is still in the ride on the second socket: the others see nothing.
        assert await leader_socket.receive_nothing(timeout=0.3)

        await second.send_json_to({"type": "heartbeat"})
        assert (await receive(second))["type"] == "heartbeat_ack"

    assert member_ids(snapshot) == [leader.id, rider.id]


async def test_a_late_notice_of_an_earlier_socket_does_not_close_the_one_that_replaced_it():
    """A phone that reconnects at once can subscribe to its rider group on a worker that has
    not yet read the notice its previous socket sent: the notice must not close the new one."""
    ride = await make_ride(riders=2)
    rider = ride.members[1]
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        await get_channel_layer().group_send(
            rider_group(rider.id),
            {"type": "session.replaced", "room_id": str(ride.room.pk), "channel": "specific.old"},
        )
        assert await rider_socket.receive_nothing(timeout=0.3)

        await rider_socket.send_json_to({"type": "heartbeat"})
        assert (await receive(rider_socket))["type"] == "heartbeat_ack"
        assert await leader_socket.receive_nothing(timeout=0.1)


def _kick(ride, member):
    participant_remove(room=ride.room, rider=member.rider, actor=ride.members[0].rider)


def _leave(ride, member):
    participant_leave(rider=member.rider, code=ride.room.code)


@pytest.mark.parametrize(
    ("remove", "reason", "close_code"),
    [(_kick, "kicked", CloseCode.KICKED), (_leave, "left", CloseCode.LEFT_ROOM)],
    ids=["kicked", "left"],
)
async def test_a_rider_removed_over_rest_is_closed_and_the_others_see_them_leave(
    remove, reason, close_code
):
    ride = await make_ride(riders=3)
    rider = ride.members[1]
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket, other_socket), _ = await connect_all(stack, ride)
        await database_sync_to_async(remove)(ride, rider)

        code, messages = await receive_close(rider_socket)
        await hang_up(rider_socket, code)
        left_for_leader = await receive(leader_socket)
        left_for_other = await receive(other_socket)
        assert await other_socket.receive_nothing(timeout=0.2)

    assert code == close_code
    assert messages[0] == {"type": "removed", "reason": reason}
    assert left_for_leader == left_for_other
    assert (left_for_other["type"], left_for_other["rider_id"]) == ("member_left", rider.id)
    assert left_for_other["payload"] == {"reason": reason, "role": "rider"}


async def test_ending_the_ride_closes_every_socket_with_room_closed():
    ride = await make_ride(riders=3)
    async with AsyncExitStack() as stack:
        sockets, _ = await connect_all(stack, ride)
        await database_sync_to_async(room_deactivate)(room=ride.room, actor=ride.members[0].rider)
        for socket in sockets:
            code, messages = await receive_close(socket)
            await hang_up(socket, code)
            assert (code, messages) == (CloseCode.ROOM_CLOSED, [{"type": "room_closed"}])


async def test_events_cross_between_two_application_instances_through_redis():
    """Two application instances in one process, each with a channel layer object of its own
    (so its own Redis connections and its own channel-name prefix): what one rider does on one
    reaches the rider on the other only through Redis. Separate processes are tested elsewhere.
    """
    layers = {**settings.CHANNEL_LAYERS, "second": settings.CHANNEL_LAYERS["default"]}
    with override_settings(CHANNEL_LAYERS=layers):
        first_app = URLRouter([path("ws/rooms/<str:code>/", RideConsumer.as_asgi())])
        second_app = URLRouter(
            [path("ws/rooms/<str:code>/", RideConsumer.as_asgi(channel_layer_alias="second"))]
        )
        ride = await make_ride(riders=2)
        leader, rider = ride.members
        async with AsyncExitStack() as stack:
            [leader_socket], _ = await connect_all(stack, ride, [leader], application=first_app)
            [rider_socket], _ = await connect_all(stack, ride, [rider], application=second_app)
            joined = await receive(leader_socket)

            await rider_socket.send_json_to({"type": "location", "lat": 46.5, "lon": 7.25})
            location = await receive(leader_socket)
            await leader_socket.send_json_to(
                {"type": "signal", "to": rider.id, "kind": "offer", "payload": {"sdp": "v=0"}}
            )
            signal = await receive(rider_socket)

            await hang_up(rider_socket, CloseCode.CLIENT_CLOSED)
            left = await receive(leader_socket)

    assert (joined["type"], joined["rider_id"]) == ("member_joined", rider.id)
    assert (location["rider_id"], location["lat"], location["lon"]) == (rider.id, 46.5, 7.25)
    assert (signal["type"], signal["from"], signal["kind"]) == ("signal", leader.id, "offer")
    assert (left["type"], left["rider_id"]) == ("member_left", rider.id)
