"""Alerts nobody in the ride took on: an SOS or a silent rider still open (not acknowledged)
ALERT_CONTACT_AFTER_SECONDS after the ride was told gets a "to be delivered" notice for each
of the rider's emergency contacts (rooms.models.AlertContactNotice). Delivering them (mail,
SMS) is the delivery work's; this only leaves the durable record it picks up."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from rooms.models import AlertKind, AlertStatus, NoticeStatus

# One statement, so each run is atomic on its own, and ON CONFLICT on the (alert, contact)
# unique index makes repeats and simultaneous runs on several hosts write each notice once.
# The ride was told at due_at for an SOS that counted down, else at raised_at; raised_at is
# never later, so its condition lets the partial index of open alerts narrow the scan.
_ESCALATE_SQL = """
    INSERT INTO rooms_alertcontactnotice (id, alert_id, contact_id, status, created_at)
    SELECT gen_random_uuid(), a.id, c.id, %(pending)s, %(now)s
    FROM rooms_ridealert a
    JOIN riders_emergencycontact c ON c.rider_id = a.rider_id
    WHERE a.status = %(open)s AND a.kind IN (%(sos)s, %(silent)s)
        AND a.raised_at <= %(cutoff)s AND coalesce(a.due_at, a.raised_at) <= %(cutoff)s
        AND c.consent_recorded_at IS NOT NULL
    ON CONFLICT (alert_id, contact_id) DO NOTHING
"""


def alerts_escalate_due(*, now: datetime | None = None) -> int:
    """Write the notices now due; returns how many were new."""
    moment = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _ESCALATE_SQL,
            {
                "pending": NoticeStatus.PENDING,
                "now": moment,
                "open": AlertStatus.OPEN,
                "sos": AlertKind.SOS,
                "silent": AlertKind.SILENT,
                "cutoff": moment - timedelta(seconds=settings.ALERT_CONTACT_AFTER_SECONDS),
            },
        )
        return cursor.rowcount
