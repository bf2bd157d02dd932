"""Uploading a phone's buffered connection events, reading them back, and their statistics."""

import base64
import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.utils import timezone

from telemetry.models import ConnectionLog, EventType
from tests.api.assertions import api_error
from tests.riders.factories import RiderFactory
from tests.rooms.factories import RoomFactory, RoomParticipantFactory
from tests.telemetry.factories import ConnectionLogFactory

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/telemetry/events/"
STATS = "/api/v1/telemetry/stats/"


def _event(client_event_id: str, **overrides) -> dict:
    event = {
        "event_type": "quality_report",
        "occurred_at": (timezone.now() - timedelta(minutes=1)).isoformat(),
        "client_event_id": client_event_id,
        "metrics": {"rtt_ms": 42, "jitter_ms": 3.5, "network_type": "4g"},
    }
    return {**event, **overrides}


def _upload(client, events):
    return client.post(EVENTS, {"events": events}, format="json")


# --- Upload ---------------------------------------------------------------------------------


def test_batch_answers_per_index_for_valid_invalid_and_non_object_events(auth_client, rider):
    room = RoomFactory(creator=rider)
    RoomParticipantFactory(room=room, user=rider)
    events = [
        _event("ok-1"),
        _event("bad-metric", metrics={"rtt": 40}),
        "not an object",
        _event("ok-2", event_type="connected", metrics=None, room_code=room.code.lower()),
        _event("bad-type", event_type="teleported"),
        ["a", "list"],
        _event("future", occurred_at=(timezone.now() + timedelta(hours=1)).isoformat()),
        _event("no-room", room_code="ZZZZZZ"),
        _event("bad-room", room_code="0O1I00"),
        _event("stray", extra=1),
        _event("nan-as-text", metrics={"rtt_ms": "NaN"}),
    ]

    response = _upload(auth_client(rider), events)

    assert response.status_code == 200, response.content
    body = response.json()
    statuses = [result["status"] for result in body["results"]]
    assert statuses == ["stored", "rejected", "rejected", "stored", *["rejected"] * 7]
    assert [result["index"] for result in body["results"]] == list(range(len(events)))
    assert (body["stored"], body["duplicates"], body["rejected"], body["conflicts"]) == (2, 0, 9, 0)
    codes = [result["code"] for result in body["results"]]
    assert codes == [
        None,
        "invalid_metrics",
        "invalid_event",
        None,
        "invalid_event",
        "invalid_event",
        "event_in_future",
        "room_not_found",
        "invalid_room_code",
        "invalid_event",
        "invalid_metrics",
    ]
    assert "metrics.rtt" in body["results"][1]["fields"]
    stored = ConnectionLog.objects.filter(user=rider)
    assert sorted(stored.values_list("client_event_id", flat=True)) == ["ok-1", "ok-2"]
    assert stored.get(client_event_id="ok-2").room_id == room.pk
    assert str(stored.get(client_event_id="ok-1").pk) == body["results"][0]["id"]


def test_resending_a_batch_stores_nothing_twice(auth_client, rider):
    client = auth_client(rider)
    events = [_event(f"evt-{n}") for n in range(5)]
    first = _upload(client, events).json()

    second = _upload(client, events)

    assert second.status_code == 200
    body = second.json()
    assert [result["status"] for result in body["results"]] == ["duplicate"] * 5
    assert (body["stored"], body["duplicates"]) == (0, 5)
    assert [r["id"] for r in body["results"]] == [r["id"] for r in first["results"]]
    assert ConnectionLog.objects.filter(user=rider).count() == 5


def test_reused_client_id_with_other_content_is_a_conflict(auth_client, rider):
    client = auth_client(rider)
    original = _event("evt-1", metrics={"rtt_ms": 42})
    _upload(client, [original])

    response = _upload(client, [_event("evt-1", metrics={"rtt_ms": 999}), original])

    body = response.json()
    assert [result["status"] for result in body["results"]] == ["conflict", "duplicate"]
    assert body["results"][0]["code"] == "client_event_conflict"
    assert body["conflicts"] == 1
    assert ConnectionLog.objects.get(user=rider, client_event_id="evt-1").metrics == {"rtt_ms": 42}


def test_reused_client_id_within_one_batch_keeps_the_first(auth_client, rider):
    first = _event("evt-1", metrics={"rtt_ms": 1})

    response = _upload(
        auth_client(rider), [first, dict(first), {**first, "metrics": {"rtt_ms": 2}}]
    )

    body = response.json()
    assert [result["status"] for result in body["results"]] == ["stored", "duplicate", "conflict"]
    assert ConnectionLog.objects.get(user=rider, client_event_id="evt-1").metrics == {"rtt_ms": 1}


def test_null_event_is_rejected_at_its_index(auth_client, rider):
    response = _upload(auth_client(rider), [_event("ok-1"), None])

    assert response.status_code == 200, response.content
    assert [r["status"] for r in response.json()["results"]] == ["stored", "rejected"]
    assert ConnectionLog.objects.filter(user=rider).count() == 1


def test_client_event_ids_belong_to_each_rider(auth_client, rider, other_rider):
    _upload(auth_client(other_rider), [_event("shared-id", metrics={"rtt_ms": 7})])

    body = _upload(auth_client(rider), [_event("shared-id", metrics={"rtt_ms": 9})]).json()

    assert body["results"][0]["status"] == "stored"
    assert ConnectionLog.objects.filter(client_event_id="shared-id").count() == 2


def test_batch_of_501_events_is_413_and_stores_nothing(auth_client, rider):
    response = _upload(auth_client(rider), [_event(f"evt-{n}") for n in range(501)])

    error = api_error(response, 413, "batch_too_large")
    assert (error["limit"], error["received"]) == (500, 501)
    assert not ConnectionLog.objects.exists()


def test_batch_of_500_events_is_accepted(auth_client, rider):
    response = _upload(auth_client(rider), [_event(f"evt-{n}") for n in range(500)])

    assert response.status_code == 200
    assert response.json()["stored"] == 500


@pytest.mark.parametrize(
    "body",
    ['{"events": []}', "{}", '{"events": {"a": 1}}', '{"events": "x"}', '{"events": [], "x": 1}'],
)
def test_empty_or_malformed_batch_is_400(auth_client, rider, body):
    response = auth_client(rider).post(EVENTS, body, content_type="application/json")

    api_error(response, 400, "invalid_request")
    assert not ConnectionLog.objects.exists()


def test_body_over_the_size_limit_is_413_and_stores_nothing(auth_client, rider):
    # Valid events padded with JSON whitespace: were the limit not enforced, all would be stored.
    events = json.dumps([_event(f"evt-{n}") for n in range(10)])
    body = '{"events": ' + events + " " * settings.API_MAX_BODY_BYTES + "}"
    assert len(json.loads(body)["events"]) == 10

    response = auth_client(rider).post(EVENTS, body, content_type="application/json")

    api_error(response, 413, "payload_too_large")
    assert not ConnectionLog.objects.exists()


def test_body_just_under_the_size_limit_is_accepted(auth_client, rider):
    events = json.dumps([_event(f"evt-{n}") for n in range(10)])
    head = '{"events": ' + events
    body = head + " " * (settings.API_MAX_BODY_BYTES - len(head) - 1) + "}"

    response = auth_client(rider).post(EVENTS, body, content_type="application/json")

    assert response.status_code == 200, response.content[:300]
    assert ConnectionLog.objects.filter(user=rider).count() == 10


def test_nan_in_the_body_is_refused_as_malformed_json(auth_client, rider):
    # Strict JSON has no NaN: the parser refuses the whole body (400), nothing per event.
    occurred_at = (timezone.now() - timedelta(minutes=1)).isoformat()
    body = (
        '{"events":[{"event_type":"quality_report","metrics":{"rtt_ms":NaN},'
        f'"occurred_at":"{occurred_at}","client_event_id":"nan-1"}}]}}'
    )

    response = auth_client(rider).post(EVENTS, body, content_type="application/json")

    api_error(response, 400, "malformed_request")
    assert not ConnectionLog.objects.exists()


@pytest.mark.parametrize("constant", ["Infinity", "-Infinity"])
def test_infinity_in_the_body_is_refused(auth_client, rider, constant):
    body = '{"events":[{"event_type":"quality_report","metrics":{"rtt_ms":' + constant + "}}]}"

    response = auth_client(rider).post(EVENTS, body, content_type="application/json")

    api_error(response, 400, "malformed_request")


def test_number_literal_that_overflows_to_infinity_is_rejected_per_event(auth_client, rider):
    # 1e400 is a valid JSON number that Python parses as inf; the metrics rule refuses it.
    event = json.dumps(_event("overflow", metrics={"rtt_ms": 1}))
    body = '{"events": [' + event.replace('"rtt_ms": 1', '"rtt_ms": 1e400') + "]}"

    response = auth_client(rider).post(EVENTS, body, content_type="application/json")

    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["status"] == "rejected"
    assert response.json()["results"][0]["code"] == "invalid_metrics"
    assert not ConnectionLog.objects.exists()


def test_huge_number_is_rejected_per_event(auth_client, rider):
    response = _upload(auth_client(rider), [_event("big", metrics={"rtt_ms": 10**400})])

    assert response.status_code == 200
    assert response.json()["results"][0]["code"] == "invalid_metrics"


def test_event_time_outside_the_utc_calendar_is_rejected_at_its_index(auth_client, rider):
    # Converting 0001-01-01T00:00+01:00 to UTC overflowed: the whole batch answered 500.
    events = [_event("edge", occurred_at="0001-01-01T00:00:00+01:00"), _event("fine")]

    response = _upload(auth_client(rider), events)

    assert response.status_code == 200, response.content
    assert [result["status"] for result in response.json()["results"]] == ["rejected", "stored"]


def test_upload_needs_a_token(api_client):
    api_error(_upload(api_client, [_event("evt-1")]), 401, "not_authenticated")


# --- Read back ------------------------------------------------------------------------------


def _logs(rider, count: int, *, start=None, **extra) -> list[ConnectionLog]:
    start = start or timezone.now() - timedelta(hours=1)
    return [
        ConnectionLogFactory(user=rider, occurred_at=start + timedelta(minutes=n), **extra)
        for n in range(count)
    ]


def test_list_events_shows_only_the_riders_own_newest_first(auth_client, rider, other_rider):
    mine = _logs(rider, 3)
    _logs(other_rider, 2)

    response = auth_client(rider).get(EVENTS)

    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["results"]] == [str(log.pk) for log in reversed(mine)]
    assert set(body["results"][0]) == {
        "id",
        "event_type",
        "metrics",
        "occurred_at",
        "recorded_at",
        "client_event_id",
        "room_code",
        "quality",
    }
    assert body["next"] is None


def test_list_events_walks_every_row_once_with_the_cursor(auth_client, rider):
    same_moment = timezone.now() - timedelta(minutes=30)
    logs = _logs(rider, 4) + [
        ConnectionLogFactory(user=rider, occurred_at=same_moment) for _ in range(3)
    ]
    client = auth_client(rider)

    seen, url, pages = [], EVENTS + "?page_size=2", 0
    while url:
        body = client.get(url).json()
        assert len(body["results"]) <= 2
        seen += [item["id"] for item in body["results"]]
        url, pages = body["next"], pages + 1

    assert pages == 4
    assert sorted(seen) == sorted(str(log.pk) for log in logs)
    assert len(seen) == len(set(seen))


def test_list_events_filters(auth_client, rider):
    room = RoomFactory()
    start = timezone.now() - timedelta(hours=2)
    in_room = ConnectionLogFactory(
        user=rider, room=room, event_type=EventType.JOINED, occurred_at=start
    )
    late = ConnectionLogFactory(
        user=rider, event_type=EventType.JOINED, occurred_at=start + timedelta(hours=1)
    )
    ConnectionLogFactory(user=rider, event_type=EventType.CONNECTED, occurred_at=start)
    client = auth_client(rider)

    def ids(**query):
        response = client.get(EVENTS, query)
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["results"]}

    assert ids(event_type="joined") == {str(in_room.pk), str(late.pk)}
    assert ids(room=room.code.lower()) == {str(in_room.pk)}
    assert ids(since=(start + timedelta(minutes=30)).isoformat()) == {str(late.pk)}
    assert ids(until=(start + timedelta(minutes=30)).isoformat(), event_type="joined") == {
        str(in_room.pk)
    }
    assert ids(room="ZZZZZZ") == set()
    assert client.get(EVENTS, {"room": room.code}).json()["results"][0]["room_code"] == room.code


@pytest.mark.parametrize(
    "query",
    [
        {"event_type": "teleported"},
        {"since": "yesterday"},
        {"room": "TOOLONGCODE"},
        {"page_size": "0"},
        {"page_size": "201"},
    ],
)
def test_list_events_malformed_query_is_400(auth_client, rider, query):
    api_error(auth_client(rider).get(EVENTS, query), 400, "invalid_request")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        # Well-formed cursors whose position is not a moment PostgreSQL takes: they used to
        # reach the query and answer 500.
        base64.b64encode(b"p=garbage").decode(),
        base64.b64encode(b"r=1&p=2026-01-01").decode(),
        base64.b64encode(b"p=%00").decode(),
    ],
)
def test_list_events_with_a_forged_cursor_is_400(auth_client, rider, cursor):
    response = auth_client(rider).get(EVENTS, {"cursor": cursor})

    body = api_error(response, 400, "invalid_request")
    assert body["fields"] == {"cursor": ["Invalid cursor."]}


def test_list_events_cursor_position_with_any_offset_is_read_in_utc(auth_client, rider):
    log = ConnectionLogFactory(user=rider, occurred_at=timezone.now() - timedelta(hours=1))
    # +23:00 is valid ISO 8601 but beyond PostgreSQL's offsets; "before now" in any notation.
    later = (timezone.now() + timedelta(days=1)).replace(tzinfo=None).isoformat() + "+23:00"
    cursor = base64.b64encode(urlencode({"p": later}).encode()).decode()

    response = auth_client(rider).get(EVENTS, {"cursor": cursor})

    assert response.status_code == 200, response.content
    assert [item["id"] for item in response.json()["results"]] == [str(log.pk)]


def test_list_events_filter_with_an_offset_beyond_postgresqls_is_read_in_utc(auth_client, rider):
    # Python accepts offsets up to 23:59 and PostgreSQL only up to 15:59: this was a 500.
    log = ConnectionLogFactory(user=rider, occurred_at=timezone.now() - timedelta(hours=1))
    later = (timezone.now() + timedelta(days=1)).replace(tzinfo=None).isoformat() + "+23:21"

    response = auth_client(rider).get(EVENTS, {"until": later})

    assert response.status_code == 200, response.content
    assert [item["id"] for item in response.json()["results"]] == [str(log.pk)]


@pytest.mark.parametrize(
    "query",
    [{"since": "0001-01-01T00:00:00+01:00"}, {"until": "9999-12-31T23:59:59-01:00"}],
)
def test_list_events_filter_outside_the_utc_calendar_is_400(auth_client, rider, query):
    error = api_error(auth_client(rider).get(EVENTS, query), 400, "invalid_request")

    assert set(error["fields"]) == set(query)


def test_list_events_needs_a_token(api_client):
    api_error(api_client.get(EVENTS), 401, "not_authenticated")


# --- Statistics -----------------------------------------------------------------------------


def test_stats_of_the_riders_own_events(auth_client, rider):
    start = (timezone.now() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    for minutes, loss in ((1, 0.0), (2, 2.0), (61, 4.0)):
        ConnectionLogFactory(
            user=rider,
            event_type=EventType.QUALITY_REPORT,
            metrics={"packet_loss_pct": loss},
            occurred_at=start + timedelta(minutes=minutes),
        )
    ConnectionLogFactory(user=RiderFactory(), occurred_at=start + timedelta(minutes=1))
    window = {
        "since": start.isoformat(),
        "until": (start + timedelta(hours=2)).isoformat(),
        "bucket": "1h",
    }

    response = auth_client(rider).get(STATS, window)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["total_events"] == 3
    assert body["packet_loss_pct"] == {
        "samples": 3,
        "average": 2.0,
        "p50": 2.0,
        "p95": 3.8,
        "p99": pytest.approx(3.96),
    }
    assert body["rtt_ms"] == {"samples": 0, "average": None, "p50": None, "p95": None, "p99": None}
    # Loss alone: R = 93.2 - 10/40 - 2.5 * loss; the mean of the three events' MOS.
    assert body["quality"]["samples"] == 3
    assert body["quality"]["rating"] == "excellent"
    assert body["reconnects"] == 0
    assert body["mean_time_to_reconnect_ms"] is None
    assert [segment["start"] for segment in body["worst_segments"]] == [
        body["buckets"][1]["start"],
        body["buckets"][0]["start"],
    ]
    assert [bucket["total_events"] for bucket in body["buckets"]] == [2, 1]
    assert set(body["events_by_type"]) == set(EventType.values)


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"bucket": "7m"}, 400, "invalid_request"),
        ({"since": "not-a-date"}, 400, "invalid_request"),
        ({"window": "1d"}, 400, "invalid_request"),
        (
            {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
            422,
            "invalid_time_window",
        ),
        (
            {"since": "2024-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
            422,
            "invalid_time_window",
        ),
    ],
)
def test_stats_bad_query(auth_client, rider, query, status, code):
    api_error(auth_client(rider).get(STATS, query), status, code)


def test_stats_until_too_early_for_the_default_window_is_400(auth_client, rider):
    # The default since (24 hours before until) used to overflow: a 500.
    response = auth_client(rider).get(STATS, {"until": "0001-01-01T00:00:00Z"})

    error = api_error(response, 400, "invalid_request")
    assert set(error["fields"]) == {"until"}


def test_stats_default_window_ends_at_the_given_until(auth_client, rider):
    until = timezone.now() - timedelta(days=2)

    body = auth_client(rider).get(STATS, {"until": until.isoformat()}).json()

    assert body["since"] == (until - timedelta(hours=24)).isoformat().replace("+00:00", "Z")


def test_stats_need_a_token(api_client):
    api_error(api_client.get(STATS), 401, "not_authenticated")
