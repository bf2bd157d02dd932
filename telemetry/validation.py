"""What a connection event must look like before it is stored.

The metrics rule
----------------
``metrics`` is an object (``None`` means ``{}``) whose keys come from a fixed list. An unknown
key is rejected, never dropped: a phone that sends ``rtt`` instead of ``rtt_ms`` must hear
about it rather than lose the value silently.

Numbers are JSON numbers: ``int`` or ``float``, finite (no NaN, no ±Infinity), never ``bool``
and never a numeric string. Each lies in a closed range:

=================  ==================  =========================
key                range               unit
=================  ==================  =========================
rtt_ms             0 .. 60000          milliseconds
jitter_ms          0 .. 60000          milliseconds
packet_loss_pct    0 .. 100            percent
bitrate_kbps       0 .. 100000         kilobits per second
signal_dbm         -150 .. 0           dBm
signal_level       0 .. 4, integer     bars
battery_pct        0 .. 100            percent
=================  ==================  =========================

Text values come from fixed sets, matched exactly (lower case):

- ``network_type``: wifi, cellular, 5g, 4g, 3g, 2g, bridged, ethernet, unknown
- ``ice_state`` (WebRTC RTCIceConnectionState): new, checking, connected, completed,
  failed, disconnected, closed
- ``connection_state`` (WebRTC RTCPeerConnectionState): new, connecting, connected,
  disconnected, failed, closed
- ``reason`` (why a live connection ended): client_closed, kicked, left, room_closed,
  duplicate_session, server_shutdown, timed_out, protocol_error

A ``quality_report`` event carries at least one of rtt_ms, jitter_ms, packet_loss_pct,
bitrate_kbps: a quality report without a quality figure says nothing.

The other fields
----------------
- ``event_type``: one of :class:`telemetry.models.EventType`'s values.
- ``occurred_at``: a timezone-aware datetime, or an ISO 8601 string with a UTC offset. It may be
  at most ``TELEMETRY_MAX_CLOCK_SKEW_SECONDS`` ahead of the server clock (a phone's clock
  drifts) and at most ``TELEMETRY_RETENTION_DAYS`` old (older logs are deleted anyway).
- ``client_event_id``: optional (required in batches); 1 to 64 characters from
  ``A-Z a-z 0-9 . _ : -``. It makes re-sending an event harmless.

Every check raises a subclass of :class:`telemetry.errors.InvalidEvent` whose ``fields`` name the
offending field (``metrics.<key>`` for a metric).
"""

import contextlib
import difflib
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.conf import settings

from telemetry.errors import EventInFuture, EventTooOld, InvalidEvent, InvalidMetrics
from telemetry.models import CLIENT_EVENT_ID_MAX_LENGTH, EventType

MetricValue = int | float | str


@dataclass(frozen=True)
class NumberRule:
    low: float
    high: float
    unit: str
    integer: bool = False


NUMBER_METRICS: dict[str, NumberRule] = {
    "rtt_ms": NumberRule(0, 60_000, "milliseconds"),
    "jitter_ms": NumberRule(0, 60_000, "milliseconds"),
    "packet_loss_pct": NumberRule(0, 100, "percent"),
    "bitrate_kbps": NumberRule(0, 100_000, "kilobits per second"),
    "signal_dbm": NumberRule(-150, 0, "dBm"),
    "signal_level": NumberRule(0, 4, "bars", integer=True),
    "battery_pct": NumberRule(0, 100, "percent"),
}
TEXT_METRICS: dict[str, tuple[str, ...]] = {
    "network_type": (
        "wifi",
        "cellular",
        "5g",
        "4g",
        "3g",
        "2g",
        "bridged",
        "ethernet",
        "unknown",
    ),
    "ice_state": ("new", "checking", "connected", "completed", "failed", "disconnected", "closed"),
    "connection_state": ("new", "connecting", "connected", "disconnected", "failed", "closed"),
    # Why a live connection ended, recorded by the server on disconnected / left / kicked.
    "reason": (
        "client_closed",
        "kicked",
        "left",
        "room_closed",
        "duplicate_session",
        "server_shutdown",
        "timed_out",
        # The server closed the socket for a frame too big (1009) or a flood (4008).
        "protocol_error",
    ),
}
KNOWN_METRICS = (*NUMBER_METRICS, *TEXT_METRICS)
QUALITY_METRICS = ("rtt_ms", "jitter_ms", "packet_loss_pct", "bitrate_kbps")

_CLIENT_EVENT_ID = re.compile(rf"[A-Za-z0-9._:-]{{1,{CLIENT_EVENT_ID_MAX_LENGTH}}}")
# The longest ISO 8601 form with microseconds and offset is 32 characters.
_TIMESTAMP_MAX_LENGTH = 40


class ValidEvent(NamedTuple):
    # A tuple, not a frozen dataclass: a batch makes 500 of them, and a frozen dataclass's
    # __init__ costs several times a tuple's.
    event_type: str
    occurred_at: datetime
    metrics: dict[str, MetricValue]
    client_event_id: str | None


class OccurrenceWindow(NamedTuple):
    """The times an event may carry, seen from ``now``: computed once per batch."""

    now: datetime
    earliest: datetime
    latest: datetime

    @classmethod
    def at(cls, now: datetime) -> "OccurrenceWindow":
        return cls(
            now,
            now - timedelta(days=settings.TELEMETRY_RETENTION_DAYS),
            now + timedelta(seconds=settings.TELEMETRY_MAX_CLOCK_SKEW_SECONDS),
        )


_QUALITY_REPORT = EventType.QUALITY_REPORT.value


def clean_event(
    *,
    event_type: object,
    occurred_at: object,
    metrics: object,
    client_event_id: object,
    now: datetime | OccurrenceWindow,
    require_client_event_id: bool = False,
) -> ValidEvent:
    """Check every field, in this order, and raise on the first field that is wrong."""
    clean_type = clean_event_type(event_type)
    clean_time = clean_occurred_at(occurred_at, now=now)
    clean_id = clean_client_event_id(client_event_id, required=require_client_event_id)
    clean_values = clean_metrics(metrics)
    if clean_type == _QUALITY_REPORT and not any(k in clean_values for k in QUALITY_METRICS):
        raise InvalidMetrics(
            "A quality report needs at least one of " + ", ".join(QUALITY_METRICS) + ".",
            fields={"metrics": [f"Add at least one of {', '.join(QUALITY_METRICS)}."]},
        )
    return ValidEvent(
        event_type=clean_type,
        occurred_at=clean_time,
        metrics=clean_values,
        client_event_id=clean_id,
    )


_EVENT_TYPES = frozenset(EventType.values)  # EventType.values builds a new list each time


def clean_event_type(value: object) -> str:
    if not isinstance(value, str) or value not in _EVENT_TYPES:
        problem = (
            f"Unknown event type {_show(value)}; expected one of {', '.join(EventType.values)}."
        )
        raise InvalidEvent(problem, fields={"event_type": [problem]})
    return value


def clean_occurred_at(value: object, *, now: datetime | OccurrenceWindow) -> datetime:
    window = now if isinstance(now, OccurrenceWindow) else OccurrenceWindow.at(now)
    moment = _parse_moment(value)
    if moment > window.latest:
        problem = (
            f"occurred_at {moment:%Y-%m-%d %H:%M:%S} UTC is ahead of the server clock by more "
            f"than {settings.TELEMETRY_MAX_CLOCK_SKEW_SECONDS} seconds; check the phone's clock."
        )
        raise EventInFuture(problem, fields={"occurred_at": [problem]})
    if moment < window.earliest:
        problem = (
            f"occurred_at {moment:%Y-%m-%d %H:%M:%S} UTC is more than "
            f"{settings.TELEMETRY_RETENTION_DAYS} days old; such logs are no longer kept."
        )
        raise EventTooOld(problem, fields={"occurred_at": [problem]})
    return moment


def clean_client_event_id(value: object, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if value is None:
        problem = "client_event_id is required for every event of a batch."
    elif not isinstance(value, str) or not _CLIENT_EVENT_ID.fullmatch(value):
        problem = (
            f"client_event_id must be 1 to {CLIENT_EVENT_ID_MAX_LENGTH} characters of "
            "letters, digits, '.', '_', ':' and '-'."
        )
    else:
        return value
    raise InvalidEvent(problem, fields={"client_event_id": [problem]})


def clean_metrics(value: object) -> dict[str, MetricValue]:
    """Return the metrics unchanged when every key and value is acceptable; report them all."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        problem = "metrics must be an object of known metric names to values."
        raise InvalidMetrics(problem, fields={"metrics": [problem]})
    problems: dict[str, list[str]] = {}
    for key, raw in value.items():
        if wrong := _metric_problem(key, raw):
            problems[f"metrics.{_show(key, quote=False)}"] = [wrong]
    if problems:
        names = ", ".join(name.removeprefix("metrics.") for name in problems)
        raise InvalidMetrics(f"Some metrics are not valid: {names}.", fields=problems)
    return dict(value)


def _metric_problem(key: object, value: object) -> str | None:
    if key in NUMBER_METRICS:
        return _number_problem(key, NUMBER_METRICS[key], value)
    if key in TEXT_METRICS:
        allowed = TEXT_METRICS[key]
        if isinstance(value, str) and value in allowed:
            return None
        return f"{key} must be one of {', '.join(allowed)}; got {_show(value)}."
    hint = ""
    if isinstance(key, str):
        close = difflib.get_close_matches(key, KNOWN_METRICS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"Unknown metric {_show(key)}.{hint} Known metrics: {', '.join(KNOWN_METRICS)}."


def _number_problem(key: str, rule: NumberRule, value: object) -> str | None:
    # The common case first, with no message built: a batch checks thousands of figures.
    # NaN and the infinities fail the range check and are reported below.
    if (type(value) is int or (type(value) is float and not rule.integer)) and (
        rule.low <= value <= rule.high
    ):
        return None
    kind = "a whole number" if rule.integer else "a finite number"
    expected = f"{key} must be {kind} from {rule.low:g} to {rule.high:g} ({rule.unit})"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{expected}; got {_show(value)}."
    if rule.integer and not isinstance(value, int):
        return f"{expected}; got {_show(value)}."
    if isinstance(value, float) and not math.isfinite(value):
        return f"{expected}; got {value}."
    if not rule.low <= value <= rule.high:
        return f"{expected}; got {_show(value)}."
    return None


def _parse_moment(value: object) -> datetime:
    if value is None:
        problem = "occurred_at is required."
        raise InvalidEvent(problem, fields={"occurred_at": [problem]})
    if isinstance(value, str):
        value = _parse_iso(value)
    if not isinstance(value, datetime):
        problem = f"occurred_at must be a date-time; got {_show(value)}."
        raise InvalidEvent(problem, fields={"occurred_at": [problem]})
    if value.utcoffset() is None:
        problem = "occurred_at must carry a time zone (for example 2026-05-01T08:30:00Z)."
        raise InvalidEvent(problem, fields={"occurred_at": [problem]})
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is in year 0 in UTC
        problem = f"occurred_at {_show(value)} lies outside the years 1 to 9999 in UTC."
        raise InvalidEvent(problem, fields={"occurred_at": [problem]}) from None


def _parse_iso(text: str) -> datetime:
    if len(text) <= _TIMESTAMP_MAX_LENGTH:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(text.strip())
    problem = f"occurred_at {_show(text)} is not an ISO 8601 date-time."
    raise InvalidEvent(problem, fields={"occurred_at": [problem]})


def _show(value: object, *, quote: bool = True) -> str:
    """A short rendering of a client's value for an error message, however long the value."""
    text = repr(value) if quote else str(value)
    return text if len(text) <= 40 else text[:37] + "..."
