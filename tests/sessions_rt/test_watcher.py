"""The watcher's tick in process: leases, one alert per condition, resolution, query counts.

Rides run due north along 7°E from 45°N; 0.001° of latitude is about 111 m.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from rooms.models import AlertStatus, RideAlert
from rooms.services import participant_join, room_create
from sessions_rt.store.expiry import cleanup_expired_sessions
from sessions_rt.store.leases import RideLease
from sessions_rt.store.members import member_join, member_mark_reconnecting, room_close
from sessions_rt.store.positions import location_update
from sessions_rt.watcher import RideWatcher
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ride():
    """A ride of four: its room and riders' ids (the leader first), all live."""
    leader = RiderFactory()
    room = room_create(creator=leader, name="Col de l'Iseran")
    riders = [leader] + [RiderFactory() for _ in range(3)]
    for rider in riders[1:]:
        participant_join(rider=rider, code=room.code)
    now = timezone.now()
    for rider in riders:
        member_join(room.pk, rider.pk, leader_id=leader.pk, now=now)
    return room, [str(rider.pk) for rider in riders]


def place(room, riders, metres, *, at, speed=80.0):
    for rider, north in zip(riders, metres, strict=True):
        location_update(
            room.pk,
            rider,
            lat=45 + north / 111_226,
            lon=7.0,
            speed_kmh=speed,
            heading_deg=0,
            now=at,
        )


def alerts(room, kind):
    return list(RideAlert.objects.filter(room=room, kind=kind).order_by("raised_at"))


def test_a_split_is_raised_once_and_resolved_when_the_rider_closes_up(ride):
    room, riders = ride
    watcher = RideWatcher()
    now = timezone.now()
    place(room, riders, [3000, 2950, 2900, 1500], at=now)

    first = watcher.tick(now=now)
    assert first.raised == [(str(room.pk), riders[3], "split")]
    for step in range(1, 4):
        assert watcher.tick(now=now + timedelta(seconds=step)).raised == []
    [alert] = alerts(room, "split")
    assert alert.status == AlertStatus.OPEN
    assert alert.details["side"] == "behind"
    assert alert.lat == pytest.approx(45 + 1500 / 111_226)

    later = now + timedelta(seconds=5)
    place(room, riders, [3000, 2950, 2900, 2800], at=later)
    report = watcher.tick(now=later)
    assert report.resolved == [(str(room.pk), riders[3], "split")]
    alert.refresh_from_db()
    assert (alert.status, alert.resolution) == (AlertStatus.RESOLVED, "condition_cleared")


def test_a_second_watcher_skips_a_ride_held_and_takes_it_released_without_re_raising(ride):
    room, riders = ride
    now = timezone.now()
    place(room, riders, [3000, 2950, 2900, 1500], at=now)
    first, second = RideWatcher(), RideWatcher()

    assert len(first.tick(now=now).raised) == 1
    assert second.tick(now=now).evaluated == 0
    assert second.held_room_ids == []

    first.release_all()
    report = second.tick(now=now + timedelta(seconds=1))
    assert (report.evaluated, report.raised) == (1, [])
    assert second.held_room_ids == [str(room.pk)]
    assert len(alerts(room, "split")) == 1

    # What the first raised, the second resolves.
    place(room, riders, [3000, 2950, 2900, 2800], at=now + timedelta(seconds=2))
    assert len(second.tick(now=now + timedelta(seconds=2)).resolved) == 1


def test_a_ride_whose_condition_lasts_costs_no_query_of_its_own(ride, exact_queries):
    room, riders = ride
    now = timezone.now()
    place(room, riders, [3000, 2950, 2900, 1500], at=now)
    watcher = RideWatcher()
    watcher.tick(now=now)
    # Only the due SOS countdowns and contact notices are looked for: the lasting split is
    # known to be open. (Each of the two runs in a transaction, a savepoint inside the test's:
    # the countdowns' query, then the notices' one statement, each with the savepoint's 2.)
    with exact_queries(6) as executed:
        watcher.tick(now=now + timedelta(seconds=1))
    assert "FOR UPDATE SKIP LOCKED" in executed.captured_queries[1]["sql"]
    # The same for ten ticks: nothing else is read while nothing changes.
    with exact_queries(60):
        for step in range(2, 12):
            watcher.tick(now=now + timedelta(seconds=step))


def test_a_silent_rider_among_connected_riders_is_raised_once_the_grace_ends(settings, ride):
    room, riders = ride
    now = timezone.now()
    place(room, riders, [0, 300, 600, 900], at=now)
    member_mark_reconnecting(room.pk, riders[3], now=now + timedelta(seconds=1))
    watcher = RideWatcher()
    grace = settings.RECONNECT_GRACE_SECONDS

    still_in_grace = now + timedelta(seconds=grace)
    place(room, riders[:3], [30, 330, 630], at=still_in_grace)
    assert watcher.tick(now=still_in_grace).raised == []

    after = now + timedelta(seconds=grace + 2)
    place(room, riders[:3], [60, 360, 660], at=after)
    assert watcher.tick(now=after).raised == [(str(room.pk), riders[3], "silent")]
    [alert] = alerts(room, "silent")
    assert alert.speed_kmh == 80.0
    assert alert.details["neighbours_connected"] == sorted(riders[:3])

    member_join(room.pk, riders[3], leader_id=riders[0], now=after + timedelta(seconds=3))
    assert watcher.tick(now=after + timedelta(seconds=3)).resolved == [
        (str(room.pk), riders[3], "silent")
    ]
    alert.refresh_from_db()
    assert alert.resolution == "rider_back"


def test_the_whole_group_dropping_together_raises_nothing(settings, ride):
    room, riders = ride
    now = timezone.now()
    place(room, riders, [0, 100, 200, 300], at=now)
    for offset, rider in enumerate(riders[1:]):
        member_mark_reconnecting(room.pk, rider, now=now + timedelta(seconds=offset))
    after = now + timedelta(seconds=settings.RECONNECT_GRACE_SECONDS + 5)
    place(room, riders[:1], [500], at=after)
    assert RideWatcher().tick(now=after).raised == []


def test_the_rides_own_thresholds_apply(ride):
    room, riders = ride
    room.split_distance_m = 2000
    room.save(update_fields=["split_distance_m"])
    now = timezone.now()
    place(room, riders, [3000, 2950, 2900, 1500], at=now)
    assert RideWatcher().tick(now=now).raised == []


def test_a_ride_whose_live_state_ended_is_released(ride):
    room, _riders = ride
    watcher = RideWatcher()
    watcher.tick()
    assert watcher.held_room_ids == [str(room.pk)]

    room_close(room.pk)
    assert watcher.tick().evaluated == 0
    cleanup_expired_sessions()
    watcher.tick()
    assert watcher.held_room_ids == []
    assert RideLease(str(room.pk)).take() is True
