from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import (
    Max,
    Min,
    Q,
    QuerySet,
)
from django.utils import timezone

from riders.models import Rider
from rooms.models import Room
from telemetry.errors import InvalidTimeWindow
from telemetry.models import ConnectionLog, EventType
from telemetry.quality import mos_sql, rating
from telemetry.server_binding import server_binding_cursor

MAX_STATS_WINDOW = timedelta(days=366)
BUCKET_SIZES = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "1d": timedelta(days=1),
}
MAX_BUCKETS = 2000
SUMMARISED_METRICS = ("rtt_ms", "jitter_ms", "packet_loss_pct", "bitrate_kbps")
WORST_SEGMENTS = 5
# EventType.values builds a new list on every access; a report reads it once per bucket.
_TYPE_COLUMNS = tuple((t, f"type_{t}") for t in EventType.values)


# A report builds several of these per bucket: plain slotted dataclasses, which are created
# several times faster than frozen ones. Nothing changes them after the report is built.
@dataclass(slots=True)
class MetricSummary:
    """A metric over the events that carry it; the figures are None when no event does."""

    samples: int
    average: float | None
    p50: float | None
    p95: float | None
    p99: float | None = None


@dataclass(frozen=True)
class QualitySummary:
    """The mean MOS (telemetry.quality) of the events that carry rtt, jitter or loss."""

    samples: int
    mos: float | None
    rating: str | None


NO_QUALITY = QualitySummary(samples=0, mos=None, rating=None)


@dataclass(slots=True)
class StatsBucket:
    start: datetime
    total_events: int
    events_by_type: dict[str, int]
    rtt_ms: MetricSummary
    jitter_ms: MetricSummary
    packet_loss_pct: MetricSummary
    bitrate_kbps: MetricSummary | None = None
    reconnects: int = 0
    mean_time_to_reconnect_ms: float | None = None
    quality: QualitySummary = NO_QUALITY


@dataclass(frozen=True)
class Segment:
    """One of the worst stretches of a ride: a bucket with a low mean MOS."""

    start: datetime
    end: datetime
    quality: QualitySummary
    packet_loss_pct: MetricSummary
    reconnects: int


@dataclass(frozen=True)
class StatsReport:
    since: datetime
    until: datetime
    bucket: str | None
    buckets: list[StatsBucket]
    total_events: int
    events_by_type: dict[str, int]
    rtt_ms: MetricSummary
    jitter_ms: MetricSummary
    packet_loss_pct: MetricSummary
    bitrate_kbps: MetricSummary | None = None
    reconnects: int = 0
    mean_time_to_reconnect_ms: float | None = None
    quality: QualitySummary = NO_QUALITY
    # The buckets of lowest mean MOS, worst first (only with a bucket size).
    worst_segments: list[Segment] = field(default_factory=list)


def connection_log_report(
    *,
    since: datetime,
    until: datetime,
    bucket: str | None = None,
    rider: Rider | None = None,
    room: Room | None = None,
) -> StatsReport:
    """Totals over the window and, with a bucket size, the same figures per time bucket.

    One query: totals and, grouped by ``date_bin(bucket, occurred_at, since)`` so buckets
    line up with the start of the window, the buckets; then the worst segments among them.
    """
    if rider is not None and room is None:
        subject = ("user_id", rider.pk)
    elif room is not None and rider is None:
        subject = ("room_id", room.pk)
    else:
        raise ValueError("A report is of exactly one rider or one room.")
    _check_window(since, until, bounded=True)
    if bucket is not None and bucket not in BUCKET_SIZES:
        raise InvalidTimeWindow(fields={"bucket": [f"One of {', '.join(BUCKET_SIZES)}."]})
    width = None
    if bucket is not None:
        width = BUCKET_SIZES[bucket]
        if (until - since) / width > MAX_BUCKETS:
            problem = (
                f"At most {MAX_BUCKETS} buckets per report: widen the bucket or narrow the window."
            )
            raise InvalidTimeWindow(problem, fields={"bucket": [problem]})
    totals, rows = _figures_by_bucket(subject, since=since, until=until, width=width)
    series = [StatsBucket(start=start, **figures) for start, figures in rows]
    return StatsReport(
        since=since,
        until=until,
        bucket=bucket,
        buckets=series,
        worst_segments=_worst_segments(series, width),
        **totals,
    )


def connection_logs_for_rider(
    *, rider: Rider, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[ConnectionLog]:
    """The rider's events, newest first, with their room; either bound may be left open."""
    _check_window(since, until, bounded=False)
    logs = ConnectionLog.objects.filter(user=rider).select_related("room")
    return _within(logs, since, until).order_by("-occurred_at")


def _figures_by_bucket(
    subject: tuple[str, object], *, since: datetime, until: datetime, width: timedelta | None
) -> tuple[dict, list[tuple[datetime, dict]]]:
    """One query: the window's figures, and with a width the same per date_bin bucket.

    ``GROUPING SETS ((), (start))`` computes the totals and the buckets in one pass over the
    rows, which the (subject, occurred_at) index finds in the partitions the window touches.
    """
    column, value = subject
    params: dict[str, object] = {"subject": value, "since": since, "until": until}
    shape = {"start": "NULL::timestamptz", "grouping": "()", "is_total": "true"}
    shape["start_out"] = shape["start"]
    if width is not None:
        shape = {
            "start": "date_bin(%(width)s, occurred_at, %(since)s)",
            "grouping": "GROUPING SETS ((), (start))",
            "is_total": "grouping(start) = 1",
            "start_out": "start",
        }
        params["width"] = width
    with server_binding_cursor(binary=True) as cursor:
        cursor.execute(
            _REPORT_SQL.format(
                table=connection.ops.quote_name(ConnectionLog._meta.db_table),
                subject=column,
                **shape,
            ),
            params,
        )
        rows = cursor.fetchall()
        at = {col.name: position for position, col in enumerate(cursor.description)}
    totals: dict = {}
    series: list[tuple[datetime, dict]] = []
    is_total, start = at["is_total"], at["start"]
    for row in rows:
        if row[is_total]:
            totals = _figures(row, at)
        else:
            series.append((row[start], _figures(row, at)))
    return totals, series


def _report_sql() -> str:
    type_counts = ",\n".join(
        f"count(*) FILTER (WHERE event_type = '{t}') AS type_{t}" for t in EventType.values
    )
    metrics = ",\n".join(
        f"count({m}) AS {m}_samples, avg({m}) AS {m}_average, "
        f"percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY {m}) AS {m}_pct"
        for m in SUMMARISED_METRICS
    )
    # Generated columns of metrics' figures, carried by the (subject, occurred_at) indexes.
    extract = ", ".join(SUMMARISED_METRICS)
    mos = mos_sql("rtt_ms", "jitter_ms", "packet_loss_pct")
    return f"""
        WITH scoped AS MATERIALIZED (
            SELECT occurred_at, event_type, user_id, {{start}} AS start, {extract}
            FROM {{table}}
            WHERE {{subject}} = %(subject)s AND occurred_at >= %(since)s
                AND occurred_at < %(until)s
        ), figures AS (
            SELECT {{is_total}} AS is_total, {{start_out}} AS start, count(*) AS total,
                {type_counts},
                {metrics},
                count(*) FILTER (WHERE event_type = 'reconnected') AS reconnects,
                count(mos) AS mos_samples, avg(mos) AS mos
            FROM scoped CROSS JOIN LATERAL (SELECT {mos} AS mos) AS quality
            GROUP BY {{grouping}}
        ), reconnect_times AS (
            -- Only the few reconnect events are sorted by rider and time.
            SELECT start, CASE WHEN event_type = 'reconnected'
                    AND lag(event_type) OVER w = 'reconnecting'
                THEN extract(epoch FROM occurred_at - lag(occurred_at) OVER w) * 1000 END AS ms
            FROM scoped WHERE event_type IN ('reconnecting', 'reconnected')
            WINDOW w AS (PARTITION BY user_id ORDER BY occurred_at)
        ), reconnects AS (
            SELECT {{is_total}} AS is_total, {{start_out}} AS start, avg(ms) AS reconnect_ms
            FROM reconnect_times GROUP BY {{grouping}}
        )
        SELECT figures.*, reconnects.reconnect_ms
        FROM figures LEFT JOIN reconnects ON reconnects.is_total = figures.is_total
            AND reconnects.start IS NOT DISTINCT FROM figures.start
        ORDER BY figures.start NULLS FIRST
    """


# (metric, its percentiles, samples and average columns) of the report's rows.
_METRIC_COLUMNS = tuple((m, f"{m}_pct", f"{m}_samples", f"{m}_average") for m in SUMMARISED_METRICS)


def _figures(row: tuple, at: dict[str, int]) -> dict:
    """The figures of one row of the report; ``at`` gives each column's position. A report
    reads up to 2,000 rows, so the row stays a tuple."""
    figures = {
        "total_events": row[at["total"]],
        "events_by_type": {t: row[at[column]] for t, column in _TYPE_COLUMNS},
        "reconnects": row[at["reconnects"]],
        "mean_time_to_reconnect_ms": _float(row[at["reconnect_ms"]]),
    }
    for metric, percentiles, samples, average in _METRIC_COLUMNS:
        p50, p95, p99 = row[at[percentiles]] or (None, None, None)
        figures[metric] = MetricSummary(row[at[samples]], row[at[average]], p50, p95, p99)
    mos = _float(row[at["mos"]])
    figures["quality"] = QualitySummary(samples=row[at["mos_samples"]], mos=mos, rating=rating(mos))
    return figures


def _float(value) -> float | None:
    return None if value is None else float(value)


def _worst_segments(series: list[StatsBucket], width: timedelta | None) -> list[Segment]:
    if width is None:  # a report without buckets has no series
        return []
    scored = [b for b in series if b.quality.mos is not None]
    scored.sort(key=lambda b: (b.quality.mos, b.start))
    return [
        Segment(
            start=b.start,
            end=b.start + width,
            quality=b.quality,
            packet_loss_pct=b.packet_loss_pct,
            reconnects=b.reconnects,
        )
        for b in scored[:WORST_SEGMENTS]
    ]


_REPORT_SQL = _report_sql()


def _within(logs: QuerySet[ConnectionLog], since, until) -> QuerySet[ConnectionLog]:
    if since is not None:
        logs = logs.filter(occurred_at__gte=since)
    if until is not None:
        logs = logs.filter(occurred_at__lt=until)
    return logs


def _check_window(since: object, until: object, *, bounded: bool) -> None:
    """Both ends aware datetimes, since before until, and (for statistics) at most a year."""
    problems: dict[str, list[str]] = {}
    for name, value in (("since", since), ("until", until)):
        if value is None and not bounded:
            continue
        if not isinstance(value, datetime) or value.utcoffset() is None:
            problems[name] = [f"{name} must be a date-time with a time zone."]
    if problems:
        raise InvalidTimeWindow(fields=problems)
    if not isinstance(since, datetime) or not isinstance(until, datetime):
        return  # an open end of a log query
    if since >= until:
        raise InvalidTimeWindow(
            "since must be before until.", fields={"until": ["Must be after since."]}
        )
    if bounded and until - since > MAX_STATS_WINDOW:
        problem = f"A statistics window spans at most {MAX_STATS_WINDOW.days} days."
        raise InvalidTimeWindow(problem, fields={"since": [problem]})


# Events that mean a rider could not hear (or be heard by) the group.
PROBLEM_EVENT_TYPES = (
    EventType.DISCONNECTED,
    EventType.RECONNECTING,
    EventType.ICE_FAILED,
    EventType.ICE_RESTART,
    EventType.KICKED,
)
POOR_PACKET_LOSS_PCT = 5
POOR_RTT_MS = 400
RECENT_PROBLEMS_WINDOW = timedelta(days=7)


def connection_problems_for_rider(
    *, rider: Rider, limit: int = 20, within: timedelta = RECENT_PROBLEMS_WINDOW
) -> list[ConnectionLog]:
    """The rider's most recent connection problems: drops, failed links, and quality reports
    with heavy packet loss or a slow round trip. One query on the (rider, time) index, bounded
    to the last ``within`` so a rider without problems does not cost a scan of all their logs."""
    # The typed columns PostgreSQL derives from metrics, which the (rider, time) index carries.
    poor_quality = Q(event_type=EventType.QUALITY_REPORT) & (
        Q(packet_loss_pct__gte=POOR_PACKET_LOSS_PCT) | Q(rtt_ms__gte=POOR_RTT_MS)
    )
    return list(
        ConnectionLog.objects.filter(user=rider, occurred_at__gte=timezone.now() - within)
        .filter(Q(event_type__in=PROBLEM_EVENT_TYPES) | poor_quality)
        .select_related("room")
        .order_by("-occurred_at")[:limit]
    )


def connection_log_span_for_room(*, room: Room) -> tuple[datetime, datetime] | None:
    """When the room's first and last events occurred, or None when it has none."""
    span = ConnectionLog.objects.filter(room=room).aggregate(
        first=Min("occurred_at"), last=Max("occurred_at")
    )
    if span["first"] is None:
        return None
    return span["first"], span["last"]


# The most logs one ride's timeline reads: a day-long ride of ten riders reporting every
# 10 s is about 86,000, so a window this size or smaller is what the page is for; the page
# says when a window holds more and offers narrowing it.
TIMELINE_MAX_LOGS = 20_000


def ride_timeline_logs(
    *, room: Room, since: datetime, until: datetime, rider_id=None
) -> tuple[list[dict], bool]:
    """The ride's logs in [since, until), oldest first, as plain rows (rider id and username,
    event type, time, metrics) for the timeline, and whether there were more than
    TIMELINE_MAX_LOGS (the rest left out). One query on the (ride, time) index."""
    logs = ConnectionLog.objects.filter(room=room, occurred_at__gte=since, occurred_at__lt=until)
    if rider_id is not None:
        logs = logs.filter(user_id=rider_id)
    rows: list[dict] = [
        dict(row)
        for row in logs.order_by("occurred_at", "id").values(
            "user_id", "user__username", "event_type", "occurred_at", "metrics"
        )[: TIMELINE_MAX_LOGS + 1]
    ]
    return rows[:TIMELINE_MAX_LOGS], len(rows) > TIMELINE_MAX_LOGS
