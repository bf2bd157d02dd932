"""rider_deactivate (rooms.services, on riders' rider_lock_out): locked out, signed out
everywhere, out of the ride, audited."""

import pytest
from django.utils import timezone

from riders.auth_tokens import token_authenticate, token_issue
from riders.errors import (
    AccountClosed,
    CannotDeactivateSelf,
    RiderAlreadyInactive,
    SuperuserProtected,
)
from riders.models import AuditAction, AuditEntry, AuthToken
from rooms.models import RoomParticipant
from rooms.services import participant_join, rider_deactivate, room_create
from telemetry.models import ConnectionLog
from telemetry.services import connection_log_ingest_batch
from tests.riders.factories import RiderFactory


def test_deactivation_signs_out_every_device_and_ends_the_ride(
    rider, staff, django_capture_on_commit_callbacks, monkeypatch
):
    keys = [token_issue(rider=rider, device_name=name).key for name in ("phone", "tablet")]
    room = room_create(creator=RiderFactory(), name="Lake Loop")
    participant_join(rider=rider, code=room.code)
    closed = []
    monkeypatch.setattr(
        "sessions_rt.services.realtime_rider_removed",
        lambda **kwargs: closed.append(kwargs),
    )

    with django_capture_on_commit_callbacks(execute=True):
        rider_deactivate(rider=rider, actor=staff)

    rider.refresh_from_db()
    assert not rider.is_active
    assert not AuthToken.objects.filter(user=rider).exists()
    assert all(token_authenticate(key=key) is None for key in keys)
    assert not RoomParticipant.objects.get(room=room, user=rider).is_active
    # The rider's socket in that ride is closed once committed, told it was a deactivation.
    assert closed == [{"room_id": room.pk, "rider_id": rider.pk, "reason": "deactivated"}]
    entry = AuditEntry.objects.get(action=AuditAction.RIDER_DEACTIVATED)
    assert (entry.actor, entry.target_id) == (staff, str(rider.pk))
    assert entry.details == {"tokens_revoked": 2, "removed_from_room": room.code}
    assert AuditEntry.objects.filter(action=AuditAction.PARTICIPANT_REMOVED).count() == 1


def test_a_rider_in_no_ride_is_deactivated_too(rider, staff):
    rider_deactivate(rider=rider, actor=staff)
    entry = AuditEntry.objects.get(action=AuditAction.RIDER_DEACTIVATED)
    assert entry.details == {"tokens_revoked": 0, "removed_from_room": None}


def test_deactivating_twice_is_refused_and_recorded_once(rider, staff):
    rider_deactivate(rider=rider, actor=staff)
    with pytest.raises(RiderAlreadyInactive):
        rider_deactivate(rider=rider, actor=staff)
    assert AuditEntry.objects.filter(action=AuditAction.RIDER_DEACTIVATED).count() == 1


def test_staff_cannot_deactivate_themselves(staff):
    with pytest.raises(CannotDeactivateSelf):
        rider_deactivate(rider=staff, actor=staff)


def test_only_a_superuser_deactivates_a_superuser(staff):
    root = RiderFactory(is_staff=True, is_superuser=True)
    with pytest.raises(SuperuserProtected):
        rider_deactivate(rider=root, actor=staff)
    root.refresh_from_db()
    assert root.is_active
    rider_deactivate(rider=root, actor=RiderFactory(is_staff=True, is_superuser=True))


def test_requests_already_under_way_change_nothing_for_a_deactivated_rider(rider, staff):
    """A join, a new ride or an upload authenticated before the deactivation (its rider object
    still says active) reaches the rider's lock after it: 401 account_closed, nothing stored."""
    room = room_create(creator=RiderFactory(), name="Evening Run")
    stale = type(rider).objects.get(pk=rider.pk)
    rider_deactivate(rider=rider, actor=staff)

    with pytest.raises(AccountClosed):
        participant_join(rider=stale, code=room.code)
    with pytest.raises(AccountClosed):
        room_create(creator=stale, name="Too late")
    event = {"event_type": "connected", "occurred_at": timezone.now().isoformat()}
    with pytest.raises(AccountClosed):
        connection_log_ingest_batch(rider=stale, events=[{**event, "client_event_id": "x1"}])
    assert not RoomParticipant.objects.filter(user=rider).exists()
    assert not ConnectionLog.objects.filter(user=rider).exists()
