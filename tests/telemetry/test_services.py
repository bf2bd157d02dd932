import uuid
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rooms.errors import InvalidRoomCode
from rooms.models import RoomParticipant
from telemetry.errors import (
    BatchTooLarge,
    ClientEventConflict,
    EventInFuture,
    EventTooOld,
    InvalidBatch,
    InvalidCleanupRequest,
    InvalidEvent,
    InvalidMetrics,
)
from telemetry.models import ConnectionLog, EventType
from telemetry.services import (
    MAX_BATCH_SIZE,
    connection_log_cleanup,
    connection_log_ingest_batch,
    connection_log_record,
)
from tests.rooms.factories import RoomFactory, RoomParticipantFactory
from tests.telemetry.factories import ConnectionLogFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(rider):
    """A ride the rider is in, opened a day ago: a batch may only reference rooms its rider
    has been in, at times they could have been in them."""
    ride = RoomFactory(creator=rider, created_at=ago(days=1))
    RoomParticipantFactory(room=ride, user=rider)
    return ride


def ago(**delta):
    return timezone.now() - timedelta(**delta)


# --- connection_log_record --------------------------------------------------------------------


def test_record_stores_an_event_at_now_by_default(rider):
    before = timezone.now()
    log = connection_log_record(rider=rider, event_type="connected")
    stored = ConnectionLog.objects.get()
    assert stored.pk == log.pk
    assert (stored.user_id, stored.room_id, stored.event_type) == (rider.pk, None, "connected")
    assert stored.metrics == {}
    assert stored.client_event_id is None
    assert before <= stored.occurred_at <= timezone.now()
    assert stored.recorded_at == stored.occurred_at


def test_record_stores_room_metrics_time_and_client_id(rider, room):
    log = connection_log_record(
        rider=rider,
        event_type="network_changed",
        room=room,
        metrics={"network_type": "4g", "signal_level": 3},
        occurred_at=ago(minutes=2).isoformat(),
        client_event_id="nc-1",
    )
    stored = ConnectionLog.objects.get(pk=log.pk)
    assert stored.room_id == room.pk
    assert stored.metrics == {"network_type": "4g", "signal_level": 3}
    assert stored.client_event_id == "nc-1"
    assert stored.occurred_at == log.occurred_at
    assert timedelta(minutes=2) <= stored.recorded_at - stored.occurred_at < timedelta(minutes=3)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"event_type": "exploded"}, InvalidEvent),
        ({"metrics": {"rtt_ms": float("nan")}}, InvalidMetrics),
        ({"metrics": {"rtt_ms": float("inf")}}, InvalidMetrics),
        ({"metrics": {"rtt_ms": -5}}, InvalidMetrics),
        ({"metrics": {"rtt_ms": True}}, InvalidMetrics),
        ({"metrics": {"rtt_ms": "40"}}, InvalidMetrics),
        ({"metrics": {"rtt": 40}}, InvalidMetrics),
        ({"occurred_at": "3000-01-01T00:00:00Z"}, EventInFuture),
        ({"occurred_at": "2001-01-01T00:00:00Z"}, EventTooOld),
        ({"occurred_at": "2026-05-01T10:00:00"}, InvalidEvent),
        ({"client_event_id": "x" * 65}, InvalidEvent),
        ({"client_event_id": ""}, InvalidEvent),
    ],
)
def test_record_rejects_bad_input_and_writes_nothing(rider, changes, error):
    values = {"event_type": "connected", "metrics": {"rtt_ms": 40}, "client_event_id": "e-1"}
    with pytest.raises(error):
        connection_log_record(rider=rider, **{**values, **changes})
    assert not ConnectionLog.objects.exists()


def test_recording_the_same_client_event_again_returns_the_first_row(rider, room):
    values = {
        "rider": rider,
        "event_type": "quality_report",
        "room": room,
        "metrics": {"rtt_ms": 40, "jitter_ms": 2.5},
        "occurred_at": ago(minutes=1),
        "client_event_id": "q-1",
    }
    first = connection_log_record(**values)
    again = connection_log_record(**values)
    assert again.pk == first.pk
    assert ConnectionLog.objects.count() == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"event_type": "connected"},
        {"metrics": {"rtt_ms": 41, "jitter_ms": 2.5}},
        {"room": None},
        {"occurred_at_shift": timedelta(seconds=1)},
    ],
)
def test_reusing_a_client_event_id_for_other_content_conflicts_and_keeps_the_first(
    rider, room, changes
):
    moment = ago(minutes=1)
    first = connection_log_record(
        rider=rider,
        event_type="quality_report",
        room=room,
        metrics={"rtt_ms": 40, "jitter_ms": 2.5},
        occurred_at=moment,
        client_event_id="q-1",
    )
    values = {
        "event_type": "quality_report",
        "room": room,
        "metrics": {"rtt_ms": 40, "jitter_ms": 2.5},
        "occurred_at": moment + changes.pop("occurred_at_shift", timedelta(0)),
        **changes,
    }
    with pytest.raises(ClientEventConflict) as caught:
        connection_log_record(rider=rider, client_event_id="q-1", **values)
    assert caught.value.fields == {"client_event_id": ["Already used for a different event."]}
    kept = ConnectionLog.objects.get()
    assert (kept.pk, kept.event_type, kept.metrics) == (first.pk, "quality_report", first.metrics)


def test_a_resent_event_without_a_time_matches_whatever_time_was_stored(rider):
    first = connection_log_record(rider=rider, event_type="left", client_event_id="left-1")
    again = connection_log_record(rider=rider, event_type="left", client_event_id="left-1")
    assert again.pk == first.pk
    assert ConnectionLog.objects.count() == 1


def test_client_event_ids_are_per_rider(rider, other_rider):
    connection_log_record(rider=rider, event_type="connected", client_event_id="c-1")
    connection_log_record(rider=other_rider, event_type="connected", client_event_id="c-1")
    assert ConnectionLog.objects.count() == 2


def test_events_without_client_ids_are_never_merged(rider):
    moment = ago(minutes=1)
    connection_log_record(rider=rider, event_type="connected", occurred_at=moment)
    connection_log_record(rider=rider, event_type="connected", occurred_at=moment)
    assert ConnectionLog.objects.count() == 2


def test_a_quality_report_is_stored_with_its_figures(rider, room):
    log = connection_log_record(
        rider=rider,
        event_type=EventType.QUALITY_REPORT,
        room=room,
        metrics={"packet_loss_pct": 1.5},
    )
    stored = ConnectionLog.objects.get(pk=log.pk)
    assert (stored.event_type, stored.room_id) == (EventType.QUALITY_REPORT, room.pk)
    assert stored.metrics == {"packet_loss_pct": 1.5}


def test_quality_report_without_a_quality_figure_writes_nothing(rider, room):
    with pytest.raises(InvalidMetrics):
        connection_log_record(
            rider=rider, event_type=EventType.QUALITY_REPORT, room=room, metrics={"battery_pct": 50}
        )
    assert not ConnectionLog.objects.exists()


# --- connection_log_ingest_batch --------------------------------------------------------------


# One time for every batch event, so that re-sending an event re-sends the same content.
BATCH_TIME = (timezone.now() - timedelta(minutes=10)).isoformat()


def batch_event(client_event_id, **overrides):
    values = {
        "event_type": "quality_report",
        "occurred_at": BATCH_TIME,
        "client_event_id": client_event_id,
        "metrics": {"rtt_ms": 40},
    }
    return {**values, **overrides}


def statuses(outcomes):
    return [outcome.status for outcome in outcomes]


def test_a_valid_batch_is_stored_and_each_outcome_names_its_row(rider, room):
    moment = ago(minutes=3)
    events = [
        batch_event("a", room_code=room.code.lower(), occurred_at=moment.isoformat()),
        batch_event("b", room_id=str(room.pk), metrics={"jitter_ms": 1.5, "network_type": "5g"}),
        batch_event("c", event_type="disconnected", metrics=None),
    ]
    outcomes = connection_log_ingest_batch(rider=rider, events=events)
    assert [(o.index, o.status, o.code) for o in outcomes] == [
        (0, "stored", None),
        (1, "stored", None),
        (2, "stored", None),
    ]
    rows = {log.client_event_id: log for log in ConnectionLog.objects.all()}
    assert {o.id for o in outcomes} == {log.pk for log in rows.values()}
    assert (rows["a"].room_id, rows["a"].occurred_at, rows["a"].metrics) == (
        room.pk,
        moment,
        {"rtt_ms": 40},
    )
    assert (rows["b"].room_id, rows["b"].metrics) == (
        room.pk,
        {"jitter_ms": 1.5, "network_type": "5g"},
    )
    assert (rows["c"].room_id, rows["c"].event_type, rows["c"].metrics) == (
        None,
        "disconnected",
        {},
    )
    assert all(log.user_id == rider.pk for log in rows.values())


def test_sending_the_same_batch_twice_stores_nothing_the_second_time(rider, room):
    events = [batch_event(f"e-{i}", room_code=room.code) for i in range(3)]
    first = connection_log_ingest_batch(rider=rider, events=events)
    again = connection_log_ingest_batch(rider=rider, events=events)
    assert statuses(again) == ["duplicate"] * 3
    assert [o.id for o in again] == [o.id for o in first]
    assert ConnectionLog.objects.count() == 3


def test_overlapping_batches_store_only_the_new_events(rider):
    first = connection_log_ingest_batch(rider=rider, events=[batch_event("a"), batch_event("b")])
    second = connection_log_ingest_batch(rider=rider, events=[batch_event("b"), batch_event("c")])
    assert statuses(second) == ["duplicate", "stored"]
    assert second[0].id == first[1].id
    assert sorted(ConnectionLog.objects.values_list("client_event_id", flat=True)) == [
        "a",
        "b",
        "c",
    ]


def test_a_duplicate_inside_one_batch_counts_once(rider):
    event = batch_event("same")
    outcomes = connection_log_ingest_batch(
        rider=rider, events=[event, dict(event), batch_event("x")]
    )
    assert statuses(outcomes) == ["stored", "duplicate", "stored"]
    assert outcomes[1].id == outcomes[0].id
    assert ConnectionLog.objects.count() == 2


def test_a_different_event_under_a_repeated_id_inside_one_batch_conflicts(rider):
    outcomes = connection_log_ingest_batch(
        rider=rider,
        events=[batch_event("same"), batch_event("same", metrics={"rtt_ms": 41})],
    )
    assert statuses(outcomes) == ["stored", "conflict"]
    assert (outcomes[1].id, outcomes[1].code) == (None, "client_event_conflict")
    assert ConnectionLog.objects.get().metrics == {"rtt_ms": 40}


@pytest.mark.parametrize(
    "changes",
    [
        {"event_type": "connected"},
        {"metrics": {"rtt_ms": 40, "jitter_ms": 1}},
        {"occurred_at": "shifted"},
        {"room_code": "room"},
    ],
)
def test_a_reused_id_with_different_content_conflicts_and_the_first_is_kept(rider, room, changes):
    original = batch_event("e-1")
    first = connection_log_ingest_batch(rider=rider, events=[original])
    if changes.get("occurred_at") == "shifted":
        changes["occurred_at"] = ago(minutes=9).isoformat()
    if changes.get("room_code") == "room":
        changes["room_code"] = room.code
    outcomes = connection_log_ingest_batch(rider=rider, events=[{**original, **changes}])
    assert statuses(outcomes) == ["conflict"]
    assert outcomes[0].code == "client_event_conflict"
    assert "'e-1' was already used" in outcomes[0].message
    kept = ConnectionLog.objects.get()
    assert kept.pk == first[0].id
    assert (kept.event_type, kept.metrics, kept.room_id) == ("quality_report", {"rtt_ms": 40}, None)


def test_an_event_matching_a_single_record_is_a_duplicate(rider, room):
    moment = ago(minutes=4)
    log = connection_log_record(
        rider=rider,
        event_type="joined",
        room=room,
        occurred_at=moment,
        client_event_id="j-1",
    )
    outcomes = connection_log_ingest_batch(
        rider=rider,
        events=[
            {
                "event_type": "joined",
                "occurred_at": moment.isoformat(),
                "client_event_id": "j-1",
                "room_code": room.code,
            }
        ],
    )
    assert [(o.status, o.id) for o in outcomes] == [("duplicate", log.pk)]


def test_a_mixed_batch_stores_the_good_events_and_explains_the_bad(rider):
    events = [
        batch_event("ok-1"),
        batch_event("bad-1", metrics={"rtt_ms": float("nan")}),
        batch_event("bad-2", occurred_at="3000-01-01T00:00:00Z"),
        batch_event("bad-3", event_type="exploded"),
        batch_event("bad-4", metrics={"rtt": 1}),
        batch_event("ok-2", event_type="connected", metrics={}),
        batch_event(None),
        batch_event("bad-5", colour="red"),
        "not an event",
        batch_event("bad-6", occurred_at=ago(days=31).isoformat()),
        batch_event("x" * 65),
    ]
    outcomes = connection_log_ingest_batch(rider=rider, events=events)
    assert [(o.index, o.status, o.code) for o in outcomes] == [
        (0, "stored", None),
        (1, "rejected", "invalid_metrics"),
        (2, "rejected", "event_in_future"),
        (3, "rejected", "invalid_event"),
        (4, "rejected", "invalid_metrics"),
        (5, "stored", None),
        (6, "rejected", "invalid_event"),
        (7, "rejected", "invalid_event"),
        (8, "rejected", "invalid_event"),
        (9, "rejected", "event_too_old"),
        (10, "rejected", "invalid_event"),
    ]
    assert outcomes[1].fields == {"metrics.rtt_ms": [outcomes[1].fields["metrics.rtt_ms"][0]]}
    assert "client_event_id" in outcomes[6].fields
    assert "colour" in outcomes[7].fields
    assert all(o.id is None and o.message for o in outcomes if o.status == "rejected")
    assert sorted(ConnectionLog.objects.values_list("client_event_id", flat=True)) == [
        "ok-1",
        "ok-2",
    ]


def test_a_repeated_id_whose_first_use_is_invalid_stores_the_valid_one(rider):
    outcomes = connection_log_ingest_batch(
        rider=rider,
        events=[batch_event("e", metrics={"rtt_ms": -1}), batch_event("e")],
    )
    assert statuses(outcomes) == ["rejected", "stored"]
    assert ConnectionLog.objects.get().pk == outcomes[1].id


def test_a_batch_over_the_limit_is_rejected_whole_before_any_query(rider, exact_queries):
    events = [batch_event(f"e-{i}") for i in range(MAX_BATCH_SIZE + 1)]
    with exact_queries(0), pytest.raises(BatchTooLarge) as caught:
        connection_log_ingest_batch(rider=rider, events=events)
    assert caught.value.status == 413
    assert caught.value.extra == {"limit": 500, "received": 501}
    assert not ConnectionLog.objects.exists()


def test_a_batch_at_the_limit_is_stored_with_one_insert(rider):
    events = [batch_event(f"e-{i}") for i in range(MAX_BATCH_SIZE)]
    with CaptureQueriesContext(connection) as captured:
        outcomes = connection_log_ingest_batch(rider=rider, events=events)
    assert statuses(outcomes) == ["stored"] * 500
    assert len({o.id for o in outcomes}) == 500
    inserts = [q["sql"] for q in captured if "INSERT INTO" in q["sql"]]
    assert len(inserts) == 1
    assert ConnectionLog.objects.count() == 500


def test_room_codes_of_a_batch_are_resolved_in_one_query(rider, room):
    other_room = RoomFactory(created_at=ago(days=1))
    RoomParticipantFactory(room=other_room, user=rider, is_active=False, left_at=timezone.now())
    events = [
        batch_event("a", room_code=room.code),
        batch_event("b", room_code=other_room.code.lower()),
        batch_event("c", room_code="ZZZZZZ" if room.code != "ZZZZZZ" else "YYYYYY"),
        batch_event("d", room_id=str(uuid.uuid4())),
        batch_event("e", room_code="bad!"),
        batch_event("f", room_code=room.code, room_id=str(room.pk)),
        batch_event("g", room_id="not-a-uuid"),
        batch_event("h", room_code=room.code),
    ]
    with CaptureQueriesContext(connection) as captured:
        outcomes = connection_log_ingest_batch(rider=rider, events=events)
    assert [(o.status, o.code) for o in outcomes] == [
        ("stored", None),
        ("stored", None),
        ("rejected", "room_not_found"),
        ("rejected", "room_not_found"),
        ("rejected", InvalidRoomCode.code),
        ("rejected", "invalid_event"),
        ("rejected", "invalid_identifier"),
        ("stored", None),
    ]
    room_queries = [q["sql"] for q in captured if "FROM rooms_room" in q["sql"]]
    assert len(room_queries) == 1
    stored = dict(ConnectionLog.objects.values_list("client_event_id", "room_id"))
    assert stored == {"a": room.pk, "b": other_room.pk, "h": room.pk}


def test_a_room_lookup_can_narrow_which_rooms_may_be_named(rider, room):
    other_room = RoomFactory(created_at=ago(days=1))
    seen = []

    def only_first_room(codes, ids):
        seen.append((set(codes), set(ids)))
        return [(room.pk, room.code, room.created_at, None)]

    outcomes = connection_log_ingest_batch(
        rider=rider,
        events=[
            batch_event("a", room_code=room.code),
            batch_event("b", room_id=str(other_room.pk)),
        ],
        room_lookup=only_first_room,
    )
    assert [(o.status, o.code) for o in outcomes] == [
        ("stored", None),
        ("rejected", "room_not_found"),
    ]
    assert seen == [({room.code}, {other_room.pk})]


def test_client_event_ids_of_a_batch_are_per_rider(rider, other_rider):
    connection_log_ingest_batch(rider=rider, events=[batch_event("a")])
    outcomes = connection_log_ingest_batch(rider=other_rider, events=[batch_event("a")])
    assert statuses(outcomes) == ["stored"]
    assert ConnectionLog.objects.filter(client_event_id="a").count() == 2


def test_an_all_invalid_batch_runs_no_query(rider, exact_queries):
    with exact_queries(0):
        outcomes = connection_log_ingest_batch(rider=rider, events=[batch_event("a", metrics=[])])
    assert statuses(outcomes) == ["rejected"]


def test_an_empty_batch_answers_nothing(rider, exact_queries):
    with exact_queries(0):
        assert connection_log_ingest_batch(rider=rider, events=[]) == []


@pytest.mark.parametrize("events", [None, {"event_type": "connected"}, "[]"])
def test_a_batch_must_be_a_list(rider, events):
    with pytest.raises(InvalidBatch):
        connection_log_ingest_batch(rider=rider, events=events)


# --- connection_log_cleanup -------------------------------------------------------------------


def test_cleanup_deletes_only_logs_older_than_the_cutoff(rider):
    old = [ConnectionLogFactory(user=rider, occurred_at=ago(days=d)) for d in (400, 40, 31)]
    young = [ConnectionLogFactory(user=rider, occurred_at=ago(days=d)) for d in (29, 1)]
    before = timezone.now()
    result = connection_log_cleanup(older_than=timedelta(days=30))
    assert (result.count, result.batches, result.dry_run) == (3, 1, False)
    assert before - timedelta(days=30) <= result.cutoff <= timezone.now() - timedelta(days=30)
    assert set(ConnectionLog.objects.values_list("pk", flat=True)) == {log.pk for log in young}
    assert not ConnectionLog.objects.filter(pk__in=[log.pk for log in old]).exists()


def _noon_cutoff() -> tuple[timedelta, datetime]:
    """An ``older_than`` whose cutoff is noon UTC (today's, or yesterday's before 12:05):
    rows a few hours before it share its day's partition, which is then not wholly past the
    cutoff, so the cleanup deletes them in batches rather than dropping the partition (as it
    would for rows "3 hours ago" in the first hours of a UTC day)."""
    now = timezone.now()
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    if noon > now - timedelta(minutes=5):
        noon -= timedelta(days=1)
    return now - noon, noon


def test_cleanup_works_in_batches_and_reports_progress(rider):
    older_than, noon = _noon_cutoff()
    for minutes in range(7):
        ConnectionLogFactory(user=rider, occurred_at=noon - timedelta(hours=2, minutes=minutes))
    ConnectionLogFactory(user=rider, occurred_at=noon + timedelta(minutes=1))
    calls = []
    with CaptureQueriesContext(connection) as captured:
        result = connection_log_cleanup(
            older_than=older_than,
            batch_size=3,
            progress=lambda done, total: calls.append((done, total)),
        )
    assert (result.count, result.batches) == (7, 3)
    assert calls == [(3, 7), (6, 7), (7, 7)]
    deletes = [q["sql"] for q in captured if "DELETE FROM" in q["sql"]]
    assert len(deletes) == 3
    assert all("LIMIT 3" in sql for sql in deletes)
    assert ConnectionLog.objects.count() == 1


def test_cleanup_batches_resume_after_the_last_row_even_among_equal_times(rider):
    older_than, noon = _noon_cutoff()
    moment = noon - timedelta(hours=2)
    ConnectionLog.objects.bulk_create(
        ConnectionLogFactory.build(user=rider, occurred_at=moment) for _ in range(7)
    )
    calls = []
    result = connection_log_cleanup(
        older_than=older_than, batch_size=3, progress=lambda *args: calls.append(args)
    )
    assert (result.count, result.batches) == (7, 3)
    assert calls == [(3, 7), (6, 7), (7, 7)]
    assert not ConnectionLog.objects.exists()


def test_cleanup_stops_after_an_empty_batch_when_rows_divide_evenly(rider):
    older_than, noon = _noon_cutoff()
    for minutes in range(6):
        ConnectionLogFactory(user=rider, occurred_at=noon - timedelta(hours=1, minutes=minutes))
    calls = []
    result = connection_log_cleanup(
        older_than=older_than, batch_size=3, progress=lambda *args: calls.append(args)
    )
    assert (result.count, result.batches) == (6, 2)
    assert calls == [(3, 6), (6, 6)]
    assert not ConnectionLog.objects.exists()


def test_cleanup_dry_run_counts_and_deletes_nothing(rider):
    for days in (40, 35, 31, 2):
        ConnectionLogFactory(user=rider, occurred_at=ago(days=days))
    calls = []
    result = connection_log_cleanup(
        older_than=timedelta(days=30),
        batch_size=2,
        dry_run=True,
        progress=lambda *args: calls.append(args),
    )
    assert (result.count, result.batches, result.dry_run) == (3, 2, True)
    assert calls == []
    assert ConnectionLog.objects.count() == 4


def test_cleanup_with_nothing_to_delete(rider):
    ConnectionLogFactory(user=rider, occurred_at=ago(days=1))
    calls = []
    result = connection_log_cleanup(
        older_than=timedelta(days=30), progress=lambda *args: calls.append(args)
    )
    assert (result.count, result.batches) == (0, 0)
    assert calls == []
    assert ConnectionLog.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"older_than": timedelta(0)}, "older_than"),
        ({"older_than": timedelta(days=-3)}, "older_than"),
        ({"older_than": 30}, "older_than"),
        ({"older_than": timedelta(days=30), "batch_size": 0}, "batch_size"),
        ({"older_than": timedelta(days=30), "batch_size": True}, "batch_size"),
    ],
)
def test_cleanup_refuses_a_non_positive_age_or_batch_size(rider, kwargs, field):
    ConnectionLogFactory(user=rider, occurred_at=ago(days=40))
    with pytest.raises(InvalidCleanupRequest) as caught:
        connection_log_cleanup(**kwargs)
    assert list(caught.value.fields) == [field]
    assert ConnectionLog.objects.count() == 1


def test_a_batch_cannot_reference_a_room_its_rider_was_never_in(rider):
    strangers_ride = RoomFactory()
    outcomes = connection_log_ingest_batch(
        rider=rider, events=[batch_event("x", room_code=strangers_ride.code)]
    )
    assert [(o.status, o.code) for o in outcomes] == [("rejected", "room_not_found")]
    assert not ConnectionLog.objects.filter(room=strangers_ride).exists()


def test_an_event_before_the_ride_opened_is_rejected_and_the_rest_stored(rider):
    ride = RoomFactory(creator=rider)
    RoomParticipantFactory(room=ride, user=rider)
    before = (ride.created_at - timedelta(hours=2)).isoformat()

    outcomes = connection_log_ingest_batch(
        rider=rider,
        events=[
            batch_event("early", room_code=ride.code, occurred_at=before),
            batch_event("during", room_code=ride.code, occurred_at=timezone.now().isoformat()),
        ],
    )

    assert [(o.status, o.code) for o in outcomes] == [
        ("rejected", "event_outside_ride"),
        ("stored", None),
    ]
    assert "occurred_at" in outcomes[0].fields


def test_a_former_participant_cannot_log_events_after_leaving(rider, room):
    left_at = ago(hours=3)
    RoomParticipant.objects.filter(room=room, user=rider).update(is_active=False, left_at=left_at)

    outcomes = connection_log_ingest_batch(
        rider=rider,
        events=[
            batch_event("after", room_code=room.code, occurred_at=ago(hours=1).isoformat()),
            batch_event("while-in", room_code=room.code, occurred_at=ago(hours=5).isoformat()),
        ],
    )

    assert [(o.status, o.code) for o in outcomes] == [
        ("rejected", "event_outside_ride"),
        ("stored", None),
    ]


def test_a_phone_clock_a_little_behind_is_allowed(rider):
    ride = RoomFactory(creator=rider)
    RoomParticipantFactory(room=ride, user=rider)
    slightly_before = (ride.created_at - timedelta(seconds=30)).isoformat()

    outcomes = connection_log_ingest_batch(
        rider=rider,
        events=[batch_event("skewed", room_code=ride.code, occurred_at=slightly_before)],
    )

    assert statuses(outcomes) == ["stored"]
