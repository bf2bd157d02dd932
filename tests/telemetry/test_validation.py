from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from config.errors import Conflict, DomainError, ValidationFailed
from telemetry.errors import (
    BatchTooLarge,
    ClientEventConflict,
    EventInFuture,
    EventTooOld,
    InvalidEvent,
    InvalidMetrics,
    InvalidTimeWindow,
)
from telemetry.validation import (
    KNOWN_METRICS,
    clean_client_event_id,
    clean_event,
    clean_event_type,
    clean_metrics,
    clean_occurred_at,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def event(**overrides):
    values = {
        "event_type": "connected",
        "occurred_at": NOW - timedelta(minutes=1),
        "metrics": {},
        "client_event_id": "evt-1",
        "now": NOW,
    }
    return clean_event(**{**values, **overrides})


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code", "status", "base"),
    [
        (InvalidEvent, "invalid_event", 422, ValidationFailed),
        (InvalidMetrics, "invalid_metrics", 422, InvalidEvent),
        (EventInFuture, "event_in_future", 422, InvalidEvent),
        (EventTooOld, "event_too_old", 422, InvalidEvent),
        (BatchTooLarge, "batch_too_large", 413, DomainError),
        (ClientEventConflict, "client_event_conflict", 409, Conflict),
        (InvalidTimeWindow, "invalid_time_window", 422, ValidationFailed),
    ],
)
def test_errors_have_stable_codes_and_statuses(error, code, status, base):
    assert issubclass(error, base)
    assert (error.code, error.status) == (code, status)


# --- a whole event ----------------------------------------------------------------------------


def test_a_complete_event_is_returned_clean_with_its_time_in_utc():
    clean = event(
        event_type="quality_report",
        occurred_at="2026-05-01T13:55:00+02:00",
        metrics={"rtt_ms": 42, "jitter_ms": 3.5, "network_type": "4g"},
        client_event_id="phone-1:batch.7_x",
    )
    assert clean.event_type == "quality_report"
    assert clean.occurred_at == datetime(2026, 5, 1, 11, 55, tzinfo=UTC)
    assert clean.occurred_at.tzinfo == UTC
    assert clean.metrics == {"rtt_ms": 42, "jitter_ms": 3.5, "network_type": "4g"}
    assert clean.client_event_id == "phone-1:batch.7_x"


def test_a_z_suffixed_iso_time_is_accepted():
    clean = event(occurred_at="2026-05-01T11:59:00Z")
    assert clean.occurred_at == datetime(2026, 5, 1, 11, 59, tzinfo=UTC)


def test_quality_report_needs_a_quality_metric():
    with pytest.raises(InvalidMetrics) as caught:
        event(event_type="quality_report", metrics={"battery_pct": 80, "network_type": "wifi"})
    assert "metrics" in caught.value.fields


@pytest.mark.parametrize("metric", ["rtt_ms", "jitter_ms", "packet_loss_pct", "bitrate_kbps"])
def test_any_one_quality_metric_makes_a_quality_report(metric):
    assert event(event_type="quality_report", metrics={metric: 1}).metrics == {metric: 1}


def test_other_events_need_no_metrics():
    assert event(event_type="disconnected", metrics=None).metrics == {}


# --- event type -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["connected", "ice_failed", "network_changed", "kicked"])
def test_known_event_types_pass(value):
    assert clean_event_type(value) == value


@pytest.mark.parametrize("value", ["exploded", "Connected", "", None, 3, ["connected"]])
def test_unknown_event_types_are_rejected(value):
    with pytest.raises(InvalidEvent) as caught:
        clean_event_type(value)
    assert type(caught.value) is InvalidEvent
    assert list(caught.value.fields) == ["event_type"]


# --- metrics: numbers -------------------------------------------------------------------------

RANGES = [
    ("rtt_ms", 0, 60000),
    ("jitter_ms", 0, 60000),
    ("packet_loss_pct", 0, 100),
    ("bitrate_kbps", 0, 100000),
    ("signal_dbm", -150, 0),
    ("signal_level", 0, 4),
    ("battery_pct", 0, 100),
]


@pytest.mark.parametrize(("key", "low", "high"), RANGES)
def test_numbers_at_both_ends_of_their_range_pass(key, low, high):
    assert clean_metrics({key: low}) == {key: low}
    assert clean_metrics({key: high}) == {key: high}


@pytest.mark.parametrize(("key", "low", "high"), RANGES)
def test_numbers_just_outside_their_range_are_rejected(key, low, high):
    for value in (low - 1, high + 1):
        with pytest.raises(InvalidMetrics) as caught:
            clean_metrics({key: value})
        assert list(caught.value.fields) == [f"metrics.{key}"]


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        True,
        False,
        "25",
        None,
        [25],
        {"value": 25},
        -0.5,
        10**400,
    ],
)
def test_non_finite_non_numeric_and_out_of_range_values_are_rejected(value):
    with pytest.raises(InvalidMetrics) as caught:
        clean_metrics({"rtt_ms": value})
    assert list(caught.value.fields) == ["metrics.rtt_ms"]
    assert (
        "rtt_ms must be a finite number from 0 to 60000" in caught.value.fields["metrics.rtt_ms"][0]
    )


def test_fractional_values_pass_where_the_metric_is_not_whole():
    assert clean_metrics({"packet_loss_pct": 0.25, "signal_dbm": -97.5}) == {
        "packet_loss_pct": 0.25,
        "signal_dbm": -97.5,
    }


@pytest.mark.parametrize("value", [2.0, 2.5, True, "2"])
def test_signal_level_must_be_a_whole_number(value):
    with pytest.raises(InvalidMetrics) as caught:
        clean_metrics({"signal_level": value})
    assert "whole number" in caught.value.fields["metrics.signal_level"][0]


# --- metrics: text and keys -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("network_type", "wifi"),
        ("network_type", "5g"),
        ("network_type", "bridged"),
        ("network_type", "unknown"),
        ("ice_state", "checking"),
        ("connection_state", "connecting"),
    ],
)
def test_text_metrics_from_their_set_pass(key, value):
    assert clean_metrics({key: value}) == {key: value}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("network_type", "WiFi"),
        ("network_type", "satellite"),
        ("network_type", 4),
        ("ice_state", "connecting"),
        ("connection_state", "completed"),
        ("connection_state", None),
    ],
)
def test_text_metrics_outside_their_set_are_rejected(key, value):
    with pytest.raises(InvalidMetrics) as caught:
        clean_metrics({key: value})
    assert list(caught.value.fields) == [f"metrics.{key}"]


def test_an_unknown_key_is_rejected_with_a_suggestion():
    with pytest.raises(InvalidMetrics) as caught:
        clean_metrics({"rtt": 40})
    problem = caught.value.fields["metrics.rtt"][0]
    assert "Unknown metric 'rtt'" in problem
    assert "Did you mean 'rtt_ms'?" in problem


def test_an_unknown_key_is_rejected_even_beside_valid_ones():
    with pytest.raises(InvalidMetrics) as caught:
        clean_metrics({"rtt_ms": 40, "temperature_c": 21})
    assert list(caught.value.fields) == ["metrics.temperature_c"]


def test_every_bad_metric_is_reported_at_once():
    with pytest.raises(InvalidMetrics) as caught:
        clean_metrics({"rtt_ms": -1, "jitter_ms": 2, "battery_pct": "full", "speed": 90})
    assert set(caught.value.fields) == {"metrics.rtt_ms", "metrics.battery_pct", "metrics.speed"}
    assert caught.value.message == "Some metrics are not valid: rtt_ms, battery_pct, speed."


def test_every_documented_metric_is_known():
    assert set(KNOWN_METRICS) == {
        "rtt_ms",
        "jitter_ms",
        "packet_loss_pct",
        "bitrate_kbps",
        "signal_dbm",
        "signal_level",
        "battery_pct",
        "network_type",
        "ice_state",
        "connection_state",
        "reason",
    }


@pytest.mark.parametrize("reason", ["client_closed", "kicked", "left", "timed_out"])
def test_a_disconnect_reason_from_the_fixed_set_is_kept(reason):
    assert clean_metrics({"reason": reason}) == {"reason": reason}


def test_an_unknown_disconnect_reason_is_rejected():
    with pytest.raises(InvalidMetrics) as caught:
        clean_metrics({"reason": "gremlins"})
    assert list(caught.value.fields) == ["metrics.reason"]


@pytest.mark.parametrize("value", [[], "rtt_ms=4", 3, [("rtt_ms", 4)]])
def test_metrics_must_be_an_object(value):
    with pytest.raises(InvalidMetrics) as caught:
        clean_metrics(value)
    assert list(caught.value.fields) == ["metrics"]


def test_missing_metrics_mean_none():
    assert clean_metrics(None) == {}


# --- occurred_at ------------------------------------------------------------------------------


def test_a_time_within_the_allowed_clock_skew_passes(settings):
    settings.TELEMETRY_MAX_CLOCK_SKEW_SECONDS = 300
    ahead = NOW + timedelta(seconds=300)
    assert clean_occurred_at(ahead, now=NOW) == ahead


def test_a_time_beyond_the_clock_skew_is_in_the_future(settings):
    settings.TELEMETRY_MAX_CLOCK_SKEW_SECONDS = 300
    with pytest.raises(EventInFuture) as caught:
        clean_occurred_at(NOW + timedelta(seconds=301), now=NOW)
    assert list(caught.value.fields) == ["occurred_at"]


def test_the_clock_skew_comes_from_settings(settings):
    settings.TELEMETRY_MAX_CLOCK_SKEW_SECONDS = 0
    with pytest.raises(EventInFuture):
        clean_occurred_at(NOW + timedelta(seconds=1), now=NOW)


@pytest.mark.parametrize("value", ["3000-01-01T00:00:00Z", datetime(3000, 1, 1, tzinfo=UTC)])
def test_the_year_3000_is_rejected_as_in_the_future(value):
    with pytest.raises(EventInFuture) as caught:
        clean_occurred_at(value, now=NOW)
    assert "3000-01-01 00:00:00 UTC is ahead of the server clock" in caught.value.message


def test_a_time_at_the_retention_edge_passes_and_older_is_too_old(settings):
    settings.TELEMETRY_RETENTION_DAYS = 30
    edge = NOW - timedelta(days=30)
    assert clean_occurred_at(edge, now=NOW) == edge
    with pytest.raises(EventTooOld) as caught:
        clean_occurred_at(edge - timedelta(seconds=1), now=NOW)
    assert "more than 30 days old" in caught.value.fields["occurred_at"][0]


def test_a_time_with_another_offset_is_compared_as_an_instant():
    ahead_zone = timezone(timedelta(hours=5))
    moment = datetime(2026, 5, 1, 16, 59, tzinfo=ahead_zone)  # 11:59 UTC
    assert clean_occurred_at(moment, now=NOW) == datetime(2026, 5, 1, 11, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 5, 1, 11, 59),  # naive
        "2026-05-01T11:59:00",  # naive text
        "2026-05-01",  # a date, no time zone
        "yesterday",
        "",
        "2026-05-01T11:59:00Z" + " " * 40,
        date(2026, 5, 1),
        1714564740,
        None,
    ],
)
def test_times_without_a_zone_or_not_times_are_rejected(value):
    with pytest.raises(InvalidEvent) as caught:
        clean_occurred_at(value, now=NOW)
    assert type(caught.value) is InvalidEvent
    assert list(caught.value.fields) == ["occurred_at"]


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_that_cannot_be_expressed_in_utc_is_rejected(value):
    # Converting these to UTC used to raise OverflowError: a 500 on the batch upload.
    with pytest.raises(InvalidEvent) as caught:
        clean_occurred_at(value, now=NOW)
    assert list(caught.value.fields) == ["occurred_at"]


# --- client_event_id --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["a", "A.b_c:d-9", "x" * 64, "0190f1c2-7b1e-7c3a-9e1d-3f7a2b9c1d00"]
)
def test_well_formed_client_event_ids_pass(value):
    assert clean_client_event_id(value) == value


def test_a_client_event_id_is_optional_unless_required():
    assert clean_client_event_id(None) is None
    with pytest.raises(InvalidEvent) as caught:
        clean_client_event_id(None, required=True)
    assert "required" in caught.value.fields["client_event_id"][0]


@pytest.mark.parametrize(
    "value", ["", "x" * 65, "has space", "évent", "a/b", "abc\n", 12345, b"abc"]
)
def test_malformed_client_event_ids_are_rejected(value):
    with pytest.raises(InvalidEvent) as caught:
        clean_client_event_id(value)
    assert list(caught.value.fields) == ["client_event_id"]


def test_an_event_reports_the_first_wrong_field():
    with pytest.raises(InvalidEvent) as caught:
        event(event_type="nope", metrics={"rtt": 1})
    assert list(caught.value.fields) == ["event_type"]
