"""Undoing a deactivation: the account may log in again, audited with the staff member's
reason; deleted accounts, stand-ins and (for non-superusers) superusers stay as they are."""

import pytest

from riders.errors import CannotReactivateClosedAccount, RiderAlreadyActive, SuperuserProtected
from riders.models import AuditAction, AuditEntry
from riders.services import rider_reactivate
from rooms.services import rider_deactivate
from tests.riders.factories import TEST_PASSWORD, RiderFactory

pytestmark = pytest.mark.django_db


def test_a_reactivated_rider_logs_in_again(api_client):
    moderator = RiderFactory(is_staff=True)
    rider = RiderFactory()
    rider_deactivate(rider=rider, actor=moderator, reason="Spam")
    refused = api_client.post(
        "/api/v1/auth/login/",
        {"username": rider.username, "password": TEST_PASSWORD},
        format="json",
    )

    rider_reactivate(rider=rider, actor=moderator, reason="Appeal accepted")

    allowed = api_client.post(
        "/api/v1/auth/login/",
        {"username": rider.username, "password": TEST_PASSWORD},
        format="json",
    )
    assert (refused.status_code, allowed.status_code) == (401, 200)
    entry = AuditEntry.objects.get(action=AuditAction.RIDER_REACTIVATED)
    assert (entry.actor, entry.target_id, entry.details) == (
        moderator,
        str(rider.pk),
        {"reason": "Appeal accepted"},
    )
    deactivated = AuditEntry.objects.get(action=AuditAction.RIDER_DEACTIVATED)
    assert deactivated.details["reason"] == "Spam"


def test_an_active_rider_is_already_active():
    with pytest.raises(RiderAlreadyActive):
        rider_reactivate(rider=RiderFactory(), actor=RiderFactory(is_staff=True))
    assert not AuditEntry.objects.filter(action=AuditAction.RIDER_REACTIVATED).exists()


@pytest.mark.parametrize("closed", [{"is_stand_in": True}, {"deleted_at": "2026-01-01T00:00Z"}])
def test_closed_accounts_stay_closed(closed):
    rider = RiderFactory(is_active=False, **closed)
    with pytest.raises(CannotReactivateClosedAccount):
        rider_reactivate(rider=rider, actor=RiderFactory(is_staff=True))
    rider.refresh_from_db()
    assert not rider.is_active


def test_only_a_superuser_reactivates_a_superuser():
    root = RiderFactory(is_active=False, is_superuser=True, is_staff=True)
    with pytest.raises(SuperuserProtected):
        rider_reactivate(rider=root, actor=RiderFactory(is_staff=True))
    rider_reactivate(rider=root, actor=RiderFactory(is_staff=True, is_superuser=True))
    root.refresh_from_db()
    assert root.is_active


def test_a_reason_over_the_limit_is_refused_and_nothing_changes():
    rider = RiderFactory()
    with pytest.raises(ValueError, match="at most 500"):
        rider_deactivate(rider=rider, actor=RiderFactory(is_staff=True), reason="x" * 501)
    rider.refresh_from_db()
    assert rider.is_active
