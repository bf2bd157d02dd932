"""What docs/realtime.md promises phones, from the phone's side: resuming after a tunnel, the
events a socket never repeats, what a timed-out or removed rider gets, the order of
``behind``, which error each mistake gets, the frame limit in bytes, and the flood rule."""

import asyncio
import json
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework.test import APIClient

from rooms.services import participant_leave, participant_readmit, participant_remove
from sessions_rt.protocol import PROTOCOL, CloseCode
from sessions_rt.sockets import CLOSE_AFTER_DROPPED
from sessions_rt.store.expiry import cleanup_expired_sessions
from tests.sessions_rt.test_consumer import (
    APPLICATION,
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


def resuming_socket(room, key: str, snapshot: dict) -> WebsocketCommunicator:
    """A socket with the token in the handshake, resuming from ``snapshot`` through the query
    string."""
    query = f"since_seq={snapshot['seq']}&session_id={snapshot['session_id']}"
    return WebsocketCommunicator(
        APPLICATION,
        f"/ws/rooms/{room.code}/?{query}",
        subprotocols=[PROTOCOL, f"bearer.{key}"],
    )


async def _drop_and_change(ride, stack):
    """The rider's socket drops in a tunnel while the leader changes status. Returns the
    leader's socket, the snapshot the rider held, and the two events it missed."""
    leader, rider = ride.members
    (leader_socket, rider_socket), (_, held) = await connect_all(stack, ride)
    await hang_up(rider_socket, ABNORMAL_CLOSURE)
    dropped = await receive(leader_socket)
    await leader_socket.send_json_to({"type": "status", "status": "riding"})
    riding = await receive(leader_socket)
    assert (dropped["rider_id"], dropped["payload"]["status"]) == (rider.id, "reconnecting")
    assert (riding["rider_id"], riding["payload"]["status"]) == (leader.id, "riding")
    return leader_socket, held, [dropped, riding]


# --- Resuming after a tunnel -------------------------------------------------------------------


async def test_a_socket_authenticated_by_subprotocol_resumes_with_the_query_string():
    ride = await make_ride(riders=2)
    rider = ride.members[1]
    async with AsyncExitStack() as stack:
        leader_socket, held, missed = await _drop_and_change(ride, stack)

        back = await stack.enter_async_context(opened(resuming_socket(ride.room, rider.key, held)))
        caught_up = await receive(back)
        returned = await receive(leader_socket)
        # The return is in the events, and not sent a second time live.
        assert await back.receive_nothing(timeout=0.3)

    assert caught_up == {"type": "events", "events": [*missed, returned]}
    assert (returned["type"], returned["rider_id"]) == ("presence_changed", rider.id)
    assert returned["payload"]["previous_status"] == "reconnecting"


async def test_an_auth_message_resume_gets_its_own_return_once():
    ride = await make_ride(riders=2)
    rider = ride.members[1]
    async with AsyncExitStack() as stack:
        leader_socket, held, missed = await _drop_and_change(ride, stack)

        back = await stack.enter_async_context(opened(socket_for(ride.room)))
        await back.send_json_to(
            {
                "type": "auth",
                "token": rider.key,
                "since_seq": held["seq"],
                "session_id": held["session_id"],
            }
        )
        caught_up = await receive(back)
        returned = await receive(leader_socket)
        assert await back.receive_nothing(timeout=0.3)

        # Live events after the resume still come, once each.
        await leader_socket.send_json_to({"type": "status", "status": "paused"})
        paused = await receive(back)

    assert caught_up == {"type": "events", "events": [*missed, returned]}
    assert (paused["type"], paused["seq"]) == ("presence_changed", returned["seq"] + 1)


async def test_a_malformed_resume_in_the_query_string_is_named_then_a_snapshot_follows():
    ride = await make_ride(riders=1)
    [member] = ride.members
    socket = WebsocketCommunicator(
        APPLICATION,
        f"/ws/rooms/{ride.room.code}/?since_seq=forty-one&session_id=s&device=Pixel%208",
        subprotocols=[PROTOCOL, f"bearer.{member.key}"],
    )
    async with opened(socket):
        error = await receive(socket)
        snapshot = await receive(socket)

    assert (error["code"], list(error["fields"])) == ("invalid_realtime_data", ["since_seq"])
    assert (snapshot["type"], member_ids(snapshot)) == ("snapshot", [member.id])


async def test_a_socket_never_sends_the_member_joined_its_snapshot_holds():
    ride = await make_ride(riders=2)
    leader, rider = ride.members
    async with AsyncExitStack() as stack:
        [leader_socket], _ = await connect_all(stack, ride, [leader])
        rider_socket = await stack.enter_async_context(opened(socket_for(ride.room, rider.key)))
        snapshot = await receive(rider_socket)
        joined = await receive(leader_socket)
        assert await rider_socket.receive_nothing(timeout=0.3)

    assert joined["seq"] == snapshot["seq"]
    assert member_ids(snapshot) == [leader.id, rider.id]


# --- Timed out ---------------------------------------------------------------------------------


def _participants_seen_over_rest(ride) -> list[str]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ride.members[0].key}")
    response = client.get(f"/api/v1/rooms/{ride.room.code}/participants/")
    assert response.status_code == 200, response.content
    return sorted(row["rider"]["id"] for row in response.json()["results"])


def _presence_seen_over_rest(ride) -> list[str]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ride.members[0].key}")
    response = client.get(f"/api/v1/rooms/{ride.room.code}/presence/")
    assert response.status_code == 200, response.content
    return sorted(member["rider_id"] for member in response.json()["members"])


async def test_a_timed_out_rider_with_a_socket_open_is_closed_4013_and_just_connects_again(
    settings,
):
    """A phone that went quiet for PRESENCE_TTL_SECONDS is out of the live ride but still a
    participant: its open socket hears its own member_left and closes with 4013, and a new
    socket, with no REST join, brings it back."""
    ride = await make_ride(riders=2)
    leader, rider = ride.members
    everyone = sorted([leader.id, rider.id])
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        await asyncio.sleep(0.5)
        leader_seen = timezone.now()
        await leader_socket.send_json_to({"type": "heartbeat"})
        await receive(leader_socket)
        # PRESENCE_TTL_SECONDS on, as the cleanup sees it: the leader, heard from 0.5 s after
        # the rider, is still in; the quiet rider is not.
        presence_ttl = timedelta(seconds=settings.PRESENCE_TTL_SECONDS)
        cutoff = leader_seen - timedelta(seconds=0.25)
        await sync_to_async(cleanup_expired_sessions)(now=cutoff + presence_ttl)

        code, messages = await receive_close(rider_socket)
        await hang_up(rider_socket, code)
        left = await receive(leader_socket)
        during = await database_sync_to_async(_participants_seen_over_rest)(ride)
        live_during = await database_sync_to_async(_presence_seen_over_rest)(ride)

        back = await stack.enter_async_context(opened(socket_for(ride.room, rider.key)))
        snapshot = await receive(back)
        joined = await receive(leader_socket)

    assert code == CloseCode.TIMED_OUT
    assert [(m["type"], m["rider_id"], m["payload"]["reason"]) for m in messages] == [
        ("member_left", rider.id, "timed_out")
    ]
    assert left == messages[0]
    assert (during, live_during) == (everyone, [leader.id])
    assert member_ids(snapshot) == [leader.id, rider.id]
    assert (joined["type"], joined["rider_id"]) == ("member_joined", rider.id)


# --- Removed riders ----------------------------------------------------------------------------


def _kick(ride, member) -> None:
    participant_remove(room=ride.room, rider=member.rider, actor=ride.members[0].rider)


async def test_a_removed_rider_gets_4010_at_once_and_again_on_every_reconnect_until_readmitted():
    ride = await make_ride(riders=2)
    rider = ride.members[1]
    async with AsyncExitStack() as stack:
        (_, rider_socket), _ = await connect_all(stack, ride)
        await database_sync_to_async(_kick)(ride, rider)
        open_code, open_messages = await receive_close(rider_socket)
        await hang_up(rider_socket, open_code)

    async with opened(socket_for(ride.room, rider.key)) as again:
        again_code, again_messages = await receive_close(again)
        await hang_up(again, again_code)

    await database_sync_to_async(participant_readmit)(
        room=ride.room, rider=rider.rider, actor=ride.members[0].rider
    )
    async with opened(socket_for(ride.room, rider.key)) as readmitted:
        readmitted_code, _ = await receive_close(readmitted)
        await hang_up(readmitted, readmitted_code)

    assert (open_code, open_messages) == (
        CloseCode.KICKED,
        [{"type": "removed", "reason": "kicked"}],
    )
    assert (again_code, again_messages) == (CloseCode.KICKED, [])
    # Readmitted is not back in: the rider joins over REST again, like anyone outside.
    assert readmitted_code == CloseCode.NOT_PARTICIPANT


async def test_a_rider_who_left_gets_4012_then_4003_on_reconnect():
    ride = await make_ride(riders=2)
    rider = ride.members[1]
    async with AsyncExitStack() as stack:
        (_, rider_socket), _ = await connect_all(stack, ride)
        await database_sync_to_async(participant_leave)(rider=rider.rider, code=ride.room.code)
        open_code, _ = await receive_close(rider_socket)
        await hang_up(rider_socket, open_code)

    async with opened(socket_for(ride.room, rider.key)) as again:
        again_code, again_messages = await receive_close(again)
        await hang_up(again, again_code)

    assert open_code == CloseCode.LEFT_ROOM
    assert (again_code, again_messages) == (CloseCode.NOT_PARTICIPANT, [])


# --- behind ------------------------------------------------------------------------------------

# Due south along 7°E: 0.01° of latitude is 1.11 km.
LON = 7.0


async def _place(sockets, latitudes) -> None:
    for socket, lat in zip(sockets, latitudes, strict=True):
        await socket.send_json_to({"type": "location", "lat": lat, "lon": LON})
    for socket in sockets:
        for _ in latitudes[1:]:
            assert (await receive(socket))["type"] == "location"


async def test_behind_the_median_point_of_an_even_group_farthest_first_ties_by_rider_id():
    """Four riders at 45.02 (the leader), 45.00, 44.99 and 44.97: the median latitude is the
    mean of the two middle ones, 44.995, which is nobody's position. The leader and the last
    rider are 2.78 km from it, the two middle ones 0.556 km: farthest first, and each pair,
    equal to the metre, in rider id order."""
    ride = await make_ride(riders=4)
    async with AsyncExitStack() as stack:
        sockets, _ = await connect_all(stack, ride)
        await _place(sockets, [45.02, 45.00, 44.99, 44.97])
        await sockets[1].send_json_to(
            {"type": "behind", "threshold_km": 0, "reference": "median", "ref": 3}
        )
        answer = await receive(sockets[1])
        await sockets[1].send_json_to(
            {"type": "behind", "threshold_km": 1.5, "reference": "median"}
        )
        beyond = await receive(sockets[1])

    leader, second, third, fourth = (member.id for member in ride.members)
    assert (answer["type"], answer["ref"]) == ("behind", 3)
    distances = {row["rider_id"]: row["distance_km"] for row in answer["riders"]}
    assert distances[leader] == pytest.approx(2.78, abs=0.01)  # 0.025° from 44.995
    assert distances[fourth] == pytest.approx(2.78, abs=0.01)
    assert distances[second] == distances[third] == pytest.approx(0.556, abs=0.001)
    assert distances[leader] == distances[fourth]
    order = [row["rider_id"] for row in answer["riders"]]
    assert order == [*sorted([leader, fourth]), *sorted([second, third])]
    # The leader is measured too, from the median: far ahead is "too far away".
    assert {row["rider_id"] for row in beyond["riders"]} == {leader, fourth}
    assert beyond["ref"] is None


# --- Which error each mistake gets -------------------------------------------------------------


def _cases(me: str, other: str) -> list[tuple[str, str, list[str], object]]:
    """(frame, code, fields named, ref echoed)"""
    return [
        ("{not json", "invalid_json", [], None),
        ('{"type": "heartbeat", "ref": NaN}', "invalid_json", [], None),
        ("[1, 2]", "invalid_message", ["type"], None),
        ('{"type": 7, "ref": "r1"}', "invalid_message", ["type"], "r1"),
        ('{"type": "teleport", "ref": "r2"}', "unknown_type", ["type"], "r2"),
        ('{"type": "auth", "token": "x", "ref": 3}', "already_authenticated", [], 3),
        (
            '{"type": "location", "lat": 95, "lon": 7, "ref": 4}',
            "invalid_realtime_data",
            ["lat"],
            4,
        ),
        (
            '{"type": "status", "battery_pct": 80.0}',
            "invalid_realtime_data",
            ["battery_pct", "status"],
            None,
        ),
        ('{"type": "heartbeat", "ref": {"id": 1}}', "invalid_realtime_data", ["ref"], None),
        (
            '{"type": "heartbeat", "ref": "' + "r" * 65 + '"}',
            "invalid_realtime_data",
            ["ref"],
            None,
        ),
        (
            json.dumps({"type": "connection_state", "peer_id": me, "state": "new"}),
            "invalid_realtime_data",
            ["peer_id"],
            None,
        ),
        (json.dumps({"type": "set_sweep", "rider_id": me}), "invalid_sweep", ["rider_id"], None),
        (
            json.dumps({"type": "nearby", "radius_km": 5, "ref": "n"}),
            "no_reference_position",
            [],
            "n",
        ),
        (
            json.dumps({"type": "signal", "to": other, "kind": "offer", "payload": None}),
            "not_live_member",
            ["to"],
            None,
        ),
    ]


async def test_each_mistake_gets_its_documented_code_with_fields_and_ref():
    ride = await make_ride(riders=2)
    leader = ride.members[0]
    other = ride.members[1]  # a participant whose phone is not connected
    async with AsyncExitStack() as stack:
        [socket], _ = await connect_all(stack, ride, [leader])
        answers = []
        for frame, *_ in _cases(leader.id, other.id):
            await socket.send_to(text_data=frame)
            answers.append(await receive(socket))
        await socket.send_to(bytes_data=b"\x01")
        binary = await receive(socket)

    for (frame, code, fields, ref), answer in zip(
        _cases(leader.id, other.id), answers, strict=True
    ):
        assert (answer["type"], answer["code"], sorted(answer["fields"])) == (
            "error",
            code,
            fields,
        ), frame
        assert answer.get("ref") == ref, frame
    assert (binary["code"], binary["fields"]) == ("binary_not_supported", {})


async def test_before_authentication_only_auth_is_read():
    ride = await make_ride(riders=1)
    async with opened(socket_for(ride.room)) as socket:
        await socket.send_json_to({"type": "location", "lat": 95, "ref": "early"})
        error = await receive(socket)
        await socket.send_json_to({"type": "teleport"})
        unknown = await receive(socket)

    assert (error["code"], error["fields"], error["ref"]) == ("not_authenticated", {}, "early")
    assert unknown["code"] == "not_authenticated"


# --- The frame limit counts bytes --------------------------------------------------------------


def _frame_of(size: int) -> str:
    """A heartbeat of exactly ``size`` bytes of UTF-8, mostly three-byte characters."""
    head, tail = '{"type":"heartbeat","ref":"b","pad":"', '"}'
    room = size - len(head) - len(tail)
    pad = "€" * (room // 3) + "x" * (room % 3)
    frame = head + pad + tail
    assert len(frame.encode()) == size
    return frame


async def test_the_frame_limit_counts_bytes_of_utf8_not_characters(settings):
    settings.WS_MAX_MESSAGE_BYTES = 4096
    ride = await make_ride(riders=2)
    rider = ride.members[1]
    async with AsyncExitStack() as stack:
        (leader_socket, socket), _ = await connect_all(stack, ride)
        await socket.send_to(text_data=_frame_of(4096))
        at_limit = await receive(socket)

        over = _frame_of(4097)
        assert len(over) < 1500  # far under the limit in characters
        await socket.send_to(text_data=over)
        code, messages = await receive_close(socket)
        await hang_up(socket, code)
        # A frame too big is a bug of the app, not a tunnel: the rider leaves at once.
        left = await receive(leader_socket)

    assert at_limit == {"type": "heartbeat_ack", "ref": "b"}
    assert (code, messages) == (CloseCode.MESSAGE_TOO_BIG, [])
    assert (left["type"], left["rider_id"], left["payload"]["reason"]) == (
        "member_left",
        rider.id,
        "protocol_error",
    )
    assert (await connection_logs(rider.rider, ride.room))[-1] == (
        "disconnected",
        {"reason": "protocol_error"},
    )


async def test_a_binary_frame_over_the_limit_closes_1009(settings):
    settings.WS_MAX_MESSAGE_BYTES = 2048
    ride = await make_ride(riders=1)
    async with AsyncExitStack() as stack:
        [socket], _ = await connect_all(stack, ride)
        await socket.send_to(bytes_data=b"\x00" * 2049)
        code, _ = await receive_close(socket)
        await hang_up(socket, code)
    assert code == CloseCode.MESSAGE_TOO_BIG


# --- The flood rule ----------------------------------------------------------------------------


async def test_the_flood_rule_burst_then_dropped_then_closed_at_the_50th_drop_in_a_row(settings):
    """A bucket of 5 that refills too slowly to matter here: 5 frames are taken, the next 49
    are dropped with rate_limited, and the 50th dropped in a row closes 4008. Malformed
    frames count like any other."""
    settings.WS_MESSAGES_PER_SECOND = 0.001
    settings.WS_MESSAGE_BURST = 5
    ride = await make_ride(riders=1)
    async with AsyncExitStack() as stack:
        [socket], _ = await connect_all(stack, ride)
        for number in range(5 + CLOSE_AFTER_DROPPED):
            frame = "{not json" if number == 2 else json.dumps({"type": "heartbeat", "ref": number})
            await socket.send_to(text_data=frame)
        code, messages = await receive_close(socket)
        await hang_up(socket, code)

    assert CLOSE_AFTER_DROPPED == 50
    assert [message.get("ref", message.get("code")) for message in messages[:5]] == [
        0,
        1,
        "invalid_json",
        3,
        4,
    ]
    assert messages[5:] == [
        {
            "type": "error",
            "code": "rate_limited",
            "message": "Too many messages; this one was dropped.",
            "fields": {},
        }
    ] * (CLOSE_AFTER_DROPPED - 1)
    assert code == CloseCode.RATE_LIMITED
