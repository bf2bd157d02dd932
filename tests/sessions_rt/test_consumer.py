"""The ride socket, ws/rooms/<code>/, over the real URL router, PostgreSQL and Redis (the live
state and the channel layer): authentication and why a socket is refused.

The helpers here (a ride with tokens, a socket that is always disconnected, reading until the
close) are shared by the other test_consumer_*.py modules.
"""

import json
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import override_settings
from django.utils import timezone

from riders.auth_tokens import token_issue
from riders.models import AuthToken, Rider
from rooms.models import Room
from rooms.services import room_deactivate
from sessions_rt.consumers import PROTOCOL, websocket_urlpatterns
from sessions_rt.protocol import CloseCode
from telemetry.models import ConnectionLog
from tests.riders.factories import RiderFactory
from tests.rooms.factories import RoomFactory, RoomParticipantFactory

pytestmark = pytest.mark.django_db(transaction=True)

APPLICATION = URLRouter(websocket_urlpatterns)
# Every wait is short: a message that is coming arrives in milliseconds.
TIMEOUT = 2


@dataclass(frozen=True)
class Member:
    rider: Rider
    key: str

    @property
    def id(self) -> str:
        return str(self.rider.pk)


@dataclass(frozen=True)
class Ride:
    room: Room
    members: list[Member]


def _ride_create(riders: int) -> Ride:
    """An active room whose creator and ``riders - 1`` others are participants with tokens."""
    leader = RiderFactory()
    room = RoomFactory(creator=leader)
    everyone = [leader, *(RiderFactory() for _ in range(riders - 1))]
    for rider in everyone:
        RoomParticipantFactory(room=room, user=rider)
    return Ride(
        room=room,
        members=[Member(rider=rider, key=token_issue(rider=rider).key) for rider in everyone],
    )


async def make_ride(riders: int = 2) -> Ride:
    return await database_sync_to_async(_ride_create)(riders)


def socket_for(
    room: Room, key: str | None = None, *, application=APPLICATION
) -> WebsocketCommunicator:
    """A socket offering the protocol, and the token as a subprotocol when ``key`` is given."""
    subprotocols = [PROTOCOL, *([f"bearer.{key}"] if key is not None else [])]
    return WebsocketCommunicator(application, f"/ws/rooms/{room.code}/", subprotocols=subprotocols)


@asynccontextmanager
async def opened(socket: WebsocketCommunicator):
    """Connect ``socket``; whatever happens, it is disconnected when the block ends."""
    try:
        connected, subprotocol = await socket.connect(timeout=TIMEOUT)
        assert (connected, subprotocol) == (True, PROTOCOL)
        yield socket
    finally:
        await hang_up(socket)


async def hang_up(socket: WebsocketCommunicator, code: int = CloseCode.CLIENT_CLOSED) -> None:
    """Close from the phone's side with ``code``; a no-op once the consumer has finished (an
    exception it finished with is raised here)."""
    if socket.future.done():
        if not socket.future.cancelled():
            socket.future.result()
        return
    await socket.disconnect(code=int(code), timeout=TIMEOUT)


async def receive(socket: WebsocketCommunicator) -> dict:
    return await socket.receive_json_from(timeout=TIMEOUT)


async def receive_close(socket: WebsocketCommunicator) -> tuple[int, list[dict]]:
    """The messages the server sent until it closed the socket, and the close code."""
    messages: list[dict] = []
    while True:
        output = await socket.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            return output["code"], messages
        messages.append(json.loads(output["text"]))


async def connect_all(stack: AsyncExitStack, ride: Ride, members=None, *, application=APPLICATION):
    """Connect ``members`` (default: everyone) one after the other with subprotocol tokens.

    Returns the sockets and the snapshot each received. The member_joined events these sockets
    received (those of the ones connected after them in this call) are checked and consumed,
    so their queues are empty afterwards; sockets from an earlier call still hold the
    member_joined of these. A socket's own member_joined is in its snapshot, and never sent.
    """
    sockets: list[WebsocketCommunicator] = []
    snapshots: list[dict] = []
    for member in ride.members if members is None else members:
        socket = await stack.enter_async_context(
            opened(socket_for(ride.room, member.key, application=application))
        )
        snapshot = await receive(socket)
        assert snapshot["type"] == "snapshot"
        assert member.id in member_ids(snapshot)
        for earlier in sockets:
            event = await receive(earlier)
            assert (event["type"], event["rider_id"]) == ("member_joined", member.id)
        sockets.append(socket)
        snapshots.append(snapshot)
    return sockets, snapshots


def member_ids(snapshot: dict) -> list[str]:
    return [member["rider_id"] for member in snapshot["members"]]


@database_sync_to_async
def connection_logs(rider: Rider, room: Room) -> list[tuple[str, dict]]:
    """The ConnectionLogs the server recorded for the rider in the room, oldest first."""
    rows = ConnectionLog.objects.filter(user=rider, room=room).order_by("occurred_at", "id")
    return list(rows.values_list("event_type", "metrics"))


# --- Accepted ----------------------------------------------------------------------------------


async def test_a_subprotocol_token_is_accepted_with_a_snapshot_listing_the_rider():
    ride = await make_ride(riders=2)
    leader = ride.members[0]
    async with opened(socket_for(ride.room, leader.key)) as socket:
        snapshot = await receive(socket)

    assert snapshot["type"] == "snapshot"
    assert snapshot["room_id"] == str(ride.room.pk)
    assert member_ids(snapshot) == [leader.id]
    assert snapshot["members"][0]["role"] == "leader"
    assert snapshot["members"][0]["status"] == "online"
    assert snapshot["leader_id"] == leader.id
    assert snapshot["seq"] == 1
    assert snapshot["session_id"]


async def test_the_token_in_a_first_auth_message_is_accepted():
    ride = await make_ride(riders=2)
    rider = ride.members[1]
    async with opened(socket_for(ride.room)) as socket:
        await socket.send_json_to(
            {"type": "auth", "token": rider.key, "device": "Pixel 8", "transport": "wifi"}
        )
        snapshot = await receive(socket)
        assert snapshot["type"] == "snapshot"
        assert member_ids(snapshot) == [rider.id]

        # The next frame answers this: the socket's own member_joined, in the snapshot
        # already, is not sent again.
        await socket.send_json_to({"type": "auth", "token": rider.key, "ref": "again"})
        assert await receive(socket) == {
            "type": "error",
            "code": "already_authenticated",
            "message": "This socket is authenticated.",
            "fields": {},
            "ref": "again",
        }

    assert await connection_logs(rider.rider, ride.room) == [
        ("connected", {"network_type": "wifi"}),
        ("disconnected", {"reason": "client_closed"}),
    ]


async def test_messages_before_authentication_are_refused():
    ride = await make_ride(riders=1)
    async with opened(socket_for(ride.room)) as socket:
        await socket.send_json_to({"type": "heartbeat"})
        error = await receive(socket)
        assert (error["type"], error["code"]) == ("error", "not_authenticated")

        # Still waiting for the auth message.
        await socket.send_json_to({"type": "auth", "token": ride.members[0].key})
        assert (await receive(socket))["type"] == "snapshot"


async def test_an_auth_message_with_a_bad_device_joins_the_rider_without_it():
    """A hello field that breaks its schema is named in an error and ignored: a bug in the
    app's device string does not keep the rider out of the ride."""
    ride = await make_ride(riders=2)
    leader, rider = ride.members
    async with AsyncExitStack() as stack:
        [leader_socket], _ = await connect_all(stack, ride, [leader])
        socket = await stack.enter_async_context(opened(socket_for(ride.room)))
        await socket.send_json_to(
            {"type": "auth", "token": rider.key, "device": "x" * 500, "transport": "wifi"}
        )
        error = await receive(socket)
        snapshot = await receive(socket)
        joined = await receive(leader_socket)

    assert (error["type"], error["code"], list(error["fields"])) == (
        "error",
        "invalid_realtime_data",
        ["device"],
    )
    assert member_ids(snapshot) == [leader.id, rider.id]
    assert (joined["type"], joined["rider_id"]) == ("member_joined", rider.id)
    assert (await connection_logs(rider.rider, ride.room))[0] == (
        "connected",
        {"network_type": "wifi"},
    )


async def test_an_auth_message_with_a_malformed_since_seq_gets_an_error_then_a_snapshot():
    ride = await make_ride(riders=1)
    member = ride.members[0]
    async with opened(socket_for(ride.room)) as socket:
        await socket.send_json_to(
            {"type": "auth", "token": member.key, "since_seq": "41", "session_id": "s"}
        )
        error = await receive(socket)
        snapshot = await receive(socket)

    assert (error["type"], error["code"], list(error["fields"])) == (
        "error",
        "invalid_realtime_data",
        ["since_seq"],
    )
    assert snapshot["type"] == "snapshot"
    assert member_ids(snapshot) == [member.id]


# --- Refused -----------------------------------------------------------------------------------


@override_settings(WS_AUTH_TIMEOUT_SECONDS=1)
async def test_no_auth_message_in_time_closes_4001():
    ride = await make_ride(riders=1)
    async with opened(socket_for(ride.room)) as socket:
        assert await socket.receive_nothing(timeout=0.5)
        code, messages = await receive_close(socket)
        await hang_up(socket, code)
    assert (code, messages) == (CloseCode.UNAUTHENTICATED, [])


async def test_an_auth_message_in_time_cancels_the_deadline():
    ride = await make_ride(riders=1)
    with override_settings(WS_AUTH_TIMEOUT_SECONDS=1):
        async with opened(socket_for(ride.room)) as socket:
            await socket.send_json_to({"type": "auth", "token": ride.members[0].key})
            assert (await receive(socket))["type"] == "snapshot"
            assert await socket.receive_nothing(timeout=1.3)


def _token_expire(key_owner: Rider) -> None:
    now = timezone.now()
    AuthToken.objects.filter(user=key_owner).update(
        created_at=now - timedelta(days=2), expires_at=now - timedelta(seconds=1)
    )


@pytest.mark.parametrize("how", ["unknown", "expired", "not_a_string", "first_message_unknown"])
async def test_an_invalid_or_expired_token_closes_4001(how):
    ride = await make_ride(riders=1)
    member = ride.members[0]
    if how == "expired":
        await database_sync_to_async(_token_expire)(member.rider)
    if how in ("unknown", "expired"):
        socket = socket_for(ride.room, "cvy_not-a-real-key" if how == "unknown" else member.key)
    else:
        socket = socket_for(ride.room)
    async with opened(socket):
        if how == "not_a_string":
            await socket.send_json_to({"type": "auth", "token": 12345})
        elif how == "first_message_unknown":
            await socket.send_json_to({"type": "auth", "token": "cvy_" + "x" * 43})
        code, messages = await receive_close(socket)
        await hang_up(socket, code)
    assert (code, messages) == (CloseCode.UNAUTHENTICATED, [])


def _outsider_key() -> str:
    return token_issue(rider=RiderFactory()).key


async def test_a_rider_who_is_not_an_active_participant_closes_4003():
    ride = await make_ride(riders=1)
    key = await database_sync_to_async(_outsider_key)()
    async with opened(socket_for(ride.room, key)) as socket:
        code, messages = await receive_close(socket)
        await hang_up(socket, code)
    assert (code, messages) == (CloseCode.NOT_PARTICIPANT, [])


@pytest.mark.parametrize("code", ["ZZZZZZ", "not-a-code"])
async def test_an_unknown_room_code_closes_4004(code):
    ride = await make_ride(riders=1)
    socket = WebsocketCommunicator(
        APPLICATION,
        f"/ws/rooms/{code}/",
        subprotocols=[PROTOCOL, f"bearer.{ride.members[0].key}"],
    )
    async with opened(socket):
        close_code, messages = await receive_close(socket)
        await hang_up(socket, close_code)
    assert (close_code, messages) == (CloseCode.ROOM_NOT_FOUND, [])


def _ride_end(ride: Ride) -> None:
    room_deactivate(room=ride.room, actor=ride.members[0].rider)


async def test_a_ride_that_has_ended_closes_4011():
    """Ending a ride also ends every participation, so this is not "not a participant"."""
    ride = await make_ride(riders=2)
    await database_sync_to_async(_ride_end)(ride)
    async with opened(socket_for(ride.room, ride.members[1].key)) as socket:
        code, messages = await receive_close(socket)
        await hang_up(socket, code)
    assert (code, messages) == (CloseCode.ROOM_CLOSED, [])
