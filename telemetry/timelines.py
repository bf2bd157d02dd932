"""One timeline per rider over a ride, for the support console: what happened to this rider on
this ride, readable without a single log row.

Each row is drawn on the server: an SVG strip of coloured quality segments (good, fair, poor
from the MOS of telemetry.quality), a packet-loss strip on a fixed 0-20 % scale, drops with
their duration, network changes, ICE failures and restarts, reconnections and leaving; the
texts (names, durations, tick times) are HTML beside the strip, so they stay readable at any
width while the strip stretches to the screen. Every shape has a <title> with its figures and
links to the logs of its window (the ``window_url`` the page gives).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from rooms.models import Room
from telemetry.figures import figures_summary
from telemetry.models import EventType
from telemetry.quality import metrics_mos, rating
from telemetry.selectors import ride_timeline_logs

# Bucket sizes to choose from (seconds): the smallest that gives at most TARGET_BUCKETS.
BUCKET_SECONDS = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)
TARGET_BUCKETS = 90
TICK_SECONDS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)
TARGET_TICKS = 8
# Packet loss is drawn on one scale for every rider and every window, so bars compare.
LOSS_SCALE_PCT = 20.0
VIEW_WIDTH = 1000.0
# The three bands of the strip's colours, from telemetry.quality's four ratings.
BAND_OF_RATING = {"excellent": "good", "good": "good", "poor": "fair", "lost": "poor"}
BAND_COLOURS = {"good": "#2e7d32", "fair": "#f9a825", "poor": "#c62828"}
DROP_STARTS = (EventType.DISCONNECTED, EventType.RECONNECTING)
DROP_ENDS = (EventType.RECONNECTED, EventType.CONNECTED, EventType.JOINED)
MARKS = {
    EventType.NETWORK_CHANGED: ("network", "#1565c0"),
    EventType.ICE_FAILED: ("ice-failed", "#b71c1c"),
    EventType.ICE_RESTART: ("ice-restart", "#ef6c00"),
    EventType.RECONNECTED: ("reconnected", "#2e7d32"),
    EventType.LEFT: ("left", "#212121"),
    EventType.KICKED: ("left", "#212121"),
}

WindowUrl = Callable[[datetime, datetime, str | None], str]


@dataclass
class _Bucket:
    scores: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    rtts: list[float] = field(default_factory=list)


@dataclass
class RiderTimeline:
    rider_id: str
    username: str
    first: datetime
    last: datetime
    html: SafeString
    drops: list[tuple[datetime, datetime | None]]


@dataclass(frozen=True)
class RideTimeline:
    since: datetime
    until: datetime
    bucket_seconds: int
    riders: list[RiderTimeline]
    truncated: bool
    axis: SafeString


def bucket_seconds_for(span: timedelta) -> int:
    seconds = span.total_seconds()
    return next((size for size in BUCKET_SECONDS if seconds / size <= TARGET_BUCKETS), 86400)


def ride_timeline(
    *,
    room: Room,
    since: datetime,
    until: datetime,
    window_url: WindowUrl,
    rider_id=None,
) -> RideTimeline:
    """The timelines of the riders of ``room`` between ``since`` and ``until``."""
    logs, truncated = ride_timeline_logs(room=room, since=since, until=until, rider_id=rider_id)
    size = bucket_seconds_for(until - since)
    by_rider: dict[str, list[dict]] = {}
    for log in logs:
        by_rider.setdefault(str(log["user_id"]), []).append(log)
    riders = [
        _rider_timeline(rows, since=since, until=until, size=size, window_url=window_url)
        for rows in sorted(by_rider.values(), key=lambda rows: rows[0]["user__username"])
    ]
    return RideTimeline(
        since=since,
        until=until,
        bucket_seconds=size,
        riders=riders,
        truncated=truncated,
        axis=_axis(since, until),
    )


def _x(moment: datetime, since: datetime, until: datetime) -> float:
    span = (until - since).total_seconds() or 1.0
    return max(0.0, min(VIEW_WIDTH, (moment - since).total_seconds() / span * VIEW_WIDTH))


def _pct(moment: datetime, since: datetime, until: datetime) -> float:
    return _x(moment, since, until) / VIEW_WIDTH * 100


def _clock(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%H:%M:%S}"


def _number(metrics: dict, key: str) -> float | None:
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _rider_timeline(
    rows: list[dict], *, since: datetime, until: datetime, size: int, window_url: WindowUrl
) -> RiderTimeline:
    username = rows[0]["user__username"]
    rider_id = str(rows[0]["user_id"])
    buckets: dict[int, _Bucket] = {}
    drops: list[tuple[datetime, datetime | None]] = []
    drop_start: datetime | None = None
    network: str | None = None
    shapes: list[str] = []
    labels: list[str] = []

    def link(start: datetime, end: datetime, inner: str, title: str) -> str:
        href = escape(window_url(start, end, username))
        return f'<a href="{href}"><title>{escape(title)}</title>{inner}</a>'

    for row in rows:
        at, kind = row["occurred_at"], row["event_type"]
        metrics = row["metrics"] if isinstance(row["metrics"], dict) else {}
        score = metrics_mos(metrics)
        if score is not None:
            index = int((at - since).total_seconds() // size)
            bucket = buckets.setdefault(index, _Bucket())
            bucket.scores.append(score)
            for key, values in (("packet_loss_pct", bucket.losses), ("rtt_ms", bucket.rtts)):
                number = _number(metrics, key)
                if number is not None:
                    values.append(number)
        if kind in DROP_STARTS and drop_start is None:
            drop_start = at
        elif kind in DROP_ENDS and drop_start is not None:
            drops.append((drop_start, at))
            drop_start = None
        new_network = metrics.get("network_type") if isinstance(metrics, dict) else None
        if kind in MARKS:
            css, colour = MARKS[kind]
            text = _mark_text(kind, metrics, previous_network=network)
            x = _x(at, since, until)
            window = timedelta(seconds=size)
            shapes.append(
                link(
                    at - window,
                    at + window,
                    f'<line class="tl-mark {css}" x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="36" '
                    f'stroke="{colour}" stroke-width="3" vector-effect="non-scaling-stroke"/>',
                    f"{_clock(at)} {text} · {figures_summary(metrics)}",
                )
            )
            labels.append(
                format_html(
                    '<span class="tl-label {}" style="left:{}%">{}</span>',
                    css,
                    f"{_pct(at, since, until):.2f}",
                    text,
                )
            )
        if isinstance(new_network, str) and new_network:
            network = new_network
    if drop_start is not None:
        drops.append((drop_start, None))

    for index, bucket in sorted(buckets.items()):
        start = since + timedelta(seconds=index * size)
        end = min(start + timedelta(seconds=size), until)
        score = sum(bucket.scores) / len(bucket.scores)
        band = BAND_OF_RATING[rating(score) or "lost"]
        x0, x1 = _x(start, since, until), _x(end, since, until)
        figures = [f"Quality {score:.1f} ({band})"]
        if bucket.rtts:
            figures.append(f"Round trip {max(bucket.rtts):.0f} ms (worst)")
        loss = sum(bucket.losses) / len(bucket.losses) if bucket.losses else None
        if loss is not None:
            figures.append(f"Loss {loss:.1f} %")
        title = f"{_clock(start)} to {_clock(end)} · " + " · ".join(figures)
        title += f" · {len(bucket.scores)} report(s)"
        inner = (
            f'<rect class="tl-quality {band}" x="{x0:.2f}" y="4" width="{max(x1 - x0, 0.5):.2f}" '
            f'height="18" fill="{BAND_COLOURS[band]}"/>'
        )
        if loss:
            height = min(loss, LOSS_SCALE_PCT) / LOSS_SCALE_PCT * 12
            inner += (
                f'<rect class="tl-loss" x="{x0:.2f}" y="{36 - height:.2f}" '
                f'width="{max(x1 - x0, 0.5):.2f}" height="{height:.2f}" fill="#6d4c41"/>'
            )
        shapes.append(link(start, end, inner, title))

    for drop_from, drop_end in drops:
        start, stop = drop_from, drop_end or until
        x0, x1 = _x(start, since, until), _x(stop, since, until)
        seconds = round((stop - start).total_seconds())
        ended = f"reconnected {_clock(drop_end)}" if drop_end else "not back in this window"
        title = f"Audio lost {seconds} s: {_clock(start)} → {ended}"
        shapes.append(
            link(
                start,
                stop + timedelta(seconds=1),
                f'<rect class="tl-drop" x="{x0:.2f}" y="2" width="{max(x1 - x0, 1):.2f}" '
                'height="22" fill="#424242" fill-opacity="0.85"/>',
                title,
            )
        )
        labels.append(
            format_html(
                '<span class="tl-label drop" style="left:{}%">{}</span>',
                f"{_pct(start, since, until):.2f}",
                f"lost {seconds} s" if drop_end else f"lost {seconds} s+",
            )
        )

    strip = (
        '<svg xmlns="http://www.w3.org/2000/svg" class="tl-strip" viewBox="0 0 1000 36" '
        'preserveAspectRatio="none" width="100%" height="36" role="img" '
        f'aria-label="{escape(username)}: quality, loss and events">'
        '<rect x="0" y="0" width="1000" height="36" fill="#f5f5f5"/>' + "".join(shapes) + "</svg>"
    )
    # Safe: numbers we formatted, texts escaped on the way in (escape / format_html).
    html = mark_safe(f'<div class="tl-labels">{"".join(labels)}</div>{strip}')
    return RiderTimeline(
        rider_id=rider_id,
        username=username,
        first=rows[0]["occurred_at"],
        last=rows[-1]["occurred_at"],
        html=html,
        drops=drops,
    )


def _mark_text(kind: str, metrics: dict, *, previous_network: str | None) -> str:
    if kind == EventType.NETWORK_CHANGED:
        now = metrics.get("network_type")
        if not isinstance(now, str):
            return "network changed"
        if previous_network is None or previous_network == now:
            return f"network {now}"
        return f"{previous_network} → {now}"
    if kind == EventType.ICE_FAILED:
        return "ICE failed"
    if kind == EventType.ICE_RESTART:
        return "ICE restart"
    if kind == EventType.RECONNECTED:
        return "reconnected"
    reason = metrics.get("reason")
    word = "removed" if kind == EventType.KICKED else "left"
    return f"{word}: {reason}" if isinstance(reason, str) and reason else word


def _axis(since: datetime, until: datetime) -> SafeString:
    seconds = (until - since).total_seconds()
    step = next((s for s in TICK_SECONDS if seconds / s <= TARGET_TICKS), 86400)
    local_start = timezone.localtime(since)
    # Ticks on round local times: the first whole step after the start.
    offset = local_start.utcoffset() or timedelta(0)
    epoch = (since + offset).timestamp()
    first = since + timedelta(seconds=(step - epoch % step) % step)
    ticks = []
    moment = first
    while moment <= until:
        label = f"{timezone.localtime(moment):%H:%M}" if step >= 60 else _clock(moment)
        ticks.append(
            format_html(
                '<span class="tl-tick" style="left:{}%">{}</span>',
                f"{_pct(moment, since, until):.2f}",
                label,
            )
        )
        moment += timedelta(seconds=step)
    return mark_safe(f'<div class="tl-axis">{"".join(ticks)}</div>')
