"""A socket the rider has replaced with another one no longer speaks for them.

This is how a deploy showed riders as gone (issue 20): a phone told to move by a stopping
worker was back on another worker before the old one saw its socket close; the late close
then marked the rider reconnecting while they were live, and once the grace period ran out
the expiry sweep announced member_left timed_out.
"""

from datetime import timedelta

from sessions_rt.store.events import snapshot
from sessions_rt.store.expiry import cleanup_expired_sessions
from sessions_rt.store.members import (
    member_join,
    member_leave,
    member_mark_reconnecting,
    reconnecting_members,
)
from tests.sessions_rt.conftest import new_id


def _statuses(room_id) -> dict[str, str]:
    return {member["rider_id"]: member["status"] for member in snapshot(room_id)["members"]}


def _moved(room_id, rider, t0):
    """The rider's socket on the stopping worker, then the one on the other worker."""
    member_join(room_id, rider, leader_id=rider, channel="worker-1!old", now=t0)
    member_join(room_id, rider, leader_id=rider, channel="worker-2!new", now=t0)


def test_a_late_drop_of_the_replaced_socket_leaves_the_rider_live(room_id, leader_id, t0):
    _moved(room_id, leader_id, t0)

    assert member_mark_reconnecting(room_id, leader_id, channel="worker-1!old") is None
    assert reconnecting_members(room_id) == []
    assert _statuses(room_id) == {leader_id: "online"}
    # Past the grace period the sweep has nobody to take out.
    later = t0 + timedelta(seconds=31)
    assert [e for e in cleanup_expired_sessions(now=later) if e.room_id == room_id] == []


def test_a_late_close_of_the_replaced_socket_does_not_take_the_rider_out(room_id, leader_id, t0):
    _moved(room_id, leader_id, t0)

    assert member_leave(room_id, leader_id, reason="client_closed", channel="worker-1!old") is None
    assert _statuses(room_id) == {leader_id: "online"}


def test_the_current_socket_still_drops_and_closes(room_id, leader_id, t0):
    _moved(room_id, leader_id, t0)
    rider = new_id()
    member_join(room_id, rider, leader_id=leader_id, channel="worker-2!rider", now=t0)

    dropped = member_mark_reconnecting(room_id, leader_id, channel="worker-2!new")
    assert dropped is not None
    assert dropped.payload["status"] == "reconnecting"
    left = member_leave(room_id, rider, reason="client_closed", channel="worker-2!rider")
    assert left is not None
    assert left.payload["reason"] == "client_closed"


def test_the_rest_side_names_no_socket_and_always_acts(room_id, leader_id, t0):
    _moved(room_id, leader_id, t0)

    assert member_mark_reconnecting(room_id, leader_id) is not None
    assert member_leave(room_id, leader_id, reason="kicked") is not None


def test_before_the_fix_the_late_drop_was_announced_as_timed_out(room_id, leader_id, t0):
    """The same sequence with no channel named (as every socket called it before): the sweep
    takes the live rider out, which is what riders saw."""
    _moved(room_id, leader_id, t0)
    member_mark_reconnecting(room_id, leader_id, now=t0)

    later = t0 + timedelta(seconds=31)
    removed = [e for e in cleanup_expired_sessions(now=later) if e.room_id == room_id]
    assert [(e.type, e.rider_id, e.payload["reason"]) for e in removed] == [
        ("member_left", leader_id, "timed_out")
    ]
