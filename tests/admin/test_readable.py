"""Readable everywhere: figures rounded and labelled with the quality score, times to the
second in the staff member's own time zone with UTC beside, a log's page titled by who and
what with the events around it, and the links between riders, rides and logs."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from riders.errors import InvalidRiderData
from riders.services import rider_set_staff_time_zone
from tests.admin.conftest import messages_of
from tests.telemetry.factories import ConnectionLogFactory

LOGS = reverse("admin:telemetry_connectionlog_changelist")
# A winter afternoon: Rome is UTC+1 (CET).
AT = datetime(2026, 12, 6, 13, 5, 52, tzinfo=UTC)


def log_url(log):
    return reverse("admin:telemetry_connectionlog_change", args=[log.pk])


def test_figures_are_rounded_and_labelled_with_the_quality_score(staff_client, ride):
    client, _ = staff_client("support")
    ConnectionLogFactory(
        user=ride.riders[0],
        room=ride.room,
        event_type="quality_report",
        occurred_at=AT,
        metrics={
            "rtt_ms": 491.4756513679622,
            "packet_loss_pct": 8.4681,
            "signal_level": 1,
            "network_type": "3g",
        },
    )
    page = client.get(LOGS).content.decode()
    assert "Round trip 491 ms · Loss 8.5 % · Signal 1/4 · Network 3g" in page
    assert "Quality 3.0 (poor) · Round trip 491 ms" in page
    assert "491.47" not in page


def test_a_malformed_log_says_so_in_the_list(staff_client, ride):
    client, _ = staff_client("support")
    ConnectionLogFactory(user=ride.riders[0], metrics=[1, 2], occurred_at=AT)
    assert "Malformed figures" in client.get(LOGS).content.decode()


def test_times_show_seconds_in_the_staff_members_zone_with_utc_beside(staff_client, ride):
    client, member = staff_client("support")
    log = ConnectionLogFactory(user=ride.riders[0], room=ride.room, occurred_at=AT)
    utc_page = client.get(LOGS).content.decode()
    assert '<time datetime="2026-12-06T13:05:52+00:00">2026-12-06 13:05:52 UTC</time>' in utc_page

    rider_set_staff_time_zone(rider=member, time_zone="Europe/Rome")
    for url in (LOGS, log_url(log)):
        page = client.get(url).content.decode()
        assert "2026-12-06 14:05:52 CET</time>" in page
        assert '<span class="convoy-utc">(13:05:52 UTC)</span>' in page
        assert "Times in Europe/Rome" in page


def test_the_utc_date_is_shown_when_it_differs(staff_client, ride):
    client, member = staff_client("support")
    rider_set_staff_time_zone(rider=member, time_zone="Pacific/Auckland")
    ConnectionLogFactory(user=ride.riders[0], occurred_at=AT)
    page = client.get(LOGS).content.decode()
    assert "2026-12-07 02:05:52 NZDT</time>" in page
    assert "(2026-12-06 13:05:52 UTC)" in page


def test_a_staff_member_sets_their_time_zone(staff_client):
    client, member = staff_client("support")
    url = reverse("admin:time_zone")
    assert 'value="Europe/Rome"' in client.get(url).content.decode()
    wrong = client.post(url, {"time_zone": "Mars/Olympus_Mons"})
    assert wrong.status_code == 400
    member.refresh_from_db()
    assert member.staff_time_zone == ""

    done = client.post(url, {"time_zone": "Europe/Rome", "next": LOGS}, follow=True)
    assert done.redirect_chain[-1][0] == LOGS
    assert messages_of(done) == ["Times are now shown in Europe/Rome."]
    member.refresh_from_db()
    assert member.staff_time_zone == "Europe/Rome"
    elsewhere = client.post(url, {"time_zone": "", "next": "https://evil.example/"})
    assert elsewhere["Location"] == reverse("admin:index")


@pytest.mark.parametrize("wrong", ["Mars/Olympus_Mons", "x" * 500, "../../etc/passwd"])
def test_the_service_refuses_what_is_not_a_zone(staff_client, wrong):
    _, member = staff_client("support")
    with pytest.raises(InvalidRiderData):
        rider_set_staff_time_zone(rider=member, time_zone=wrong)


def test_a_logs_page_is_titled_by_who_and_what_and_offers_the_events_around(staff_client, ride):
    client, _ = staff_client("support")
    marco = ride.riders[0]
    log = ConnectionLogFactory(
        user=marco, room=ride.room, event_type="network_changed", occurred_at=AT
    )
    before = ConnectionLogFactory(user=marco, occurred_at=AT - timedelta(minutes=4))
    long_before = ConnectionLogFactory(user=marco, occurred_at=AT - timedelta(minutes=30))
    other_rider = ConnectionLogFactory(user=ride.riders[1], occurred_at=AT)

    page = client.get(log_url(log)).content.decode()
    assert "<h1>marco-v2 · Network changed</h1>" in page
    link = page.split('" id="events-around"')[0].rsplit('href="', 1)[1].replace("&amp;", "&")

    listed = client.get(link).content.decode()
    assert log_url(log) in listed
    assert log_url(before) in listed
    assert log_url(long_before) not in listed
    assert log_url(other_rider) not in listed


def test_the_time_window_filter(staff_client, ride):
    client, member = staff_client("support")
    inside = ConnectionLogFactory(user=ride.riders[0], occurred_at=AT)
    outside = ConnectionLogFactory(user=ride.riders[0], occurred_at=AT + timedelta(seconds=10))
    rider_set_staff_time_zone(rider=member, time_zone="Europe/Rome")

    # In the staff member's zone, to the second; the end is not included.
    page = client.get(LOGS, {"from": "2026-12-06 14:05:52", "to": "2026-12-06T14:06:02"})
    html = page.content.decode()
    assert log_url(inside) in html
    assert log_url(outside) not in html
    # An offset typed with the time wins over the zone.
    with_offset = client.get(LOGS, {"from": "2026-12-06T13:06:00+00:00"}).content.decode()
    assert log_url(outside) in with_offset
    assert log_url(inside) not in with_offset


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"from": "yesterday"},
            "'yesterday' is not a time (YYYY-MM-DD HH:MM[:SS]); nothing shown.",
        ),
        (
            {"to": "2026-13-40 99:00"},
            "'2026-13-40 99:00' is not a time (YYYY-MM-DD HH:MM[:SS]); nothing shown.",
        ),
        (
            {"from": "2026-12-06 15:00", "to": "2026-12-06 14:00"},
            "The window ends before it starts; nothing shown.",
        ),
    ],
)
def test_a_bad_window_says_so_and_shows_nothing(staff_client, ride, params, message):
    client, _ = staff_client("support")
    log = ConnectionLogFactory(user=ride.riders[0], occurred_at=AT)
    page = client.get(LOGS, params)
    assert page.status_code == 200
    assert message in messages_of(page)
    assert log_url(log) not in page.content.decode()


def test_the_rider_page_links_to_their_logs_rides_and_each_problem(staff_client, ride):
    client, _ = staff_client("support")
    marco = ride.riders[0]
    problem = ConnectionLogFactory(user=marco, room=ride.room, event_type="ice_failed")
    page = client.get(reverse("admin:riders_rider_change", args=[marco.pk])).content.decode()
    assert log_url(problem) in page
    assert reverse("admin:rooms_room_change", args=[ride.room.pk]) in page
    logs_link = page.split('" id="rider-logs"')[0].rsplit('href="', 1)[1].replace("&amp;", "&")
    rides_link = page.split('" id="rider-rides"')[0].rsplit('href="', 1)[1].replace("&amp;", "&")
    assert log_url(problem) in client.get(logs_link).content.decode()
    rides = client.get(rides_link).content.decode()
    assert ride.room.code in rides
    assert "nina-k" not in rides


def test_there_is_no_view_site_link(staff_client):
    client, _ = staff_client("support")
    assert "View site" not in client.get(reverse("admin:index")).content.decode()
