"""The outbox table holds its own rules when the delivery code is bypassed."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.integrity import violated_constraint
from outbox.models import DeliveryStatus, Mail
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db


def _mail(**values) -> Mail:
    defaults = {"to_address": "ana@example.com", "subject": "s", "body": "b", "purpose": "test"}
    return Mail.objects.create(**(defaults | values))


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"status": "lost", "finished_at": "now"}, "outbox_mail_status_known"),
        ({"status": DeliveryStatus.SENT}, "outbox_mail_finished_when_not_pending"),
        ({"finished_at": "now"}, "outbox_mail_finished_when_not_pending"),
    ],
    ids=["unknown-status", "sent-without-finish", "pending-but-finished"],
)
def test_a_mail_row_keeps_its_rules(values, constraint):
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
