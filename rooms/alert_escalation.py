"""Alerts nobody in the ride took on: an SOS or a silent rider still open (not acknowledged)
ALERT_CONTACT_AFTER_SECONDS after the ride was told gets a notice for each of the rider's
emergency contacts (rooms.models.AlertContactNotice), handed over in the same transaction:
a mail to a contact with an address (riders' mail outbox, sent and retried by
``deliver_mail``) and an ``alert.contact_notice`` webhook event for operators, whose SMS
gateway texts a contact with a phone number. The notice is then ``queued``."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from riders.mail import mail_enqueue
from rooms.alerts import position_of
from rooms.models import AlertContactNotice, AlertKind, AlertStatus, NoticeStatus
from rooms.outbox import CONTACT_NOTICE, outbox_record

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
    RETURNING id
"""


def alerts_escalate_due(*, now: datetime | None = None) -> int:
    """Write the notices now due and hand each over; returns how many were new."""
    moment = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
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
        new = [row[0] for row in cursor.fetchall()]
        notices = AlertContactNotice.objects.filter(pk__in=new).select_related(
            "alert__rider", "alert__room", "contact"
        )
        for notice in notices:
            _hand_over(notice, at=moment)
        AlertContactNotice.objects.filter(pk__in=new).update(status=NoticeStatus.QUEUED)
    return len(new)


def _hand_over(notice: AlertContactNotice, *, at: datetime) -> None:
    alert, contact = notice.alert, notice.contact
    rider = alert.rider
    who = rider.display_name or rider.username
    what = _WHAT[alert.kind].format(who=who)
    position = position_of(alert)
    where = (
        f"Last known position: {position['lat']:.5f}, {position['lon']:.5f} "
        f"(https://www.openstreetmap.org/?mlat={position['lat']:.5f}&mlon={position['lon']:.5f}), "
        f"at {position['at'] or 'an unknown time'}."
        if position
        else "Convoy has no position for them."
    )
    if contact.email:
        mail_enqueue(
            to=contact.email,
            subject=f"Convoy: {what}",
            body=(
                f"Hello {contact.name},\n\n{who} named you as an emergency contact in Convoy, "
                f"the group riding app. {what}, and nobody in their ride has answered for "
                f"{settings.ALERT_CONTACT_AFTER_SECONDS // 60} minutes.\n\n{where}\n\n"
                "Try to reach them. If you cannot and think they are in danger, call the "
                "emergency services and give them this position.\n"
            ),
            purpose="alert_contact",
        )
    outbox_record(
        type=CONTACT_NOTICE,
        room_id=alert.room_id,
        data={
            "rider": {"id": str(rider.pk), "name": who},
            "alert": {"id": str(alert.pk), "kind": alert.kind, "position": position},
            "contact": {"name": contact.name, "phone": contact.phone, "email": contact.email},
            "text": f"Convoy: {what}. {where}",
        },
        at=at,
    )


_WHAT: dict[str, str] = {
    AlertKind.SOS: "{who} sent an SOS",
    AlertKind.SILENT: "{who}'s phone went silent at speed",
}
