"""Deletions racing what the rider's other phone does, and each other, on real PostgreSQL: the
rider lock decides the order, and whichever comes second sees the first."""

from collections import Counter

import pytest
from django.utils import timezone

from riders.models import AuditAction, AuditEntry, Rider
from rooms.models import RoomParticipant
from rooms.services import participant_join, room_create
from telemetry.account_deletion import AccountDeleted, account_delete_by_staff, account_delete_own
from telemetry.models import ConnectionLog
from telemetry.services import connection_log_ingest_batch
from tests.racing import race
from tests.riders.factories import TEST_PASSWORD, RiderFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _kinds(results: list[object]) -> Counter:
    return Counter(type(result).__name__ for result in results)


@pytest.mark.parametrize("repetition", range(5))
def test_a_deletion_racing_a_join_leaves_no_one_in_the_ride(repetition):
    rider = RiderFactory()
    room = room_create(creator=RiderFactory(), name=f"Race {repetition}")

    results = race(
        [
            lambda: participant_join(rider=rider, code=room.code),
            lambda: account_delete_own(rider=rider, password=TEST_PASSWORD),
        ]
    )

    joined, deleted = results
    assert isinstance(deleted, AccountDeleted), deleted
    # The join ran first (and the deletion took the rider out again), or it came second
    # and found the account closed.
    assert type(joined).__name__ in {"JoinOutcome", "AccountClosed"}
    assert deleted.left_ride is (type(joined).__name__ == "JoinOutcome")
    assert not RoomParticipant.objects.filter(user=rider).exists()
    assert RoomParticipant.objects.filter(room=room, is_active=True).count() == 1
    stand_in = Rider.objects.get(is_stand_in=True)
    assert RoomParticipant.objects.filter(user=stand_in, is_active=True).count() == 0


def test_two_deletions_of_one_account_delete_it_once():
    rider = RiderFactory()
    moderator = RiderFactory(is_staff=True)

    results = race(
        [
            lambda: account_delete_own(rider=rider, password=TEST_PASSWORD),
            lambda: account_delete_by_staff(rider=rider, actor=moderator),
        ]
    )

    assert _kinds(results) == {"AccountDeleted": 1, "AccountAlreadyDeleted": 1}
    assert Rider.objects.filter(is_stand_in=True).count() == 1
    assert AuditEntry.objects.filter(action=AuditAction.RIDER_DELETED).count() == 1


def test_two_riders_of_one_ride_deleting_at_once_both_leave_it():
    leader, first, second = RiderFactory(), RiderFactory(), RiderFactory()
    room = room_create(creator=leader, name="Twin exits")
    for rider in (first, second):
        participant_join(rider=rider, code=room.code)

    results = race(
        [
            lambda rider=rider: account_delete_own(rider=rider, password=TEST_PASSWORD)
            for rider in (first, second)
        ]
    )

    assert _kinds(results) == {"AccountDeleted": 2}
    assert all(result.left_ride for result in results)
    assert list(
        RoomParticipant.objects.filter(room=room, is_active=True).values_list("user", flat=True)
    ) == [leader.pk]
    stand_ins = Rider.objects.filter(is_stand_in=True)
    assert stand_ins.count() == 2
    assert RoomParticipant.objects.filter(room=room, user__in=stand_ins).count() == 2


@pytest.mark.parametrize("repetition", range(3))
def test_a_deletion_racing_an_upload_leaves_no_log_on_the_account(repetition):
    rider = RiderFactory()
    events = [
        {
            "event_type": "quality_report",
            "occurred_at": timezone.now().isoformat(),
            "client_event_id": f"race-{repetition}-{n}",
            "metrics": {"rtt_ms": 50 + n},
        }
        for n in range(200)
    ]

    uploaded, deleted = race(
        [
            lambda: connection_log_ingest_batch(rider=rider, events=events),
            lambda: account_delete_own(rider=rider, password=TEST_PASSWORD),
        ]
    )

    assert isinstance(deleted, AccountDeleted), deleted
    assert not ConnectionLog.objects.filter(user=rider).exists()
    stand_in = Rider.objects.get(is_stand_in=True)
    if isinstance(uploaded, list):
        # Stored first, then handed over with the rest.
        assert deleted.connection_logs == 200
        assert ConnectionLog.objects.filter(user=stand_in).count() == 200
    else:
        assert type(uploaded).__name__ == "AccountClosed"
        assert deleted.connection_logs == 0
