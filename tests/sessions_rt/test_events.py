"""The per-room event log: a phone back from a tunnel gets exactly what it missed, or a
snapshot when that can't be given."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from sessions_rt.errors import InvalidRealtimeData
from sessions_rt.store import keys
from sessions_rt.store.client import group_channel
from sessions_rt.store.events import event_from_json, events_since, snapshot
from sessions_rt.store.links import connection_state_set
from sessions_rt.store.members import (
    expired_reconnecting,
    member_join,
    member_leave,
    member_mark_reconnecting,
    sweep_set,
)
from sessions_rt.store.presence import presence_update
from tests.sessions_rt.conftest import new_id


@pytest.fixture
def ride_with_history(room_id, leader_id):
    """A ride whose every call produced an event; returns those events in order."""
    rider, other = new_id(), new_id()
    events = [
        member_join(room_id, leader_id, leader_id=leader_id),
        member_join(room_id, rider, leader_id=leader_id),
        presence_update(room_id, rider, status="riding", battery_pct=90),
        member_join(room_id, other, leader_id=leader_id),
        connection_state_set(room_id, rider, peer_id=other, state="connecting"),
        sweep_set(room_id, by_rider_id=leader_id, sweep_id=other),
        member_mark_reconnecting(room_id, rider),
        member_join(room_id, rider, leader_id=leader_id),
        presence_update(room_id, other, status="paused"),
        member_leave(room_id, other, reason="client_closed"),
    ]
    assert all(event is not None for event in events)
    return events


def since(room_id, seq, session_id=None):
    return events_since(room_id, seq=seq, session_id=session_id or snapshot(room_id)["session_id"])


def test_seqs_are_consecutive_from_one(ride_with_history):
    assert [event.seq for event in ride_with_history] == list(range(1, 11))


@pytest.mark.parametrize("seq", [0, 1, 4, 9, 10])
def test_events_since_returns_exactly_the_missed_events(room_id, ride_with_history, seq):
    missed = since(room_id, seq)

    assert missed.snapshot is None
    assert missed.events == ride_with_history[seq:]


def test_the_snapshot_seq_is_where_deltas_continue(room_id, ride_with_history):
    live = snapshot(room_id)
    assert live["seq"] == ride_with_history[-1].seq
    presence_update(room_id, live["leader_id"], status="riding")

    missed = since(room_id, live["seq"], live["session_id"])

    assert [(e.seq, e.type) for e in missed.events] == [(11, "presence_changed")]


def test_a_seq_ahead_of_the_room_gets_a_snapshot(room_id, ride_with_history):
    missed = since(room_id, 11)
    assert missed.events == []
    assert missed.snapshot == snapshot(room_id)


def test_a_seq_from_another_session_gets_a_snapshot(room_id, ride_with_history):
    missed = since(room_id, 3, session_id="f" * 32)
    assert missed.events == []
    assert missed.snapshot["seq"] == 10


def test_a_seq_older_than_the_kept_log_gets_a_snapshot(settings, room_id, leader_id):
    settings.REALTIME_EVENT_LOG_LENGTH = 5
    member_join(room_id, leader_id, leader_id=leader_id)
    statuses = ["riding", "paused"] * 6
    for status in statuses:
        presence_update(room_id, leader_id, status=status)
    # seqs 1..13 happened, 9..13 are kept: a phone at 8 can still be served exactly.
    assert snapshot(room_id)["seq"] == 13

    served = since(room_id, 8)
    assert [event.seq for event in served.events] == [9, 10, 11, 12, 13]
    too_old = since(room_id, 7)
    assert too_old.events == []
    assert too_old.snapshot["seq"] == 13
    assert too_old.snapshot["members"][0]["status"] == "paused"


def test_the_log_is_capped(redis, settings, room_id, leader_id):
    settings.REALTIME_EVENT_LOG_LENGTH = 3
    member_join(room_id, leader_id, leader_id=leader_id)
    for status in ["riding", "paused", "riding", "paused"]:
        presence_update(room_id, leader_id, status=status)
    assert redis.llen(keys.room_keys(room_id).events) == 3


def test_a_room_with_no_live_session_gets_an_empty_snapshot(room_id):
    missed = events_since(room_id, seq=4, session_id="f" * 32)
    assert missed.events == []
    assert missed.snapshot == {
        "room_id": room_id,
        "session_id": None,
        "seq": 0,
        "created_at": None,
        "last_activity": None,
        "leader_id": None,
        "sweep_id": None,
        "member_count": 0,
        "members": [],
        "connections": [],
    }


def test_after_the_room_restarts_an_old_seq_is_not_mistaken_for_a_new_one(room_id, leader_id):
    member_join(room_id, leader_id, leader_id=leader_id)
    old_session = snapshot(room_id)["session_id"]
    member_leave(room_id, leader_id, reason="client_closed")
    member_join(room_id, leader_id, leader_id=leader_id)
    presence_update(room_id, leader_id, status="riding")

    missed = events_since(room_id, seq=1, session_id=old_session)

    assert missed.snapshot is not None
    assert missed.snapshot["session_id"] != old_session


@pytest.mark.parametrize(("seq", "session_id"), [(-1, "x"), (1.5, "x"), (True, "x"), (1, None)])
def test_events_since_refuses_malformed_arguments(room_id, seq, session_id):
    with pytest.raises(InvalidRealtimeData):
        events_since(room_id, seq=seq, session_id=session_id)


def test_reading_does_not_keep_a_room_alive(redis, settings, room_id, leader_id):
    settings.ROOM_SESSION_TTL_SECONDS = 600
    member_join(room_id, leader_id, leader_id=leader_id)
    members = keys.room_keys(room_id).members
    redis.pexpire(members, 5000)

    snapshot(room_id)
    since(room_id, 0)
    expired_reconnecting(room_id)

    assert redis.pttl(members) <= 5000


async def test_a_logged_event_reaches_the_room_group_as_the_channel_layer_delivers_it(
    room_id, leader_id
):
    """Pins what lua/common.lua's emit relies on in channels_redis: a group's messages arrive
    on the pub/sub channel its private _get_group_channel_name names, and the layer's msgpack
    serializer (no prefix, no encryption) decodes a map packed by Redis's cmsgpack."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(keys.room_group(room_id), channel)
    try:
        joined = await sync_to_async(member_join)(room_id, leader_id, leader_id=leader_id)
        changed = await sync_to_async(presence_update)(room_id, leader_id, status="paused")

        delivered = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(2)]
    finally:
        await layer.group_discard(keys.room_group(room_id), channel)

    assert [message["type"] for message in delivered] == ["room.event", "room.event"]
    assert [event_from_json(room_id, message["event"]) for message in delivered] == [
        joined,
        changed,
    ]
    loop_layer = layer._get_layer()  # noqa: SLF001 - the naming the store relies on, pinned
    group = keys.room_group(room_id)
    assert group_channel(group) == loop_layer._get_group_channel_name(group)  # noqa: SLF001
