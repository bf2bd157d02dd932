"""The console's ride alerts: every ride's, newest first, open ones filterable; support
acknowledges and resolves them, each change in the audit trail; the list's query count is
fixed."""

from datetime import timedelta

import pytest
from django.urls import reverse

from riders.models import AuditAction, AuditEntry
from rooms.alerts import alert_raise, alert_resolve
from rooms.models import AlertStatus, RideAlert
from rooms.services import participant_join, room_create
from tests.admin.conftest import STAFF_KINDS, action_post, messages_of
from tests.riders.factories import RiderFactory

CHANGELIST = "admin:rooms_ridealert_changelist"
CAN_HANDLE = {"support": True, "moderator": True, "plain_staff": False, "superuser": True}


def _alerts_in_rides(count: int) -> list[RideAlert]:
    alerts = []
    for number in range(count):
        leader, lost = RiderFactory.create(), RiderFactory.create()
        room = room_create(creator=leader, name=f"Ride {number}")
        participant_join(rider=lost, code=room.code)
        alert, _ = alert_raise(
            room_id=room.pk,
            rider_id=lost.pk,
            kind=("sos", "silent", "split")[number % 3],
            position={"lat": 46.0, "lon": 8.0},
            trail=[],
            details={},
        )
        alert.raised_at -= timedelta(minutes=number)
        alert.save(update_fields=["raised_at"])
        alerts.append(alert)
    return alerts


def test_the_list_spans_rides_newest_first_and_filters_the_open_ones(staff_client):
    client, member = staff_client("support")
    alerts = _alerts_in_rides(3)
    alert_resolve(alert_id=alerts[0].pk, room=alerts[0].room, by=member, resolution="handled")

    everything = client.get(reverse(CHANGELIST))
    still_open = client.get(reverse(CHANGELIST), {"status__exact": "open"})

    assert [a.pk for a in everything.context["cl"].result_list] == [a.pk for a in alerts]
    assert [a.pk for a in still_open.context["cl"].result_list] == [a.pk for a in alerts[1:]]


@pytest.mark.parametrize("kind", STAFF_KINDS)
def test_acknowledging_and_resolving_from_the_list(staff_client, kind):
    client, member = staff_client(kind)
    alerts = _alerts_in_rides(2)
    url = reverse(CHANGELIST)

    acknowledged = action_post(client, url, "acknowledge_alerts", [a.pk for a in alerts])
    resolved = action_post(client, url, "resolve_alerts_handled", [alerts[0].pk])

    statuses = sorted(RideAlert.objects.values_list("status", flat=True))
    if not CAN_HANDLE[kind]:
        # Plain staff cannot even see the list; nothing changed.
        assert acknowledged.status_code == 403
        assert statuses == ["open", "open"]
        return
    assert messages_of(acknowledged)[-1] == "Acknowledged 2 alert(s); their rides were told."
    assert messages_of(resolved)[-1] == "Resolved 1 alert(s); their rides were told."
    assert statuses == ["acknowledged", "resolved"]
    entries = AuditEntry.objects.filter(actor=member).order_by("created_at")
    assert [entry.action for entry in entries] == [
        AuditAction.ALERT_ACKNOWLEDGED,
        AuditAction.ALERT_ACKNOWLEDGED,
        AuditAction.ALERT_RESOLVED,
    ]
    assert entries[2].details["resolution"] == "handled"
    assert entries[2].target_id == str(alerts[0].pk)


def test_a_resolved_alert_is_refused_in_the_services_words(staff_client):
    client, member = staff_client("support")
    (alert,) = _alerts_in_rides(1)
    alert_resolve(alert_id=alert.pk, room=alert.room, by=member, resolution="false_alarm")

    answer = action_post(client, reverse(CHANGELIST), "resolve_alerts_handled", [alert.pk])

    assert messages_of(answer) == [
        f"SOS alert of {alert.rider} in {alert.room}: This alert has already been resolved."
    ]
    assert RideAlert.objects.get().resolution == "false_alarm"


def test_the_alert_page_shows_what_it_kept(staff_client):
    client, _ = staff_client("support")
    (alert,) = _alerts_in_rides(1)

    page = client.get(reverse("admin:rooms_ridealert_change", args=[alert.pk]))

    assert page.status_code == 200
    assert alert.rider.username in page.content.decode()
    assert RideAlert.objects.get().status == AlertStatus.OPEN


@pytest.mark.parametrize("rows", [3, 30])
def test_the_list_runs_a_fixed_number_of_queries(staff_client, exact_queries, rows):
    client, _ = staff_client("support")
    _alerts_in_rides(rows)

    # session, staff member, their permissions (2), count, the page with its riders and rides
    with exact_queries(6):
        response = client.get(reverse(CHANGELIST))

    assert response.status_code == 200
