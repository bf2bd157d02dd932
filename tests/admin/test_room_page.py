"""The room page's panels: who is online now (from Redis) and the connection-quality chart
(from telemetry statistics)."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from config import redis_config
from sessions_rt.store.links import connection_state_set
from sessions_rt.store.members import member_join
from sessions_rt.store.presence import presence_update
from telemetry.charts import quality_chart_svg, room_quality_chart
from telemetry.selectors import connection_log_report
from tests.admin.conftest import messages_of
from tests.telemetry.factories import ConnectionLogFactory

UNREACHABLE_REDIS = redis_config.cache_settings("redis://127.0.0.1:1/0", "convoy-test")


def room_page(client, room):
    return client.get(reverse("admin:rooms_room_change", args=[room.pk]))


def add_quality_logs(ride, *, start):
    rider = ride.riders[0]
    for minute, rtt, loss in ((0, 60, 0.5), (1, 80, 1.0), (2, 300, 8.0), (40, 90, 2.0)):
        ConnectionLogFactory(
            user=rider,
            room=ride.room,
            event_type="quality_report",
            occurred_at=start + timedelta(minutes=minute),
            metrics={"rtt_ms": rtt, "packet_loss_pct": loss},
        )
    ConnectionLogFactory(
        user=rider,
        room=ride.room,
        event_type="reconnected",
        occurred_at=start + timedelta(minutes=2),
    )


def test_online_now_lists_live_riders_with_status_and_webrtc_links(staff_client, ride):
    client, _ = staff_client("support")
    room, leader, marco = ride.room, ride.leader, ride.riders[0]
    member_join(room.pk, leader.pk, leader_id=leader.pk)
    member_join(room.pk, marco.pk, leader_id=leader.pk)
    presence_update(room.pk, marco.pk, status="riding", battery_pct=41, network_type="cellular")
    connection_state_set(
        room.pk, marco.pk, peer_id=leader.pk, state="connected", ice_state="connected"
    )

    page = room_page(client, room).content.decode()
    assert page.count('class="live-member"') == 2
    assert "leader-lena" in page
    assert "riding" in page
    assert "41 %" in page
    assert "to leader-lena: connected (ICE connected)" in page


def test_a_ride_nobody_is_connected_to_says_so(staff_client, ride):
    client, _ = staff_client("support")
    assert (
        "Nobody is connected to this ride right now."
        in room_page(client, ride.room).content.decode()
    )


def test_with_redis_down_the_page_still_opens_and_says_why_live_state_is_missing(
    staff_client, ride
):
    client, _ = staff_client("support")
    with override_settings(CACHES=UNREACHABLE_REDIS):
        response = room_page(client, ride.room)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Live state is unavailable right now (Redis cannot be reached)" in page
    # Everything from PostgreSQL is still there: the participants and the chart panel.
    assert "marco-v2" in page
    assert "Connection quality over the ride" in page


def test_the_chart_draws_round_trip_loss_and_reconnects(staff_client, ride):
    client, _ = staff_client("support")
    add_quality_logs(ride, start=ride.room.created_at - timedelta(hours=1))
    response = room_page(client, ride.room)
    page = response.content.decode()
    assert messages_of(response) == []
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page
    assert 'class="rtt-p50"' in page
    assert 'class="rtt-p95"' in page
    assert page.count('class="loss"') == 4  # one-minute buckets: four carry packet loss
    assert page.count('class="reconnect"') == 1
    assert "5 connection events" in page


def test_a_ride_without_logs_has_no_chart(staff_client, ride):
    client, _ = staff_client("support")
    assert "No connection logs for this ride yet." in room_page(client, ride.room).content.decode()


def test_the_chart_covers_the_ride_from_its_first_log_to_its_end(ride):
    start = ride.room.created_at - timedelta(days=2)
    add_quality_logs(ride, start=start)
    chart = room_quality_chart(room=ride.room, now=timezone.now())
    assert chart.since == start
    assert chart.until > ride.room.created_at
    assert chart.bucket == "1h"
    assert (chart.total_events, chart.reconnects) == (5, 1)


def test_gaps_in_the_figures_break_the_lines(ride):
    start = timezone.now() - timedelta(hours=3)
    add_quality_logs(ride, start=start)
    report = connection_log_report(
        since=start, until=start + timedelta(hours=1), bucket="5m", room=ride.room
    )
    svg = str(quality_chart_svg(report))
    # Minutes 0-2 share the first bucket and minute 40 has its own: two runs of one point.
    assert svg.count('class="rtt-p50"') == 2
    assert 'data-buckets="2"' in svg


@pytest.mark.parametrize("kind", ["support", "superuser"])
def test_the_rider_page_shows_their_rides_and_recent_connection_problems(staff_client, ride, kind):
    client, _ = staff_client(kind)
    rider = ride.riders[0]
    ConnectionLogFactory(user=rider, room=ride.room, event_type="ice_failed")
    ConnectionLogFactory(
        user=rider, room=ride.room, event_type="quality_report", metrics={"packet_loss_pct": 12}
    )
    ConnectionLogFactory(
        user=rider, room=ride.room, event_type="quality_report", metrics={"packet_loss_pct": 0.1}
    )
    page = client.get(reverse("admin:riders_rider_change", args=[rider.pk])).content.decode()
    assert "ICE failed" in page
    # Labelled and rounded, with the quality score of the figures.
    assert page.count("Loss 12.0 %") == 1
    assert "Loss 0.1 %" not in page
    assert "Quality 3.3 (poor) · Loss 12.0 %" in page
    assert "<td>0.1</td>" not in page
    assert str(ride.room) in page
