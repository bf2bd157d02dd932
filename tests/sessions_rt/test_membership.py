"""Joining, reconnecting, leaving and closing a room's live session, and ride roles."""

import json
from datetime import timedelta

import pytest

from config.errors import InvalidIdentifier
from sessions_rt.errors import InvalidRealtimeData, InvalidSweep, NotLiveMember, NotRideLeader
from sessions_rt.store import keys
from sessions_rt.store.events import events_since, snapshot
from sessions_rt.store.links import connection_state_set
from sessions_rt.store.members import (
    connection_session_get,
    expired_reconnecting,
    member_join,
    member_leave,
    member_mark_reconnecting,
    room_close,
    sweep_set,
)
from sessions_rt.store.positions import location_update
from sessions_rt.store.presence import presence_update
from tests.sessions_rt.conftest import new_id


def event_types(room_id):
    return [
        event.type for event in events_since(room_id, seq=0, session_id=session(room_id)).events
    ]


def session(room_id):
    return snapshot(room_id)["session_id"]


def test_the_first_join_opens_the_session_and_logs_member_joined(redis, room_id, leader_id, t0):
    event = member_join(room_id, leader_id, leader_id=leader_id, now=t0)

    assert (event.seq, event.type, event.room_id, event.rider_id) == (
        1,
        "member_joined",
        room_id,
        leader_id,
    )
    assert event.payload == {"status": "online", "role": "leader"}
    assert event.at == t0
    room_keys = keys.room_keys(room_id)
    stored = {k.decode(): v.decode() for k, v in redis.hgetall(room_keys.session).items()}
    assert stored["leader_id"] == leader_id
    assert stored["member_count"] == "1"
    assert stored["created_at"] == stored["last_activity"] == str(int(t0.timestamp() * 1000))
    assert len(stored["session_id"]) == 32
    assert redis.zscore(room_keys.members, leader_id) == t0.timestamp() * 1000
    assert redis.zscore(keys.live_rooms_key(), room_id) == t0.timestamp() * 1000


def test_later_riders_join_as_riders_and_the_member_count_follows(redis, room_id, leader_id, t0):
    member_join(room_id, leader_id, leader_id=leader_id, now=t0)
    rider = new_id()
    event = member_join(room_id, rider, leader_id=leader_id, now=t0 + timedelta(seconds=1))

    assert (event.seq, event.payload["role"]) == (2, "rider")
    live = snapshot(room_id)
    assert live["member_count"] == 2
    assert [m["rider_id"] for m in live["members"]] == [leader_id, rider]
    assert redis.hget(keys.room_keys(room_id).session, "member_count") == b"2"


def test_joining_twice_without_dropping_logs_no_second_member_joined(room_id, leader_id):
    assert member_join(room_id, leader_id, leader_id=leader_id) is not None
    assert member_join(room_id, leader_id, leader_id=leader_id) is None
    assert event_types(room_id) == ["member_joined"]


def test_a_reconnect_within_the_grace_period_restores_the_status_without_member_joined(
    room_id, leader_id
):
    member_join(room_id, leader_id, leader_id=leader_id)
    presence_update(room_id, leader_id, status="riding")

    dropped = member_mark_reconnecting(room_id, leader_id)
    assert dropped.type == "presence_changed"
    assert dropped.payload["status"] == "reconnecting"
    assert dropped.payload["previous_status"] == "riding"
    assert member_mark_reconnecting(room_id, leader_id) is None

    back = member_join(room_id, leader_id, leader_id=leader_id, transport="cellular")
    assert back.type == "presence_changed"
    assert (back.payload["status"], back.payload["previous_status"]) == ("riding", "reconnecting")
    assert expired_reconnecting(room_id, now=back.at + timedelta(hours=1)) == []
    assert event_types(room_id) == [
        "member_joined",
        "presence_changed",
        "presence_changed",
        "presence_changed",
    ]
    assert snapshot(room_id)["members"][0]["status"] == "riding"


def test_marking_a_rider_who_is_not_live_as_reconnecting_is_refused(room_id, leader_id):
    with pytest.raises(NotLiveMember):
        member_mark_reconnecting(room_id, leader_id)


def test_expired_reconnecting_lists_riders_past_the_grace_period(settings, room_id, leader_id, t0):
    settings.RECONNECT_GRACE_SECONDS = 30
    rider = new_id()
    member_join(room_id, leader_id, leader_id=leader_id, now=t0)
    member_join(room_id, rider, leader_id=leader_id, now=t0)
    member_mark_reconnecting(room_id, rider, now=t0)
    member_mark_reconnecting(room_id, leader_id, now=t0 + timedelta(seconds=20))

    assert expired_reconnecting(room_id, now=t0 + timedelta(seconds=29)) == []
    assert expired_reconnecting(room_id, now=t0 + timedelta(seconds=31)) == [rider]
    later = expired_reconnecting(room_id, now=t0 + timedelta(seconds=60))
    assert sorted(later) == sorted([rider, leader_id])


def test_a_connection_record_is_kept_per_rider_and_replaced_by_the_next_connection(
    room_id, leader_id, t0
):
    member_join(
        room_id,
        leader_id,
        leader_id=leader_id,
        device="Pixel 8",
        app_version="2.4.1",
        transport="bridged",
        now=t0,
    )
    record = connection_session_get(room_id, leader_id)
    assert (record.device, record.app_version, record.transport, record.connected_at) == (
        "Pixel 8",
        "2.4.1",
        "bridged",
        t0,
    )

    later = t0 + timedelta(seconds=5)
    member_join(
        room_id,
        leader_id,
        leader_id=leader_id,
        transport="cellular",
        channel="specific.second-socket",
        now=later,
    )
    record = connection_session_get(room_id, leader_id)
    assert (record.device, record.transport, record.connected_at, record.channel) == (
        None,
        "cellular",
        later,
        "specific.second-socket",
    )
    assert connection_session_get(room_id, new_id()) is None


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"transport": "satellite"}, "transport"),
        ({"device": "x" * 101}, "device"),
        ({"device": "Pixel\n8"}, "device"),
        ({"device": "   "}, "device"),
        ({"app_version": 241}, "app_version"),
    ],
)
def test_join_refuses_malformed_connection_details(room_id, leader_id, options, field):
    with pytest.raises(InvalidRealtimeData) as caught:
        member_join(room_id, leader_id, leader_id=leader_id, **options)
    assert field in caught.value.fields
    assert snapshot(room_id)["session_id"] is None


def test_join_refuses_ids_that_are_not_uuids(room_id):
    with pytest.raises(InvalidIdentifier):
        member_join(room_id, "rider}:x", leader_id=None)
    with pytest.raises(InvalidIdentifier):
        member_join("not-a-room", new_id(), leader_id=None)


def test_leaving_removes_the_rider_from_every_structure(redis, room_id, leader_id):
    rider = new_id()
    member_join(room_id, leader_id, leader_id=leader_id)
    member_join(room_id, rider, leader_id=leader_id, device="iPhone 15")
    presence_update(room_id, rider, status="riding", battery_pct=50)
    location_update(room_id, rider, lat=45.0, lon=7.0)
    location_update(room_id, leader_id, lat=45.01, lon=7.0)
    connection_state_set(room_id, rider, peer_id=leader_id, state="connected")
    connection_state_set(room_id, leader_id, peer_id=rider, state="connected")
    member_mark_reconnecting(room_id, rider)

    event = member_leave(room_id, rider, reason="kicked")

    assert (event.type, event.rider_id, event.payload) == (
        "member_left",
        rider,
        {"reason": "kicked", "role": "rider"},
    )
    room_keys = keys.room_keys(room_id)
    for zset in (
        room_keys.members,
        room_keys.last_seen,
        room_keys.reconnecting,
        room_keys.locations,
    ):
        assert redis.zscore(zset, rider) is None, zset
    for hash_key in (room_keys.presence, room_keys.location_details, room_keys.connection_sessions):
        assert redis.hget(hash_key, rider) is None, hash_key
    assert redis.hlen(room_keys.connections) == 0
    live = snapshot(room_id)
    assert [m["rider_id"] for m in live["members"]] == [leader_id]
    assert live["member_count"] == 1
    assert redis.hget(room_keys.session, "member_count") == b"1"


def test_leaving_twice_gives_none_the_second_time(room_id, leader_id):
    member_join(room_id, leader_id, leader_id=leader_id)
    member_join(room_id, new_id(), leader_id=leader_id)
    assert member_leave(room_id, leader_id, reason="client_closed") is not None
    assert member_leave(room_id, leader_id, reason="client_closed") is None


def test_leave_refuses_an_unknown_reason(room_id, leader_id):
    member_join(room_id, leader_id, leader_id=leader_id)
    with pytest.raises(InvalidRealtimeData) as caught:
        member_leave(room_id, leader_id, reason="bored")
    assert "reason" in caught.value.fields


def test_the_last_member_out_takes_every_key_of_the_room(redis, all_keys, room_id, leader_id):
    member_join(room_id, leader_id, leader_id=leader_id)
    location_update(room_id, leader_id, lat=45.0, lon=7.0)

    event = member_leave(room_id, leader_id, reason="client_closed")

    assert event.type == "member_left"
    assert all_keys() == []
    assert redis.zscore(keys.live_rooms_key(), room_id) is None


def test_a_room_emptied_and_joined_again_starts_a_new_session(room_id, leader_id):
    member_join(room_id, leader_id, leader_id=leader_id)
    first = session(room_id)
    member_leave(room_id, leader_id, reason="client_closed")

    again = member_join(room_id, leader_id, leader_id=leader_id)

    assert again.seq == 1
    assert session(room_id) != first


def test_room_close_deletes_everything_and_names_the_live_riders(
    redis, all_keys, room_id, leader_id
):
    rider = new_id()
    member_join(room_id, leader_id, leader_id=leader_id)
    member_join(room_id, rider, leader_id=leader_id)
    location_update(room_id, rider, lat=45.0, lon=7.0)

    assert sorted(room_close(room_id)) == sorted([leader_id, rider])
    assert all_keys() == []
    assert room_close(room_id) == []


def test_the_leader_names_and_clears_the_sweep(room_id, leader_id):
    sweep = new_id()
    member_join(room_id, leader_id, leader_id=leader_id)
    member_join(room_id, sweep, leader_id=leader_id)

    named = sweep_set(room_id, by_rider_id=leader_id, sweep_id=sweep)
    assert (named.type, named.rider_id, named.payload) == (
        "sweep_changed",
        leader_id,
        {"sweep_id": sweep, "previous_sweep_id": None},
    )
    assert sweep_set(room_id, by_rider_id=leader_id, sweep_id=sweep) is None
    roles = {m["rider_id"]: m["role"] for m in snapshot(room_id)["members"]}
    assert roles == {leader_id: "leader", sweep: "sweep"}

    cleared = sweep_set(room_id, by_rider_id=leader_id, sweep_id=None)
    assert cleared.payload == {"sweep_id": None, "previous_sweep_id": sweep}
    assert snapshot(room_id)["sweep_id"] is None


def test_only_the_leader_names_the_sweep(room_id, leader_id):
    rider = new_id()
    member_join(room_id, leader_id, leader_id=leader_id)
    member_join(room_id, rider, leader_id=leader_id)
    with pytest.raises(NotRideLeader):
        sweep_set(room_id, by_rider_id=rider, sweep_id=rider)


def test_a_room_without_a_known_leader_has_nobody_to_name_a_sweep(room_id):
    rider = new_id()
    member_join(room_id, rider, leader_id=None)
    with pytest.raises(NotRideLeader):
        sweep_set(room_id, by_rider_id=rider, sweep_id=None)


@pytest.mark.parametrize("who", ["leader", "stranger"])
def test_the_sweep_must_be_a_live_member_other_than_the_leader(room_id, leader_id, who):
    member_join(room_id, leader_id, leader_id=leader_id)
    sweep = leader_id if who == "leader" else new_id()
    with pytest.raises(InvalidSweep):
        sweep_set(room_id, by_rider_id=leader_id, sweep_id=sweep)


def test_naming_a_sweep_in_a_room_with_no_live_session_is_refused(room_id, leader_id):
    with pytest.raises(NotLiveMember):
        sweep_set(room_id, by_rider_id=leader_id, sweep_id=new_id())


def test_a_sweep_who_leaves_stops_being_the_sweep(room_id, leader_id):
    sweep = new_id()
    member_join(room_id, leader_id, leader_id=leader_id)
    member_join(room_id, sweep, leader_id=leader_id)
    sweep_set(room_id, by_rider_id=leader_id, sweep_id=sweep)

    left = member_leave(room_id, sweep, reason="client_closed")

    assert left.payload == {"reason": "client_closed", "role": "sweep"}
    assert snapshot(room_id)["sweep_id"] is None
    member_join(room_id, sweep, leader_id=leader_id)
    roles = {m["rider_id"]: m["role"] for m in snapshot(room_id)["members"]}
    assert roles[sweep] == "rider"


def test_events_serialise_to_json_ready_dicts(room_id, leader_id, t0):
    event = member_join(room_id, leader_id, leader_id=leader_id, now=t0)
    data = event.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["at"] == t0.strftime("%Y-%m-%dT%H:%M:%S.000Z")
