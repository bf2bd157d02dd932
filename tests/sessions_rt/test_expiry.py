"""Nothing lives forever: presence and reconnect grace run out, room keys expire, and the
cleanup (function and command) takes out riders whose phones went quiet."""

import io
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from sessions_rt.store import keys
from sessions_rt.store.events import snapshot
from sessions_rt.store.expiry import cleanup_expired_sessions
from sessions_rt.store.members import member_join, member_mark_reconnecting
from sessions_rt.store.positions import location_update
from sessions_rt.store.presence import heartbeat
from tests.sessions_rt.conftest import new_id

COMMAND = "cleanup_expired_sessions"


def run_command() -> str:
    out = io.StringIO()
    call_command(COMMAND, stdout=out)
    return out.getvalue()


@pytest.fixture
def short_lifetimes(settings):
    settings.PRESENCE_TTL_SECONDS = 90
    settings.RECONNECT_GRACE_SECONDS = 30
    settings.ROOM_SESSION_TTL_SECONDS = 3600


def test_cleanup_takes_out_riders_not_heard_from_for_the_presence_ttl(
    short_lifetimes, room_id, leader_id, t0
):
    quiet = new_id()
    member_join(room_id, leader_id, leader_id=leader_id, now=t0)
    member_join(room_id, quiet, leader_id=leader_id, now=t0)
    heartbeat(room_id, leader_id, now=t0 + timedelta(seconds=60))

    assert cleanup_expired_sessions(now=t0 + timedelta(seconds=89)) == []
    removed = cleanup_expired_sessions(now=t0 + timedelta(seconds=91))

    assert [(e.type, e.room_id, e.rider_id, e.payload) for e in removed] == [
        ("member_left", room_id, quiet, {"reason": "timed_out", "role": "rider"})
    ]
    live = snapshot(room_id)
    assert [m["rider_id"] for m in live["members"]] == [leader_id]
    assert live["member_count"] == 1
    assert live["seq"] == removed[0].seq == 3
    assert cleanup_expired_sessions(now=t0 + timedelta(seconds=91)) == []


def test_cleanup_takes_out_riders_reconnecting_past_the_grace_period(
    short_lifetimes, room_id, leader_id, t0
):
    dropped = new_id()
    member_join(room_id, leader_id, leader_id=leader_id, now=t0)
    member_join(room_id, dropped, leader_id=leader_id, now=t0)
    member_mark_reconnecting(room_id, dropped, now=t0 + timedelta(seconds=10))
    heartbeat(room_id, leader_id, now=t0 + timedelta(seconds=40))

    assert cleanup_expired_sessions(now=t0 + timedelta(seconds=39)) == []
    removed = cleanup_expired_sessions(now=t0 + timedelta(seconds=41))

    assert [e.rider_id for e in removed] == [dropped]
    assert member_join(room_id, dropped, leader_id=leader_id).type == "member_joined"


def test_when_everyone_timed_out_the_room_and_its_index_entry_go(
    redis, all_keys, short_lifetimes, room_id, leader_id, t0
):
    member_join(room_id, leader_id, leader_id=leader_id, now=t0)
    other_room, other_rider = new_id(), new_id()
    member_join(other_room, other_rider, leader_id=other_rider, now=t0 + timedelta(minutes=2))

    removed = cleanup_expired_sessions(now=t0 + timedelta(minutes=2))

    assert [(e.room_id, e.rider_id) for e in removed] == [(room_id, leader_id)]
    assert not any(room_id in key for key in all_keys())
    assert redis.zrange(keys.live_rooms_key(), 0, -1) == [other_room.encode()]


def test_cleanup_forgets_index_entries_of_rooms_whose_keys_expired(redis, room_id, leader_id):
    member_join(room_id, leader_id, leader_id=leader_id)
    for key in keys.room_keys(room_id):
        redis.delete(key)

    assert cleanup_expired_sessions() == []
    assert redis.zcard(keys.live_rooms_key()) == 0


def test_presence_runs_out_in_real_time(settings, room_id, leader_id):
    settings.PRESENCE_TTL_SECONDS = 1
    quiet = new_id()
    member_join(room_id, leader_id, leader_id=leader_id)
    member_join(room_id, quiet, leader_id=leader_id)
    time.sleep(0.6)
    heartbeat(room_id, leader_id)
    time.sleep(0.6)

    removed = cleanup_expired_sessions()

    assert [e.rider_id for e in removed] == [quiet]


def test_room_keys_expire_when_nothing_happens_for_the_room_ttl(
    settings, all_keys, room_id, leader_id
):
    settings.ROOM_SESSION_TTL_SECONDS = 1
    member_join(room_id, leader_id, leader_id=leader_id)
    location_update(room_id, leader_id, lat=45, lon=7)
    first_session = snapshot(room_id)["session_id"]
    assert all_keys()

    time.sleep(1.3)

    assert all_keys() == []
    rejoined = member_join(room_id, leader_id, leader_id=leader_id)
    assert (rejoined.type, rejoined.seq) == ("member_joined", 1)
    assert snapshot(room_id)["session_id"] != first_session


def test_activity_pushes_the_room_expiry_back(settings, all_keys, room_id, leader_id):
    settings.ROOM_SESSION_TTL_SECONDS = 1
    member_join(room_id, leader_id, leader_id=leader_id)
    for _ in range(3):
        time.sleep(0.5)
        heartbeat(room_id, leader_id)
    assert snapshot(room_id)["member_count"] == 1


def test_the_command_says_who_it_removed(short_lifetimes, room_id, leader_id):
    long_ago = timezone.now() - timedelta(seconds=100)
    quiet = new_id()
    member_join(room_id, leader_id, leader_id=leader_id)
    member_join(room_id, quiet, leader_id=leader_id, now=long_ago)

    assert run_command() == (
        f"Removed rider {quiet} from room {room_id} (timed out).\nRemoved 1 rider from 1 room.\n"
    )


def test_the_command_counts_riders_and_rooms(short_lifetimes, room_id, leader_id):
    long_ago = timezone.now() - timedelta(seconds=100)
    other_room = new_id()
    member_join(room_id, leader_id, leader_id=leader_id, now=long_ago)
    member_join(room_id, new_id(), leader_id=leader_id, now=long_ago)
    member_join(other_room, new_id(), leader_id=None, now=long_ago)

    lines = run_command().splitlines()

    assert len(lines) == 4
    assert lines[-1] == "Removed 3 riders from 2 rooms."


def test_the_command_says_when_there_is_nothing_to_remove(room_id, leader_id):
    member_join(room_id, leader_id, leader_id=leader_id)
    assert run_command() == "Nothing to remove.\n"
