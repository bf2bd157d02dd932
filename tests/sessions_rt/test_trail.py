"""The recent trail and the drop records: kept by the scripts that store positions and drops,
trimmed by time, gone with the rider, read in one go for the safety rules."""

from datetime import timedelta

from sessions_rt.store import keys
from sessions_rt.store.expiry import cleanup_expired_sessions
from sessions_rt.store.members import member_join, member_leave, member_mark_reconnecting
from sessions_rt.store.positions import location_sharing_set, location_update
from sessions_rt.store.presence import presence_update
from sessions_rt.store.trail import drop_kept_after_back_ms, ride_live_state, ride_trails
from tests.sessions_rt.conftest import new_id

LON = 7.0


def ride_for(room_id, leader_id, t0, count=1):
    riders = [leader_id] + [new_id() for _ in range(count - 1)]
    for rider in riders:
        member_join(room_id, rider, leader_id=leader_id, now=t0)
    return riders


def report(room_id, rider, at, lat=45.0, speed=50.0):
    location_update(room_id, rider, lat=lat, lon=LON, speed_kmh=speed, heading_deg=180, now=at)


def trail_times(room_id, rider):
    return [point.at_ms for point in ride_trails(room_id, [rider]).get(rider, ())]


def ms(moment):
    return int(moment.timestamp() * 1000)


def test_a_point_is_kept_every_sample_interval_not_every_position(room_id, leader_id, t0):
    ride_for(room_id, leader_id, t0)
    for second in range(12):
        report(room_id, leader_id, t0 + timedelta(seconds=second), lat=45 - second / 10_000)

    trail = ride_trails(room_id, [leader_id, new_id()])[leader_id]
    assert [point.at_ms - ms(t0) for point in trail] == [0, 5000, 10000]
    assert trail[1].lat == 45 - 5 / 10_000
    assert (trail[1].speed_kmh, trail[1].heading_deg) == (50.0, 180)


def test_the_trail_is_trimmed_by_time_on_write(settings, room_id, leader_id, t0):
    settings.TRAIL_KEEP_SECONDS = 60
    ride_for(room_id, leader_id, t0)
    for step in range(20):
        report(room_id, leader_id, t0 + timedelta(seconds=5 * step))

    times = trail_times(room_id, leader_id)
    newest = ms(t0) + 95_000
    assert times[-1] == newest
    assert times[0] == newest - 60_000
    assert len(times) == 13


def test_a_rider_without_speed_or_heading_gets_points_with_nulls(room_id, leader_id, t0):
    ride_for(room_id, leader_id, t0)
    location_update(room_id, leader_id, lat=45.0, lon=LON, now=t0)
    [point] = ride_trails(room_id, [leader_id])[leader_id]
    assert (point.speed_kmh, point.heading_deg) == (None, None)


def test_pausing_sharing_deletes_the_trail_and_keeps_none_while_paused(room_id, leader_id, t0):
    ride_for(room_id, leader_id, t0)
    report(room_id, leader_id, t0)
    location_sharing_set(room_id, leader_id, paused=True, now=t0 + timedelta(seconds=1))
    report(room_id, leader_id, t0 + timedelta(seconds=10))
    assert trail_times(room_id, leader_id) == []

    location_sharing_set(room_id, leader_id, paused=False, now=t0 + timedelta(seconds=11))
    report(room_id, leader_id, t0 + timedelta(seconds=12))
    assert trail_times(room_id, leader_id) == [ms(t0) + 12_000]


def test_leaving_the_ride_deletes_the_riders_trail_and_drop(redis, room_id, leader_id, t0):
    _leader, rider = ride_for(room_id, leader_id, t0, count=2)
    report(room_id, rider, t0)
    member_mark_reconnecting(room_id, rider, now=t0 + timedelta(seconds=1))
    member_leave(room_id, rider, reason="left", now=t0 + timedelta(seconds=2))

    room_keys = keys.room_keys(room_id)
    assert redis.hexists(room_keys.trail, rider) is False
    assert redis.zscore(room_keys.trail_sampled, rider) is None
    assert redis.hexists(room_keys.drops, rider) is False


def test_the_rides_end_deletes_every_trail(redis, room_id, leader_id, t0):
    (leader,) = ride_for(room_id, leader_id, t0)
    report(room_id, leader, t0)
    member_leave(room_id, leader, reason="left", now=t0)
    assert redis.exists(keys.room_keys(room_id).trail) == 0
    assert ride_live_state(room_id, now=t0) is None


def test_a_drop_records_the_fix_and_the_riders_then_within_the_radius(room_id, leader_id, t0):
    leader, near, far, _unplaced = ride_for(room_id, leader_id, t0, count=4)
    report(room_id, leader, t0, lat=45.0, speed=72.0)
    report(room_id, near, t0, lat=45.02)  # 2.2 km
    report(room_id, far, t0, lat=45.05)  # 5.6 km

    member_mark_reconnecting(room_id, leader, now=t0 + timedelta(seconds=2))

    state = ride_live_state(room_id, now=t0 + timedelta(seconds=3))
    assert state is not None
    drop = state.drops[leader]
    assert drop.at_ms == ms(t0) + 2000
    assert drop.fix is not None
    assert (drop.fix.speed_kmh, drop.fix.lat) == (72.0, 45.0)
    assert drop.neighbours == (near,)
    assert drop.back_at_ms is None
    assert state.reconnecting_since_ms == {leader: ms(t0) + 2000}


def test_a_drop_without_a_position_has_no_fix_and_no_neighbours(room_id, leader_id, t0):
    leader, other = ride_for(room_id, leader_id, t0, count=2)
    report(room_id, other, t0)
    member_mark_reconnecting(room_id, leader, now=t0)
    state = ride_live_state(room_id, now=t0)
    assert state is not None
    assert (state.drops[leader].fix, state.drops[leader].neighbours) == (None, ())


def test_coming_back_marks_the_drop_back_once(room_id, leader_id, t0):
    leader, other = ride_for(room_id, leader_id, t0, count=2)
    report(room_id, other, t0)
    member_mark_reconnecting(room_id, other, now=t0 + timedelta(seconds=1))
    member_join(room_id, other, leader_id=leader, now=t0 + timedelta(seconds=9))
    member_join(room_id, other, leader_id=leader, now=t0 + timedelta(seconds=20))

    state = ride_live_state(room_id, now=t0)
    assert state is not None
    assert state.drops[other].back_at_ms == ms(t0) + 9000


def test_a_status_on_the_old_socket_marks_the_drop_back(room_id, leader_id, t0):
    (leader,) = ride_for(room_id, leader_id, t0)
    member_mark_reconnecting(room_id, leader, now=t0)
    presence_update(room_id, leader, status="riding", now=t0 + timedelta(seconds=4))
    state = ride_live_state(room_id, now=t0)
    assert state is not None
    assert state.drops[leader].back_at_ms == ms(t0) + 4000


def test_a_rider_timed_out_after_a_drop_keeps_trail_and_drop(settings, room_id, leader_id, t0):
    leader, rider = ride_for(room_id, leader_id, t0, count=2)
    report(room_id, leader, t0)
    report(room_id, rider, t0, speed=90.0)
    member_mark_reconnecting(room_id, rider, now=t0 + timedelta(seconds=1))
    grace = settings.RECONNECT_GRACE_SECONDS
    # The leader stays live; the rider's grace period runs out.
    report(room_id, leader, t0 + timedelta(seconds=grace + 2))
    [event] = cleanup_expired_sessions(now=t0 + timedelta(seconds=grace + 2))
    assert event.rider_id == rider

    state = ride_live_state(room_id, now=t0 + timedelta(seconds=grace + 2))
    assert state is not None
    assert rider not in state.members
    assert rider in state.drops
    assert [point.at_ms for point in ride_trails(room_id, [rider])[rider]] == [ms(t0)]


def test_cleanup_trims_trails_no_longer_written_and_forgets_judged_drops(
    settings, redis, room_id, leader_id, t0
):
    settings.TRAIL_KEEP_SECONDS = 90
    settings.PRESENCE_TTL_SECONDS = 3600
    leader, rider = ride_for(room_id, leader_id, t0, count=2)
    for step in range(10):
        report(room_id, rider, t0 + timedelta(seconds=5 * step))
    member_mark_reconnecting(room_id, rider, now=t0 + timedelta(seconds=46))
    member_join(room_id, rider, leader_id=leader, now=t0 + timedelta(seconds=50))

    # Not written for a minute by 110 s: trimmed to the points of the last 90 s (20 s on).
    cleanup_expired_sessions(now=t0 + timedelta(seconds=110))
    assert trail_times(room_id, rider) == [ms(t0) + 1000 * s for s in range(20, 50, 5)]
    assert redis.hexists(keys.room_keys(room_id).drops, rider)

    much_later = t0 + timedelta(seconds=50) + timedelta(milliseconds=drop_kept_after_back_ms() + 1)
    cleanup_expired_sessions(now=much_later)
    room_keys = keys.room_keys(room_id)
    assert redis.hexists(room_keys.trail, rider) is False
    assert redis.zscore(room_keys.trail_sampled, rider) is None
    assert redis.hexists(room_keys.drops, rider) is False


def test_cleanup_keeps_the_drop_of_a_rider_not_back(settings, redis, room_id, leader_id, t0):
    settings.PRESENCE_TTL_SECONDS = 3600
    _leader, rider = ride_for(room_id, leader_id, t0, count=2)
    member_mark_reconnecting(room_id, rider, now=t0)
    cleanup_expired_sessions(now=t0 + timedelta(milliseconds=drop_kept_after_back_ms() * 2))
    assert redis.hexists(keys.room_keys(room_id).drops, rider)


def test_the_new_keys_get_the_rooms_ttl(redis, room_id, leader_id, t0):
    (leader,) = ride_for(room_id, leader_id, t0)
    report(room_id, leader, t0)
    member_mark_reconnecting(room_id, leader, now=t0)
    room_keys = keys.room_keys(room_id)
    for key in (room_keys.trail, room_keys.trail_sampled, room_keys.drops):
        assert redis.pttl(key) > 0, key
