"""The database holds the riders' invariants even when the services are bypassed."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.integrity import violated_constraint
from riders.models import DeliveryStatus, EmailToken, Mail, Rider
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db


def _insert(**values) -> None:
    Rider.objects.create(**({"password": "!"} | values))


@pytest.mark.parametrize("username", ["Easy.Rider", "EASY.RIDER", "easy.rider"])
def test_username_is_unique_whatever_its_case(username):
    RiderFactory(username="easy.Rider", email="first@example.com")

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        _insert(username=username, email="second@example.com")

    assert violated_constraint(excinfo.value) == "rider_username_ci_unique"


@pytest.mark.parametrize("email", ["Easy@Example.com", "EASY@EXAMPLE.COM"])
def test_email_is_unique_whatever_its_case(email):
    RiderFactory(username="first", email="easy@example.com")

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        _insert(username="second", email=email)

    assert violated_constraint(excinfo.value) == "rider_email_ci_unique"


def test_username_cannot_be_empty():
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        _insert(username="", email="blank@example.com")

    assert violated_constraint(excinfo.value) == "rider_username_not_empty"


def test_different_names_and_emails_coexist():
    _insert(username="one", email="one@example.com")
    _insert(username="two", email="two@example.com")

    assert Rider.objects.count() == 2


def _token(rider, **values):
    now = timezone.now()
    defaults = {
        "rider": rider,
        "purpose": "reset_password",
        "key_digest": "d" * 64,
        "email": rider.email,
        "created_at": now,
        "expires_at": now + timedelta(hours=1),
    }
    return EmailToken.objects.create(**(defaults | values))


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"purpose": "unlock"}, "email_token_purpose_known"),
        ({"expires_at": None}, "email_token_expires_after_creation"),
        ({"used": True, "revoked": True}, "email_token_spent_once"),
    ],
    ids=["unknown-purpose", "expires-before-creation", "used-and-revoked"],
)
def test_mailed_link_tokens_keep_their_rules(values, constraint):
    rider = RiderFactory()
    now = timezone.now()
    if values.pop("used", False):
        values["used_at"] = now
    if values.pop("revoked", False):
        values["revoked_at"] = now
    if "expires_at" in values:
        values["expires_at"] = now
        values["created_at"] = now

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        _token(rider, **values)

    assert violated_constraint(excinfo.value) == constraint


def test_a_token_digest_is_unique():
    rider = RiderFactory()
    _token(rider)

    with pytest.raises(IntegrityError), transaction.atomic():
        _token(RiderFactory(), purpose="verify_email")


def _mail(**values) -> Mail:
    defaults = {"to_address": "ana@example.com", "subject": "s", "body": "b", "purpose": "test"}
    return Mail.objects.create(**(defaults | values))


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"status": "lost", "finished_at": "now"}, "riders_mail_status_known"),
        ({"status": DeliveryStatus.SENT}, "riders_mail_finished_when_not_pending"),
        ({"finished_at": "now"}, "riders_mail_finished_when_not_pending"),
    ],
    ids=["unknown-status", "sent-without-finish", "pending-but-finished"],
)
def test_an_outgoing_mail_row_keeps_the_outbox_rules(values, constraint):
    if values.get("finished_at") == "now":
        values["finished_at"] = timezone.now()

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        _mail(**values)

    assert violated_constraint(excinfo.value) == constraint


def test_a_riders_mail_goes_with_the_account():
    rider = RiderFactory()
    _mail(rider=rider)

    rider.delete()

    assert not Mail.objects.exists()
