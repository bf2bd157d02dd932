"""Ride leases: one holder at a time, renewed by it alone, lapsing when it stops renewing."""

import time

from sessions_rt.store import keys
from sessions_rt.store.leases import RideLease, watched_room_ids
from sessions_rt.store.members import member_join, member_leave
from sessions_rt.store.trail import ride_live_state


def test_one_holder_at_a_time(room_id):
    first, second = RideLease(room_id), RideLease(room_id)
    assert first.take() is True
    assert second.take() is False
    assert second.renew() is False
    assert first.renew() is True


def test_a_released_lease_goes_to_the_next_that_tries(room_id):
    first, second = RideLease(room_id), RideLease(room_id)
    first.take()
    first.release()
    assert second.take() is True
    # Releasing again, or renewing, a lease now another's changes nothing of theirs.
    first.release()
    assert first.renew() is False
    assert second.renew() is True


def test_a_lease_not_renewed_lapses_after_the_lease_time(settings, redis, room_id):
    settings.WATCH_LEASE_SECONDS = 1
    first, second = RideLease(room_id), RideLease(room_id)
    first.take()
    assert 0 < redis.pttl(keys.watch_lease_key(room_id)) <= 1000
    time.sleep(1.1)
    assert second.take() is True
    assert first.renew() is False


def test_renewing_restores_the_full_lease_time(settings, redis, room_id):
    settings.WATCH_LEASE_SECONDS = 2
    lease = RideLease(room_id)
    lease.take()
    time.sleep(0.5)
    lease.renew()
    assert redis.pttl(keys.watch_lease_key(room_id)) > 1800


def test_the_rides_to_watch_are_the_live_ones(room_id, leader_id):
    member_join(room_id, leader_id, leader_id=leader_id)
    assert watched_room_ids() == [room_id]
    member_leave(room_id, leader_id, reason="left")
    # The index entry waits for the cleanup; the ride's state is gone at once, and the
    # watcher reads none.
    assert ride_live_state(room_id) is None
