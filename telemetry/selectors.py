from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DateTimeField,
    DurationField,
    F,
    FloatField,
    Func,
    Max,
    Min,
    Q,
    QuerySet,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from riders.models import Rider
from rooms.models import Room
from telemetry.errors import InvalidTimeWindow
from telemetry.models import ConnectionLog, EventType

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
SUMMARISED_METRICS = ("rtt_ms", "jitter_ms", "packet_loss_pct")


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``.

    The interpolated percentile: for 10, 20, 30, 40 the median is 25. NULLs are skipped.
    """

    function = "percentile_cont"
    name = "PercentileCont"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, *, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError(f"A percentile fraction lies in [0, 1], not {fraction}.")
        # A float we chose, never client input, so it can sit in the SQL text.
        super().__init__(expression, fraction=float(fraction), **extra)


@dataclass(frozen=True)
class MetricSummary:
    """A metric over the events that carry it; the figures are None when no event does."""

    samples: int
    average: float | None
    p50: float | None
    p95: float | None


@dataclass(frozen=True)
class ConnectionStats:
    since: datetime
    until: datetime
    total_events: int
    events_by_type: dict[str, int]  # every EventType value, zero when none
    rtt_ms: MetricSummary
    jitter_ms: MetricSummary
    packet_loss_pct: MetricSummary


@dataclass(frozen=True)
class StatsBucket:
    start: datetime
    total_events: int
    events_by_type: dict[str, int]
    rtt_ms: MetricSummary
    jitter_ms: MetricSummary
    packet_loss_pct: MetricSummary


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


_FIGURE_NAMES = ("total_events", "events_by_type", *SUMMARISED_METRICS)


class DateBin(Func):
    """PostgreSQL's ``date_bin(stride, source, origin)``: the start of the bucket of a time."""

    function = "date_bin"
    output_field = DateTimeField()

    def __init__(self, stride: timedelta, expression: str, origin: datetime):
        super().__init__(
            Value(stride, output_field=DurationField()),
            F(expression),
            Value(origin, output_field=DateTimeField()),
        )


def connection_log_stats_for_rider(
    *, rider: Rider, since: datetime, until: datetime
) -> ConnectionStats:
    """Statistics of the rider's events with since <= occurred_at < until, in one query."""
    _check_window(since, until, bounded=True)
    return _stats(ConnectionLog.objects.filter(user=rider), since=since, until=until)


def connection_log_stats_for_room(
    *, room: Room, since: datetime, until: datetime
) -> ConnectionStats:
    """Statistics of the room's events with since <= occurred_at < until, in one query."""
    _check_window(since, until, bounded=True)
    return _stats(ConnectionLog.objects.filter(room=room), since=since, until=until)


def connection_log_report(
    *,
    since: datetime,
    until: datetime,
    bucket: str | None = None,
    rider: Rider | None = None,
    room: Room | None = None,
) -> StatsReport:
    """Totals over the window and, with a bucket size, the same figures per time bucket.

    Two queries: one for the totals, one grouped by ``date_bin(bucket, occurred_at, since)``
    so buckets line up with the start of the window.
    """
    if (rider is None) == (room is None):
        raise ValueError("A report is of exactly one rider or one room.")
    _check_window(since, until, bounded=True)
    if bucket is not None and bucket not in BUCKET_SIZES:
        raise InvalidTimeWindow(fields={"bucket": [f"One of {', '.join(BUCKET_SIZES)}."]})
    logs = (
        ConnectionLog.objects.filter(user=rider)
        if rider
        else ConnectionLog.objects.filter(room=room)
    )
    totals = _stats(logs, since=since, until=until)
    series: list[StatsBucket] = []
    if bucket is not None:
        width = BUCKET_SIZES[bucket]
        if (until - since) / width > MAX_BUCKETS:
            problem = (
                f"At most {MAX_BUCKETS} buckets per report: widen the bucket or narrow the window."
            )
            raise InvalidTimeWindow(problem, fields={"bucket": [problem]})
        rows = (
            _within(logs, since, until)
            .annotate(start=DateBin(width, "occurred_at", since))
            .values("start")
            .annotate(**_figure_aggregates())
            .order_by("start")
        )
        series = [StatsBucket(start=row["start"], **_figures(row)) for row in rows]
    return StatsReport(
        since=since,
        until=until,
        bucket=bucket,
        buckets=series,
        **{name: getattr(totals, name) for name in _FIGURE_NAMES},
    )


def connection_logs_for_rider(
    *, rider: Rider, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[ConnectionLog]:
    """The rider's events, newest first, with their room; either bound may be left open."""
    _check_window(since, until, bounded=False)
    logs = ConnectionLog.objects.filter(user=rider).select_related("room")
    return _within(logs, since, until).order_by("-occurred_at")


def connection_logs_for_room(
    *, room: Room, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[ConnectionLog]:
    """The room's events, newest first, with their rider; either bound may be left open."""
    _check_window(since, until, bounded=False)
    logs = ConnectionLog.objects.filter(room=room).select_related("user")
    return _within(logs, since, until).order_by("-occurred_at")


def _stats(logs: QuerySet[ConnectionLog], *, since: datetime, until: datetime) -> ConnectionStats:
    row = _within(logs, since, until).aggregate(**_figure_aggregates())
    return ConnectionStats(since=since, until=until, **_figures(row))


def _figure_aggregates() -> dict:
    aggregates = {"total": Count("id")}
    for event_type in EventType.values:
        aggregates[f"type_{event_type}"] = Count("id", filter=Q(event_type=event_type))
    for metric in SUMMARISED_METRICS:
        # metrics->>'rtt_ms' is NULL when the event lacks the key, so it drops out of each one.
        value = Cast(KeyTextTransform(metric, "metrics"), FloatField())
        aggregates[f"{metric}_samples"] = Count(value)
        aggregates[f"{metric}_average"] = Avg(value)
        aggregates[f"{metric}_p50"] = PercentileCont(value, fraction=0.5)
        aggregates[f"{metric}_p95"] = PercentileCont(value, fraction=0.95)
    return aggregates


def _figures(row: dict) -> dict:
    summaries = {
        metric: MetricSummary(
            samples=row[f"{metric}_samples"],
            average=row[f"{metric}_average"],
            p50=row[f"{metric}_p50"],
            p95=row[f"{metric}_p95"],
        )
        for metric in SUMMARISED_METRICS
    }
    return {
        "total_events": row["total"],
        "events_by_type": {t: row[f"type_{t}"] for t in EventType.values},
        **summaries,
    }


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
    if since is None or until is None:
        return
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
    # Compared as jsonb, so a malformed value (text, a list) is not a number and never errors.
    poor_quality = Q(event_type=EventType.QUALITY_REPORT) & (
        Q(metrics__packet_loss_pct__gte=POOR_PACKET_LOSS_PCT) | Q(metrics__rtt_ms__gte=POOR_RTT_MS)
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
