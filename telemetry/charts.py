"""The connection-quality chart of a ride for the support console: server-side SVG, so it
draws without JavaScript or anything fetched from the internet."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DataError, transaction
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from rooms.models import Room
from telemetry.models import EventType
from telemetry.selectors import (
    BUCKET_SIZES,
    MAX_STATS_WINDOW,
    StatsReport,
    connection_log_report,
    connection_log_span_for_room,
)

WIDTH, HEIGHT = 760, 270
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 30, 40
# Buckets further apart than this many bucket widths are not joined by a line.
MAX_JOINED_GAP = 4
TARGET_BUCKETS = 120
RECONNECT_TYPES = (EventType.RECONNECTING, EventType.RECONNECTED, EventType.ICE_RESTART)


class ChartUnavailable(Exception):
    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class QualityChart:
    svg: SafeString | None  # None when the ride has no connection logs
    since: datetime | None
    until: datetime | None
    bucket: str | None
    total_events: int
    reconnects: int


def room_quality_chart(*, room: Room, now: datetime | None = None) -> QualityChart:
    """The ride's round-trip time (p50, p95) and packet loss per time bucket over its life.

    Raises ChartUnavailable when some stored metrics cannot be read as numbers.
    """
    try:
        # A savepoint: a malformed stored value fails the query, not the page's transaction.
        with transaction.atomic():
            report = _room_report(room, now or timezone.now())
    except DataError:
        raise ChartUnavailable(
            "The connection chart of this ride cannot be drawn: some of its logs have "
            "malformed figures (text where a number belongs)."
        ) from None
    if report is None:
        return QualityChart(None, None, None, None, total_events=0, reconnects=0)
    reconnects = sum(report.events_by_type[kind] for kind in RECONNECT_TYPES)
    return QualityChart(
        svg=quality_chart_svg(report),
        since=report.since,
        until=report.until,
        bucket=report.bucket,
        total_events=report.total_events,
        reconnects=reconnects,
    )


def _room_report(room: Room, now: datetime) -> StatsReport | None:
    span = connection_log_span_for_room(room=room)
    if span is None:
        return None
    first, last = span
    since = min(room.created_at, first)
    until = max(room.deactivated_at or now, last) + timedelta(seconds=1)
    since = max(since, until - MAX_STATS_WINDOW)
    bucket = next(
        (name for name, size in BUCKET_SIZES.items() if (until - since) / size <= TARGET_BUCKETS),
        "1d",
    )
    return connection_log_report(since=since, until=until, bucket=bucket, room=room)


def quality_chart_svg(report: StatsReport) -> SafeString:
    """Lines of p50 and p95 round-trip time (left axis), bars of average packet loss (right
    axis), and a red mark on every bucket with reconnects."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = (report.until - report.since).total_seconds()
    width = _bucket_width(report).total_seconds() / span * plot_w

    def x(moment: datetime) -> float:
        return LEFT + (moment - report.since).total_seconds() / span * plot_w

    rtt_max = _nice_ceiling(max((b.rtt_ms.p95 or b.rtt_ms.p50 or 0) for b in report.buckets))
    loss_max = _nice_ceiling(max((b.packet_loss_pct.average or 0) for b in report.buckets))

    def y(value: float, top: float) -> float:
        return TOP + plot_h * (1 - value / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'width="100%" role="img" class="convoy-quality-chart" '
        f'data-buckets="{len(report.buckets)}" aria-labelledby="quality-title">',
        '<title id="quality-title">Connection quality over the ride: round-trip time p50 and '
        "p95, packet loss and reconnects per bucket</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
        'stroke="#ccc"/>',
    ]
    for bucket in report.buckets:
        loss = bucket.packet_loss_pct.average
        if loss:
            top = y(loss, loss_max)
            parts.append(
                f'<rect class="loss" x="{x(bucket.start):.1f}" y="{top:.1f}" '
                f'width="{max(width - 1, 1):.1f}" height="{TOP + plot_h - top:.1f}" '
                f'fill="#f4b183" opacity="0.7"><title>{escape(_when(bucket.start))}: packet loss '
                f"{loss:.1f} %</title></rect>"
            )
    for metric, colour, dash in (("p95", "#c00000", "5 3"), ("p50", "#1f4e79", "")):
        for segment in _segments(report, metric):
            points = " ".join(
                f"{x(start) + width / 2:.1f},{y(value, rtt_max):.1f}" for start, value in segment
            )
            parts.append(
                f'<polyline class="rtt-{metric}" points="{points}" fill="none" '
                f'stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>'
            )
            if len(segment) == 1:  # a lone bucket: a dot, since a one-point line is invisible
                dot_x, dot_y = points.split(",")
                parts.append(f'<circle cx="{dot_x}" cy="{dot_y}" r="2.5" fill="{colour}"/>')
    for bucket in report.buckets:
        count = sum(bucket.events_by_type[kind] for kind in RECONNECT_TYPES)
        if count:
            cx = x(bucket.start) + width / 2
            parts.append(
                f'<path class="reconnect" d="M{cx - 5:.1f},{TOP + plot_h + 12} '
                f'L{cx + 5:.1f},{TOP + plot_h + 12} L{cx:.1f},{TOP + plot_h + 3} Z" '
                f'fill="#d00"><title>{escape(_when(bucket.start))}: {count} reconnect event(s)</title>'
                "</path>"
            )
    parts += [
        _text(LEFT - 6, TOP + 10, f"{rtt_max:g} ms", anchor="end"),
        _text(LEFT - 6, TOP + plot_h, "0", anchor="end"),
        _text(WIDTH - RIGHT + 6, TOP + 10, f"{loss_max:g} %", anchor="start"),
        _text(LEFT, HEIGHT - 6, _when(report.since), anchor="start"),
        _text(WIDTH - RIGHT, HEIGHT - 6, _when(report.until), anchor="end"),
        _text(
            WIDTH / 2,
            16,
            f"round trip p50 (solid) and p95 (dashed) · packet loss (bars) · reconnects (▲) "
            f"· {report.bucket} buckets",
            anchor="middle",
        ),
        "</svg>",
    ]
    # Safe: numbers we formatted, and every text escaped on the way in.
    return mark_safe("".join(parts))


def _segments(report: StatsReport, metric: str) -> list[list[tuple[datetime, float]]]:
    """Runs of nearby buckets that have the figure: a bucket without it, or a long stretch
    of time with no events at all (a tunnel, a café stop), breaks the line."""
    width = _bucket_width(report)
    segments: list[list[tuple[datetime, float]]] = []
    current: list[tuple[datetime, float]] = []
    for bucket in report.buckets:
        value = getattr(bucket.rtt_ms, metric)
        adjacent = bool(current) and bucket.start - current[-1][0] <= MAX_JOINED_GAP * width
        if current and (value is None or not adjacent):
            segments.append(current)
            current = []
        if value is not None:
            current.append((bucket.start, value))
    if current:
        segments.append(current)
    return segments


def _bucket_width(report: StatsReport) -> timedelta:
    if report.bucket is None:
        raise ValueError("A chart plots a report that has buckets.")
    return BUCKET_SIZES[report.bucket]


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2 or 5 times a power of ten at or above the value; at least 1."""
    if value <= 1:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= value)


def _when(moment: datetime) -> str:
    # The console's format: to the second, in the zone of the staff member's request.
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S %Z}"


def _text(x: float, y: float, text: str, *, anchor: str) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" fill="#333" '
        f'text-anchor="{anchor}">{escape(text)}</text>'
    )
