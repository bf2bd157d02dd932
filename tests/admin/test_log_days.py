"""The connection log list's day-by-day navigation over the table's daily partitions."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from telemetry import partitions
from tests.admin.conftest import messages_of
from tests.riders.factories import RiderFactory
from tests.telemetry.factories import ConnectionLogFactory

URL = "admin:telemetry_connectionlog_changelist"


def test_a_day_shows_that_days_logs_only(staff_client):
    client, _ = staff_client("support")
    today = timezone.now().date()
    yesterday = today - timedelta(days=1)
    partitions.ensure_partitions(yesterday, today)
    rider = RiderFactory()
    wanted = ConnectionLogFactory(
        user=rider, occurred_at=partitions.day_start(yesterday) + timedelta(hours=10)
    )
    ConnectionLogFactory(user=rider, occurred_at=partitions.day_start(today) + timedelta(minutes=1))
    ConnectionLogFactory(
        user=rider, occurred_at=partitions.day_start(yesterday) - timedelta(hours=1)
    )

    page = client.get(reverse(URL), {"day": yesterday.isoformat()}).content.decode()

    assert page.count('class="field-event_type"') == 1
    assert str(wanted.pk) in page


def test_the_days_offered_are_the_partitions_up_to_today_newest_first(staff_client):
    client, _ = staff_client("support")
    today = timezone.now().date()
    partitions.ensure_partitions(today - timedelta(days=3), today + timedelta(days=3))

    page = client.get(reverse(URL)).content.decode()

    offered = [
        day
        for day in (today + timedelta(days=n) for n in range(-3, 4))
        if f"?day={day.isoformat()}" in page
    ]
    assert offered == [today - timedelta(days=n) for n in (3, 2, 1, 0)]
    positions = [page.index(f"?day={day.isoformat()}") for day in offered]
    assert positions == sorted(positions, reverse=True)


def test_a_day_that_is_not_a_date_says_so(staff_client):
    client, _ = staff_client("support")
    ConnectionLogFactory()

    response = client.get(reverse(URL), {"day": "2026-13-45"})

    assert response.status_code == 200
    assert "is not a day (YYYY-MM-DD)" in messages_of(response)[0]
    assert response.content.decode().count('class="field-event_type"') == 0
