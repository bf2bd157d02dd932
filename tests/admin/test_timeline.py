"""The ride page's timelines, on the scripted tunnel ride of the demo: Anna's network drops to
3G at 14:02, she loses audio for 41 s and reconnects at 14:05:52, and all of it can be read
off her row without opening a log."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils.http import urlencode

from config.management.demo import TUNNEL_RIDER, tunnel_story
from riders.services import rider_set_staff_time_zone
from rooms.services import participant_join, room_create
from sessions_rt.store.links import connection_state_set
from sessions_rt.store.members import member_join
from telemetry.models import ConnectionLog
from tests.admin.conftest import messages_of
from tests.riders.factories import RiderFactory

DAY = datetime(2026, 12, 6, tzinfo=UTC)
WINDOW = {"tl_from": "2026-12-06 14:00:00", "tl_to": "2026-12-06 14:30:00"}


@pytest.fixture
def tunnel_ride(db):
    riders = {name: RiderFactory(username=name) for name in ("paul.gt", TUNNEL_RIDER, "ria.adv")}
    room = room_create(creator=riders["paul.gt"], name="Tunnel Pass Ride")
    for name in (TUNNEL_RIDER, "ria.adv"):
        participant_join(rider=riders[name], code=room.code)
    ConnectionLog.objects.bulk_create(
        ConnectionLog(
            user=riders[log.username],
            room=room,
            event_type=log.event_type,
            metrics=log.metrics,
            occurred_at=log.occurred_at,
            recorded_at=log.recorded_at,
            client_event_id=log.client_event_id,
        )
        for log in tunnel_story(day_start=DAY, seed=1)
    )
    return room, riders


def page_of(client, room, params=None):
    url = reverse("admin:rooms_room_change", args=[room.pk])
    return client.get(url, params or {})


def row_of(html: str, username: str) -> str:
    return html.split(f'data-rider="{username}"')[1].split('<div class="tl-row"')[0]


def test_annas_drop_and_its_cause_are_visible_without_reading_a_log(staff_client, tunnel_ride):
    client, _ = staff_client("support")
    room, _ = tunnel_ride
    html = page_of(client, room, WINDOW).content.decode()
    anna = row_of(html, TUNNEL_RIDER)

    assert '<span class="tl-label network" style="left:6.67%">4g → 3g</span>' in anna
    assert "<title>14:02:00 4g → 3g" in anna
    assert "lost 41 s</span>" in anna
    assert "<title>Audio lost 41 s: 14:05:11 → reconnected 14:05:52</title>" in anna
    assert "reconnected</span>" in anna
    assert "ICE restart</span>" in anna
    # 30 s segments over half an hour; in the tunnel, the quality is poor.
    assert "one segment per 30 s" in html
    tunnel = re.search(r"<title>14:04:30 to 14:05:00 · Quality [\d.]+ \((\w+)\)", anna)
    assert tunnel is not None
    assert tunnel.group(1) in ("fair", "poor")
    assert "Loss 8.5 %" in anna
    assert (
        "<title>14:04:30 to 14:05:00 · Quality 2.7 (fair) · Round trip 491 ms (worst) · "
        "Loss 8.5 % · 1 report(s)</title>"
    ) in anna
    # The others rode without trouble.
    for name in ("paul.gt", "ria.adv"):
        row = row_of(html, name)
        assert "tl-drop" not in row
        assert 'class="tl-quality fair"' not in row
        assert 'class="tl-quality poor"' not in row
        assert 'class="tl-quality good"' in row
    # Time ticks every 5 minutes.
    ticks = re.findall(r'<span class="tl-tick" style="left:[\d.]+%">([\d:]+)</span>', html)
    assert ticks == ["14:00", "14:05", "14:10", "14:15", "14:20", "14:25", "14:30"]


def test_a_segment_opens_the_logs_of_its_window(staff_client, tunnel_ride):
    client, _ = staff_client("support")
    room, _ = tunnel_ride
    anna = row_of(page_of(client, room, WINDOW).content.decode(), TUNNEL_RIDER)
    link = re.search(r'<a href="([^"]+)"><title>Audio lost 41 s', anna).group(1)
    listed = client.get(link.replace("&amp;", "&"))
    html = listed.content.decode()
    assert listed.status_code == 200
    assert "Reconnecting" in html
    assert "Reconnected" in html
    assert "paul.gt" not in html
    assert html.count('class="field-event_type"') == 3  # reconnecting, ICE restart, reconnected


def test_the_rider_selector_and_the_zoom_to_a_session(staff_client, tunnel_ride):
    client, _ = staff_client("support")
    room, riders = tunnel_ride
    only_anna = page_of(client, room, {**WINDOW, "tl_rider": str(riders[TUNNEL_RIDER].pk)})
    html = only_anna.content.decode()
    assert f'data-rider="{TUNNEL_RIDER}"' in html
    assert 'data-rider="paul.gt"' not in html
    zoom = re.search(
        r'data-rider="anna.berg">.*?<a href="([^"]+)" class="tl-zoom"', html, re.DOTALL
    ).group(1)
    zoomed = client.get(zoom.replace("&amp;", "&")).content.decode()
    assert "From <time" in zoomed
    assert "2026-12-06 13:59:35 UTC" in zoomed  # her first event, less half a minute
    assert "lost 41 s" in zoomed


def test_the_window_is_read_in_the_staff_members_zone(staff_client, tunnel_ride):
    client, member = staff_client("support")
    room, _ = tunnel_ride
    rider_set_staff_time_zone(rider=member, time_zone="Europe/Rome")
    html = page_of(
        client, room, {"tl_from": "2026-12-06 15:00:00", "tl_to": "2026-12-06 15:30:00"}
    ).content.decode()
    anna = row_of(html, TUNNEL_RIDER)
    assert "<title>Audio lost 41 s: 15:05:11 → reconnected 15:05:52</title>" in anna


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"tl_from": "soon"},
            "'soon' is not a time (YYYY-MM-DD HH:MM[:SS]); the whole ride is shown.",
        ),
        (
            {"tl_from": "2026-12-06 15:00", "tl_to": "2026-12-06 14:00"},
            "A timeline window runs forward and spans at most 366 days; the whole ride is shown.",
        ),
        ({"tl_rider": "not-a-rider"}, "That rider has not been in this ride."),
    ],
)
def test_a_bad_window_or_rider_says_so_and_shows_the_whole_ride(
    staff_client, tunnel_ride, params, message
):
    client, _ = staff_client("support")
    room, _ = tunnel_ride
    response = page_of(client, room, params)
    assert response.status_code == 200
    assert message in messages_of(response)
    assert f'data-rider="{TUNNEL_RIDER}"' in response.content.decode()


def test_riding_now_tells_joined_live_and_reconnecting_apart(staff_client, tunnel_ride):
    client, _ = staff_client("support")
    room, riders = tunnel_ride
    leader = riders["paul.gt"].pk
    member_join(room.pk, leader, leader_id=leader)
    member_join(room.pk, riders[TUNNEL_RIDER].pk, leader_id=leader)
    connection_state_set(
        room.pk,
        riders[TUNNEL_RIDER].pk,
        peer_id=leader,
        state="connecting",
        ice_state="checking",
        now=datetime.now(UTC) - timedelta(minutes=2),
    )
    html = page_of(client, room).content.decode()
    riding = html.split('id="riding-now"')[1].split("</p>")[0]
    assert "<strong>3</strong> joined" in riding
    assert "<strong>2</strong> live" in riding
    assert "<strong>0</strong> reconnecting" in riding
    assert "1 link stuck in ICE checking" in riding
    assert 'class="convoy-stuck"' in html
    assert reverse("admin:riders_rider_change", args=[leader]) in html.split('id="live-panel"')[1]


def test_the_ride_page_query_count(staff_client, tunnel_ride, exact_queries):
    client, _ = staff_client("support")
    room, _ = tunnel_ride
    url = reverse("admin:rooms_room_change", args=[room.pk]) + "?" + urlencode(WINDOW)
    with exact_queries(14):
        client.get(url)
