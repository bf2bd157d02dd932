"""Presence reported by the app, heartbeats, and the WebRTC link states riders report."""

from datetime import timedelta

import pytest

from sessions_rt.errors import InvalidRealtimeData, NotLiveMember
from sessions_rt.store import keys
from sessions_rt.store.events import snapshot
from sessions_rt.store.links import connection_state_set
from sessions_rt.store.members import expired_reconnecting, member_join, member_mark_reconnecting
from sessions_rt.store.positions import location_update
from sessions_rt.store.presence import heartbeat, presence_update
from tests.sessions_rt.conftest import new_id


@pytest.fixture
def live(room_id, leader_id, t0):
    member_join(room_id, leader_id, leader_id=leader_id, now=t0)
    return leader_id


def member(room_id, rider_id):
    return next(m for m in snapshot(room_id)["members"] if m["rider_id"] == rider_id)


def ms(moment):
    return moment.timestamp() * 1000


def test_presence_update_records_status_battery_and_network(room_id, live):
    event = presence_update(room_id, live, status="riding", battery_pct=76, network_type="cellular")

    assert event.type == "presence_changed"
    assert event.payload == {
        "status": "riding",
        "previous_status": "online",
        "battery_pct": 76,
        "network_type": "cellular",
    }
    shown = member(room_id, live)
    assert (shown["status"], shown["battery_pct"], shown["network_type"]) == (
        "riding",
        76,
        "cellular",
    )


def test_values_not_sent_are_kept_and_a_repeat_logs_nothing(room_id, live):
    presence_update(room_id, live, status="riding", battery_pct=76, network_type="wifi")

    assert presence_update(room_id, live, status="riding") is None
    assert presence_update(room_id, live, status="riding", battery_pct=76) is None
    lower = presence_update(room_id, live, status="riding", battery_pct=75)
    assert lower.payload["battery_pct"] == 75
    assert lower.payload["network_type"] == "wifi"
    assert snapshot(room_id)["seq"] == 3


def test_a_zero_battery_is_a_value_not_an_absence(room_id, live):
    event = presence_update(room_id, live, status="paused", battery_pct=0)
    assert event.payload["battery_pct"] == 0
    assert member(room_id, live)["battery_pct"] == 0


def test_any_message_from_a_reconnecting_rider_brings_them_back(room_id, live):
    member_mark_reconnecting(room_id, live)
    event = presence_update(room_id, live, status="online")
    assert event.payload["previous_status"] == "reconnecting"
    assert expired_reconnecting(room_id, now=event.at + timedelta(hours=1)) == []


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"status": "reconnecting"}, "status"),
        ({"status": "asleep"}, "status"),
        ({"status": None}, "status"),
        ({"status": "online", "battery_pct": 101}, "battery_pct"),
        ({"status": "online", "battery_pct": -1}, "battery_pct"),
        ({"status": "online", "battery_pct": 50.5}, "battery_pct"),
        ({"status": "online", "battery_pct": True}, "battery_pct"),
        ({"status": "online", "network_type": "5g"}, "network_type"),
        ({"status": "online", "network_type": ""}, "network_type"),
    ],
)
def test_presence_update_refuses_values_out_of_range(room_id, live, options, field):
    with pytest.raises(InvalidRealtimeData) as caught:
        presence_update(room_id, live, **options)
    assert field in caught.value.fields


def test_presence_of_a_rider_who_is_not_live_is_refused(room_id, live):
    with pytest.raises(NotLiveMember):
        presence_update(room_id, new_id(), status="online")
    with pytest.raises(NotLiveMember):
        presence_update(new_id(), live, status="online")


def test_a_heartbeat_refreshes_last_seen_and_the_room_ttl_without_an_event(
    redis, settings, room_id, live, t0
):
    settings.ROOM_SESSION_TTL_SECONDS = 600
    room_keys = keys.room_keys(room_id)
    redis.pexpire(room_keys.members, 5000)
    later = t0 + timedelta(seconds=10)

    assert heartbeat(room_id, live, now=later) is None

    assert redis.zscore(room_keys.last_seen, live) == ms(later)
    assert 590_000 < redis.pttl(room_keys.members) <= 600_000
    assert redis.hget(room_keys.session, "last_activity") == str(int(ms(later))).encode()
    assert snapshot(room_id)["seq"] == 1


def test_a_heartbeat_from_a_rider_who_is_not_live_tells_them_to_rejoin(room_id, live):
    with pytest.raises(NotLiveMember):
        heartbeat(room_id, new_id())


def test_activity_of_one_rider_keeps_the_whole_room_alive(redis, settings, room_id, live):
    settings.ROOM_SESSION_TTL_SECONDS = 600
    other = new_id()
    member_join(room_id, other, leader_id=live)
    for key in keys.room_keys(room_id):
        redis.pexpire(key, 1000)

    heartbeat(room_id, other)

    for key in keys.room_keys(room_id):
        if redis.exists(key):
            assert redis.pttl(key) > 590_000, key


def test_a_heartbeat_renews_the_ttls_only_once_a_tenth_of_the_room_ttl_has_run_down(
    redis, settings, room_id, live
):
    settings.ROOM_SESSION_TTL_SECONDS = 600
    heartbeat(room_id, live)  # the TTL setting changed: every key is renewed to it
    present = [key for key in keys.room_keys(room_id) if redis.exists(key)]
    for key in present:
        redis.pexpire(key, 580_000)

    heartbeat(room_id, live)
    for key in present:
        assert redis.pttl(key) <= 580_000, key  # still fresh: no write per key

    for key in present:
        redis.pexpire(key, 530_000)
    heartbeat(room_id, live)
    for key in present:
        assert redis.pttl(key) > 590_000, key


def test_a_key_a_position_creates_between_renewals_gets_the_room_ttl(
    redis, settings, room_id, live
):
    room_keys = keys.room_keys(room_id)
    assert not redis.exists(room_keys.locations)
    full = settings.ROOM_SESSION_TTL_SECONDS * 1000

    location_update(room_id, live, lat=45.0, lon=7.0)

    for key in (room_keys.locations, room_keys.location_details):
        assert full * 0.9 < redis.pttl(key) <= full, key
    # The session still expires first: a room whose session exists has all its keys.
    assert redis.pttl(room_keys.session) <= redis.pttl(room_keys.locations)


def test_connection_states_are_recorded_per_direction_with_the_time_of_change(room_id, live, t0):
    peer = new_id()
    member_join(room_id, peer, leader_id=live, now=t0)
    at = t0 + timedelta(seconds=1)

    event = connection_state_set(
        room_id, live, peer_id=peer, state="connecting", ice_state="checking", now=at
    )

    assert (event.type, event.rider_id) == ("connection_changed", live)
    assert event.payload == {
        "peer_id": peer,
        "state": "connecting",
        "ice_state": "checking",
        "previous_state": None,
    }
    connection_state_set(room_id, peer, peer_id=live, state="new", now=at)
    links = snapshot(room_id)["connections"]
    assert sorted((link["rider_id"], link["peer_id"], link["state"]) for link in links) == sorted(
        [(live, peer, "connecting"), (peer, live, "new")]
    )
    mine = next(link for link in links if link["rider_id"] == live)
    assert mine["ice_state"] == "checking"
    assert mine["changed_at"] == at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_a_repeated_connection_state_keeps_the_time_of_the_last_change(room_id, live, t0):
    peer = new_id()
    member_join(room_id, peer, leader_id=live, now=t0)
    connection_state_set(
        room_id, live, peer_id=peer, state="connected", ice_state="connected", now=t0
    )

    assert (
        connection_state_set(
            room_id, live, peer_id=peer, state="connected", now=t0 + timedelta(seconds=9)
        )
        is None
    )
    ice_only = connection_state_set(
        room_id, live, peer_id=peer, state="connected", ice_state="disconnected"
    )
    assert ice_only.payload["previous_state"] == "connected"
    assert ice_only.payload["ice_state"] == "disconnected"
    link = snapshot(room_id)["connections"][0]
    assert link["changed_at"] == ice_only.as_dict()["at"]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"state": "open"}, "state"),
        ({"state": "connected", "ice_state": "connecting"}, "ice_state"),
    ],
)
def test_connection_states_must_be_webrtc_states(room_id, live, options, field):
    peer = new_id()
    member_join(room_id, peer, leader_id=live)
    with pytest.raises(InvalidRealtimeData) as caught:
        connection_state_set(room_id, live, peer_id=peer, **options)
    assert field in caught.value.fields


def test_a_connection_needs_two_live_riders(room_id, live):
    with pytest.raises(NotLiveMember) as caught:
        connection_state_set(room_id, live, peer_id=new_id(), state="new")
    assert "peer_id" in caught.value.fields
    with pytest.raises(NotLiveMember) as caught:
        connection_state_set(room_id, new_id(), peer_id=live, state="new")
    assert caught.value.fields == {}
    with pytest.raises(InvalidRealtimeData):
        connection_state_set(room_id, live, peer_id=live, state="new")
