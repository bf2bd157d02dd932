"""rooms.alert_escalation: an SOS or silent-rider alert nobody took on gets one notice per
emergency contact of its rider, once, ALERT_CONTACT_AFTER_SECONDS after the ride was told."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from riders.emergency_contacts import emergency_contact_create
from rooms.alert_escalation import alerts_escalate_due
from rooms.alerts import alert_acknowledge, alert_raise, alert_resolve, alerts_raise_due
from rooms.models import AlertContactNotice, NoticeStatus
from rooms.services import participant_join, room_create
from tests.racing import race
from tests.riders.factories import RiderFactory

AFTER = 180


@pytest.fixture(autouse=True)
def _contact_after(settings):
    settings.ALERT_CONTACT_AFTER_SECONDS = AFTER


def _ride_with_contacts(contacts: int = 2):
    leader, lost = RiderFactory(), RiderFactory()
    room = room_create(creator=leader, name="Night ride")
    participant_join(rider=lost, code=room.code)
    made = [
        emergency_contact_create(rider=lost, name=f"C{n}", email=f"c{n}@example.com", consent=True)
        for n in range(contacts)
    ]
    return room, leader, lost, made


def _raise(room, rider, kind, **values):
    arguments = {"position": None, "trail": [], "details": {}} | values
    return alert_raise(room_id=room.pk, rider_id=rider.pk, kind=kind, **arguments)[0]


def _later(alert, seconds: float):
    return (alert.due_at or alert.raised_at) + timedelta(seconds=seconds)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["sos", "silent"])
def test_an_unanswered_alert_is_marked_for_each_contact_once(kind):
    room, _, lost, contacts = _ride_with_contacts()
    alert = _raise(room, lost, kind)

    assert alerts_escalate_due(now=_later(alert, AFTER - 1)) == 0
    assert alerts_escalate_due(now=_later(alert, AFTER)) == 2
    assert alerts_escalate_due(now=_later(alert, AFTER + 60)) == 0

    notices = AlertContactNotice.objects.order_by("contact__created_at")
    assert [(n.alert_id, n.contact_id, n.status) for n in notices] == [
        (alert.pk, contact.pk, NoticeStatus.PENDING) for contact in contacts
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["split", "stopped"])
def test_the_group_rules_never_reach_contacts(kind):
    room, _, lost, _ = _ride_with_contacts()
    alert = _raise(room, lost, kind)

    assert alerts_escalate_due(now=_later(alert, AFTER * 10)) == 0


@pytest.mark.django_db
def test_an_acknowledged_or_resolved_alert_is_not_escalated():
    room, leader, lost, _ = _ride_with_contacts()
    alert = _raise(room, lost, "silent")
    alert_acknowledge(alert_id=alert.pk, room=room, by=leader)
    other_room, other_leader, other_lost, _ = _ride_with_contacts()
    resolved = _raise(other_room, other_lost, "sos")
    alert_resolve(alert_id=resolved.pk, room=other_room, by=other_leader, resolution="handled")

    assert alerts_escalate_due(now=timezone.now() + timedelta(seconds=AFTER * 2)) == 0


@pytest.mark.django_db
def test_a_countdown_counts_from_when_the_ride_was_told():
    room, _, lost, _ = _ride_with_contacts(contacts=1)
    alert = _raise(room, lost, "sos", countdown_seconds=60)

    # Pending: nobody was told yet, whatever the time.
    assert alerts_escalate_due(now=alert.raised_at + timedelta(seconds=AFTER + 60)) == 0
    alerts_raise_due(now=alert.due_at)
    assert alerts_escalate_due(now=alert.raised_at + timedelta(seconds=AFTER + 59)) == 0
    assert alerts_escalate_due(now=alert.due_at + timedelta(seconds=AFTER)) == 1


@pytest.mark.django_db
def test_a_rider_without_contacts_has_nothing_to_escalate():
    room, _, lost, _ = _ride_with_contacts(contacts=0)
    alert = _raise(room, lost, "sos")

    assert alerts_escalate_due(now=_later(alert, AFTER)) == 0


@pytest.mark.django_db(transaction=True)
def test_escalation_runs_on_several_hosts_at_once_write_each_notice_once():
    rides = [_ride_with_contacts(contacts=3) for _ in range(4)]
    alerts = [_raise(room, lost, "silent") for room, _, lost, _ in rides]
    moment = max(_later(alert, AFTER) for alert in alerts)

    results = race([lambda: alerts_escalate_due(now=moment) for _ in range(6)])

    assert sum(results) == 12
    assert AlertContactNotice.objects.count() == 12


@pytest.mark.django_db
def test_the_command_opens_due_countdowns_and_escalates(settings):
    settings.ALERT_CONTACT_AFTER_SECONDS = 30
    room, _, lost, _ = _ride_with_contacts(contacts=2)
    alert = _raise(room, lost, "silent")
    alert.raised_at -= timedelta(seconds=31)
    alert.save(update_fields=["raised_at"])
    output = io.StringIO()

    call_command("raise_due_alerts", stdout=output)
    call_command("raise_due_alerts", stdout=output)

    lines = output.getvalue().splitlines()
    assert lines == [
        "alerts: 0 SOS countdowns ended and raised; 2 emergency contact notices written for "
        "alerts open over 30 s",
        "alerts: 0 SOS countdowns ended and raised; 0 emergency contact notices written for "
        "alerts open over 30 s",
    ]
    assert AlertContactNotice.objects.filter(alert=alert).count() == 2
