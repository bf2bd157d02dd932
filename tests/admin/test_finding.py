"""Finding things: one search box on every page that goes straight to a rider or a ride, pages
past the end that land on the last page with every filter kept, the index grouped by the
work, and the audit trail behind "Recent actions" and "History"."""

import pytest
from django.urls import reverse

from riders.models import AuditAction
from rooms.services import participant_remove
from tests.admin.conftest import REASON, messages_of
from tests.riders.factories import RiderFactory
from tests.telemetry.factories import ConnectionLogFactory

FIND = reverse("admin:console_search")


@pytest.mark.parametrize(
    "url",
    [
        reverse("admin:index"),
        reverse("admin:riders_rider_changelist"),
        reverse("admin:rooms_room_changelist"),
        reverse("admin:telemetry_connectionlog_changelist"),
        reverse("admin:riders_auditentry_changelist"),
        reverse("admin:time_zone"),
    ],
)
def test_every_page_has_the_search_box(staff_client, url):
    client, _ = staff_client("support")
    page = client.get(url).content.decode()
    assert f'<form id="console-search" method="get" action="{FIND}"' in page


def test_the_search_box_goes_straight_to_the_page(staff_client, ride):
    client, _ = staff_client("support")
    marco = ride.riders[0]
    by_name = client.get(FIND, {"q": "  MARCO-v2 "})
    by_email = client.get(FIND, {"q": marco.email.upper()})
    by_code = client.get(FIND, {"q": ride.room.code.lower()})
    assert by_name["Location"] == reverse("admin:riders_rider_change", args=[marco.pk])
    assert by_email["Location"] == reverse("admin:riders_rider_change", args=[marco.pk])
    assert by_code["Location"] == reverse("admin:rooms_room_change", args=[ride.room.pk])


@pytest.mark.parametrize("typed", ["nobody-here", "50% off_\\", "x" * 5000, "a\x00b"])
def test_anything_else_lists_matching_riders_with_a_message(staff_client, ride, typed):
    client, _ = staff_client("support")
    response = client.get(FIND, {"q": typed}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].startswith(reverse("admin:riders_rider_changelist"))
    assert any("no ride has that code" in message for message in messages_of(response))


def test_an_empty_search_goes_home(staff_client):
    client, _ = staff_client("support")
    assert client.get(FIND, {"q": "   "})["Location"] == reverse("admin:index")


def test_staff_without_a_role_find_nothing(staff_client, ride):
    client, _ = staff_client("plain_staff")
    response = client.get(FIND, {"q": ride.riders[0].username}, follow=True)
    assert response.status_code == 403


def test_paging_past_the_end_shows_the_last_page_keeping_the_filters(staff_client, ride):
    client, _ = staff_client("support")
    for number in range(130):
        RiderFactory(username=f"page-rider-{number:03d}")
    url = reverse("admin:riders_rider_changelist")
    response = client.get(url, {"q": "page-rider", "is_active__exact": "1", "p": "9"})
    html = response.content.decode()
    assert response.status_code == 200
    assert messages_of(response) == [
        "There is no page 9 with these filters; this is the last one, page 2."
    ]
    assert "page-rider-129" in html
    assert "page-rider-000" not in html
    assert "leader-lena" not in html  # the search still holds


def test_paging_past_the_end_of_the_logs_shows_their_last_page(staff_client, ride):
    client, _ = staff_client("support")
    ConnectionLogFactory.create_batch(120, user=ride.riders[0], event_type="ice_failed")
    ConnectionLogFactory(user=ride.riders[1], event_type="connected")
    url = reverse("admin:telemetry_connectionlog_changelist")
    response = client.get(url, {"event_type__exact": "ice_failed", "p": "40"})
    assert response.status_code == 200
    assert messages_of(response) == [
        "There is no page 40 with these filters; this is the last one, page 2."
    ]
    html = response.content.decode()
    assert "ICE failed" in html
    assert "nina-k" not in html


def test_the_index_groups_the_work(staff_client):
    client, _ = staff_client("moderator")
    html = client.get(reverse("admin:index")).content.decode()
    order = [
        html.index(f'class="app-{name} module') for name in ("rides", "riders", "quality", "audit")
    ]
    assert order == sorted(order)


def test_recent_actions_are_the_staff_members_own(staff_client, ride):
    client, _ = staff_client("support")
    other, _ = staff_client("support")
    client.post(
        reverse("admin:rooms_room_remove_rider", args=[ride.room.pk, ride.riders[0].pk]), REASON
    )
    other.post(
        reverse("admin:rooms_room_remove_rider", args=[ride.room.pk, ride.riders[1].pk]), REASON
    )
    html = client.get(reverse("admin:index")).content.decode()
    assert f"Rider removed from a ride: marco-v2 from {ride.room}" in html
    assert "nina-k" not in html
    assert REASON["reason"] in html


def test_history_shows_the_audit_entries_of_a_ride_and_a_rider(staff_client, ride):
    client, member = staff_client("support")
    marco = ride.riders[0]
    participant_remove(room=ride.room, rider=marco, actor=member, reason="Dangerous riding")
    ride_history = client.get(reverse("admin:rooms_room_history", args=[ride.room.pk]))
    rider_history = client.get(reverse("admin:riders_rider_history", args=[marco.pk]))
    for page in (ride_history, rider_history):
        html = page.content.decode()
        assert page.status_code == 200
        assert f"{AuditAction.PARTICIPANT_REMOVED.label}: marco-v2 from {ride.room}" in html
        assert "Dangerous riding" in html
    assert "Ride opened" in ride_history.content.decode()
    untouched = client.get(reverse("admin:riders_rider_history", args=[ride.riders[1].pk]))
    assert "holds nothing about nina-k" in untouched.content.decode()
