from datetime import UTC, datetime, timedelta

import pytest

from telemetry.errors import InvalidTimeWindow
from telemetry.models import EventType
from telemetry.selectors import (
    MetricSummary,
    QualitySummary,
    connection_log_report,
    connection_logs_for_rider,
)
from tests.riders.factories import RiderFactory
from tests.rooms.factories import RoomFactory
from tests.telemetry.factories import ConnectionLogFactory

pytestmark = pytest.mark.django_db

SINCE = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
UNTIL = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
EMPTY = MetricSummary(samples=0, average=None, p50=None, p95=None)


def at(minutes, **fields):
    return ConnectionLogFactory(occurred_at=SINCE + timedelta(minutes=minutes), **fields)


@pytest.fixture
def ride():
    """A hand-checked hour of one ride, with look-alike events that must be left out.

    In the room, inside [SINCE, UNTIL):  rtt 10, 20, 30, 40 · jitter 1, 2, 3 · loss 0, 0, 5, 10
    Alice's events inside the window:     rtt 10, 20 (this room) and 90 (another room)
    """
    alice, bob = RiderFactory(), RiderFactory()
    room, other_room = RoomFactory(creator=alice), RoomFactory()
    report = EventType.QUALITY_REPORT
    metrics = [
        (alice, {"rtt_ms": 10, "jitter_ms": 1, "packet_loss_pct": 0}),
        (alice, {"rtt_ms": 20, "jitter_ms": 2, "packet_loss_pct": 0}),
        (bob, {"rtt_ms": 30.0, "jitter_ms": 3, "packet_loss_pct": 5}),
        (bob, {"rtt_ms": 40, "packet_loss_pct": 10, "network_type": "4g"}),
    ]
    for minute, (rider, values) in enumerate(metrics, start=10):
        at(minute, user=rider, room=room, event_type=report, metrics=values)
    at(0, user=alice, room=room, event_type=EventType.RECONNECTED)  # exactly at SINCE: in
    at(5, user=alice, room=room, event_type=EventType.CONNECTED)
    at(
        50,
        user=alice,
        room=room,
        event_type=EventType.DISCONNECTED,
        metrics={"network_type": "wifi"},
    )
    # Outside the window, at its edges: left out of everything.
    at(60, user=alice, room=room, event_type=report, metrics={"rtt_ms": 1000})  # exactly UNTIL
    at(-1, user=alice, room=room, event_type=report, metrics={"rtt_ms": 1000})
    # Alice elsewhere inside the window: in her statistics, not the room's.
    at(20, user=alice, room=other_room, event_type=report, metrics={"rtt_ms": 90})
    at(25, user=alice, room=None, event_type=EventType.ICE_FAILED)
    # Someone else in another room.
    at(30, user=RiderFactory(), room=other_room, event_type=report, metrics={"rtt_ms": 5000})
    return {"alice": alice, "bob": bob, "room": room}


def zero_counts(**counts):
    return {value: counts.get(value, 0) for value in EventType.values}


def test_room_statistics_match_the_hand_checked_figures(ride, exact_queries):
    with exact_queries(1):
        stats = connection_log_report(room=ride["room"], since=SINCE, until=UNTIL)
    assert (stats.since, stats.until) == (SINCE, UNTIL)
    assert stats.total_events == 7
    assert stats.events_by_type == zero_counts(
        quality_report=4, reconnected=1, connected=1, disconnected=1
    )
    assert stats.rtt_ms.samples == 4
    assert stats.rtt_ms.average == pytest.approx(25, abs=1e-9)
    assert stats.rtt_ms.p50 == pytest.approx(25, abs=1e-9)
    assert stats.rtt_ms.p95 == pytest.approx(38.5, abs=1e-9)
    # jitter 1, 2, 3: p95 sits 0.9 of the way from 2 to 3.
    assert stats.jitter_ms.samples == 3
    assert stats.jitter_ms.average == pytest.approx(2, abs=1e-9)
    assert stats.jitter_ms.p50 == pytest.approx(2, abs=1e-9)
    assert stats.jitter_ms.p95 == pytest.approx(2.9, abs=1e-9)
    # loss 0, 0, 5, 10: the median halves 0 and 5; p95 is 0.85 of the way from 5 to 10.
    assert stats.packet_loss_pct.samples == 4
    assert stats.packet_loss_pct.average == pytest.approx(3.75, abs=1e-9)
    assert stats.packet_loss_pct.p50 == pytest.approx(2.5, abs=1e-9)
    assert stats.packet_loss_pct.p95 == pytest.approx(9.25, abs=1e-9)


def test_rider_statistics_cover_every_room_and_leave_out_other_riders(ride, exact_queries):
    with exact_queries(1):
        stats = connection_log_report(rider=ride["alice"], since=SINCE, until=UNTIL)
    assert stats.total_events == 7
    assert stats.events_by_type == zero_counts(
        quality_report=3, reconnected=1, connected=1, disconnected=1, ice_failed=1
    )
    # rtt 10, 20, 90: p95 sits 0.9 of the way from 20 to 90.
    assert stats.rtt_ms.samples == 3
    assert stats.rtt_ms.average == pytest.approx(40, abs=1e-9)
    assert stats.rtt_ms.p50 == pytest.approx(20, abs=1e-9)
    assert stats.rtt_ms.p95 == pytest.approx(83, abs=1e-9)
    assert stats.jitter_ms.samples == 2
    assert stats.jitter_ms.average == pytest.approx(1.5, abs=1e-9)
    assert stats.packet_loss_pct.samples == 2
    assert stats.packet_loss_pct.p95 == pytest.approx(0, abs=1e-9)


def test_bob_sees_only_his_two_reports(ride):
    stats = connection_log_report(rider=ride["bob"], since=SINCE, until=UNTIL)
    assert stats.total_events == 2
    assert stats.events_by_type == zero_counts(quality_report=2)
    assert (stats.rtt_ms.samples, stats.rtt_ms.average) == (2, pytest.approx(35, abs=1e-9))
    assert stats.jitter_ms == MetricSummary(samples=1, average=3.0, p50=3.0, p95=3.0, p99=3.0)


def test_the_window_includes_its_start_and_excludes_its_end(ride):
    start_only = connection_log_report(
        room=ride["room"], since=SINCE, until=SINCE + timedelta(minutes=1)
    )
    assert start_only.events_by_type == zero_counts(reconnected=1)
    end_only = connection_log_report(
        room=ride["room"], since=UNTIL, until=UNTIL + timedelta(minutes=1)
    )
    assert end_only.total_events == 1
    assert end_only.rtt_ms == MetricSummary(
        samples=1, average=1000.0, p50=1000.0, p95=1000.0, p99=1000.0
    )


def test_an_empty_window_has_every_type_at_zero_and_no_figures(ride, exact_queries):
    later = UNTIL + timedelta(days=1)
    with exact_queries(1):
        stats = connection_log_report(
            room=ride["room"], since=later, until=later + timedelta(hours=1)
        )
    assert stats.total_events == 0
    assert stats.events_by_type == zero_counts()
    assert list(stats.events_by_type) == EventType.values
    assert (stats.rtt_ms, stats.jitter_ms, stats.packet_loss_pct) == (EMPTY, EMPTY, EMPTY)


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        (UNTIL, SINCE, "until"),
        (SINCE, SINCE, "until"),
        (SINCE.replace(tzinfo=None), UNTIL, "since"),
        (SINCE, UNTIL.replace(tzinfo=None), "until"),
        ("2026-05-01T08:00:00Z", UNTIL, "since"),
        (None, UNTIL, "since"),
        (SINCE, None, "until"),
        (UNTIL - timedelta(days=366, seconds=1), UNTIL, "since"),
    ],
)
def test_statistics_refuse_a_bad_window(rider, exact_queries, since, until, field):
    room = RoomFactory()
    for selector, kwargs in (
        (connection_log_report, {"rider": rider}),
        (connection_log_report, {"room": room}),
    ):
        with exact_queries(0), pytest.raises(InvalidTimeWindow) as caught:
            selector(since=since, until=until, **kwargs)
        assert field in caught.value.fields


def test_statistics_accept_a_window_of_366_days(rider):
    stats = connection_log_report(rider=rider, since=UNTIL - timedelta(days=366), until=UNTIL)
    assert stats.total_events == 0


# --- log listings -----------------------------------------------------------------------------


def test_rider_logs_are_newest_first_with_their_room_and_only_theirs(ride, exact_queries):
    with exact_queries(1):
        logs = list(connection_logs_for_rider(rider=ride["bob"]))
        rooms = {log.room.code for log in logs}
    assert [log.occurred_at for log in logs] == [
        SINCE + timedelta(minutes=13),
        SINCE + timedelta(minutes=12),
    ]
    assert rooms == {ride["room"].code}


def test_rider_logs_within_a_window(ride):
    logs = connection_logs_for_rider(
        rider=ride["alice"], since=SINCE + timedelta(minutes=5), until=SINCE + timedelta(minutes=25)
    )
    minutes = [int((log.occurred_at - SINCE).total_seconds() // 60) for log in logs]
    assert minutes == [20, 11, 10, 5]


@pytest.mark.parametrize(
    ("since", "until"),
    [(UNTIL, SINCE), (SINCE.replace(tzinfo=None), None), (None, "yesterday")],
)
def test_log_listings_refuse_a_bad_window(rider, since, until):
    with pytest.raises(InvalidTimeWindow):
        connection_logs_for_rider(rider=rider, since=since, until=until)


# --- reconnects, bitrate, quality, worst segments -------------------------------------------


@pytest.fixture
def rough_ride():
    """Two hours of one room, hand-checked, in 1-hour buckets.

    08:00-09:00  alice: reconnecting 08:10:00, reconnected 08:10:04 (4 s);
                 bob:   reconnecting 08:20:00, quality report, reconnected 08:20:10 (10 s);
                 reports rtt 80 / jitter 5 / loss 1 (MOS 4.318910784) and bitrate 32, 48
    09:00-10:00  alice: reconnected 09:30 with no reconnecting before it (no time);
                 one report rtt 100 / jitter 0 / loss 20 (MOS 2.148074809), bitrate 24
    """
    alice, bob = RiderFactory(), RiderFactory()
    room = RoomFactory(creator=alice)
    good = {"rtt_ms": 80, "jitter_ms": 5, "packet_loss_pct": 1}
    rows = [
        (alice, 10, EventType.RECONNECTING, {}),
        (alice, 10 + 4 / 60, EventType.RECONNECTED, {}),
        (bob, 20, EventType.RECONNECTING, {}),
        (bob, 20 + 5 / 60, EventType.QUALITY_REPORT, {**good, "bitrate_kbps": 32}),
        (bob, 20 + 10 / 60, EventType.RECONNECTED, {}),
        (alice, 40, EventType.QUALITY_REPORT, {**good, "bitrate_kbps": 48}),
        (alice, 90, EventType.RECONNECTED, {}),
        (
            alice,
            100,
            EventType.QUALITY_REPORT,
            {"rtt_ms": 100, "jitter_ms": 0, "packet_loss_pct": 20, "bitrate_kbps": 24},
        ),
    ]
    for rider, minute, kind, metrics in rows:
        at(minute, user=rider, room=room, event_type=kind, metrics=metrics)
    return room


def test_report_reconnects_bitrate_quality_and_worst_segments(rough_ride, exact_queries):
    with exact_queries(1):
        report = connection_log_report(
            since=SINCE, until=SINCE + timedelta(hours=2), bucket="1h", room=rough_ride
        )
    first, second = report.buckets
    assert (first.start, second.start) == (SINCE, SINCE + timedelta(hours=1))
    assert (report.reconnects, first.reconnects, second.reconnects) == (3, 2, 1)
    assert report.mean_time_to_reconnect_ms == pytest.approx(7000, abs=1e-6)
    assert first.mean_time_to_reconnect_ms == pytest.approx(7000, abs=1e-6)
    assert second.mean_time_to_reconnect_ms is None
    # bitrate 24, 32, 48: p50 32, p95 = 32 + 0.9 * 16, p99 = 32 + 0.98 * 16
    assert report.bitrate_kbps == MetricSummary(
        samples=3,
        average=pytest.approx(104 / 3),
        p50=32.0,
        p95=pytest.approx(46.4),
        p99=pytest.approx(47.68),
    )
    assert first.quality == QualitySummary(
        samples=2, mos=pytest.approx(4.318910784), rating="excellent"
    )
    assert second.quality == QualitySummary(
        samples=1, mos=pytest.approx(2.148074809), rating="lost"
    )
    total_mos = (2 * 4.318910784 + 2.148074809) / 3  # 3.5953: just under "good"
    assert report.quality == QualitySummary(samples=3, mos=pytest.approx(total_mos), rating="poor")
    worst = report.worst_segments
    assert [(s.start, s.end) for s in worst] == [
        (SINCE + timedelta(hours=1), SINCE + timedelta(hours=2)),
        (SINCE, SINCE + timedelta(hours=1)),
    ]
    assert worst[0].quality.rating == "lost"
    assert worst[0].packet_loss_pct.average == 20
    assert worst[0].reconnects == 1


def test_a_report_without_buckets_has_no_segments(rough_ride):
    report = connection_log_report(since=SINCE, until=SINCE + timedelta(hours=2), room=rough_ride)
    assert report.buckets == []
    assert report.worst_segments == []
    assert report.total_events == 8
