"""rooms.alerts: one alert per persisting condition, every change announced once after it
commits, and bad input refused with nothing recorded."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.domain_events import subscribe
from config.integrity import violated_constraint
from rooms.alerts import (
    MAX_TRAIL_POINTS,
    alert_acknowledge,
    alert_raise,
    alert_resolve,
    alerts_raise_due,
    alerts_resolve_condition,
)
from rooms.errors import (
    AlertAlreadyResolved,
    AlertNotFound,
    AlertPending,
    InvalidAlertData,
    NotInRoom,
    NotRoomMember,
    OwnAlert,
    RoomInactive,
)
from rooms.events import AlertAcknowledged, AlertRaised, AlertResolved
from rooms.models import AlertStatus, RideAlert
from rooms.services import (
    participant_join,
    participant_leave,
    participant_remove,
    room_create,
    room_deactivate,
)
from tests.racing import race
from tests.riders.factories import RiderFactory

_heard: list[object] = []
_heard_lock = threading.Lock()


def _hear(event: object) -> None:
    with _heard_lock:
        _heard.append(event)


for _event_type in (AlertRaised, AlertAcknowledged, AlertResolved):
    subscribe(_event_type, _hear)


@pytest.fixture
def heard() -> list[object]:
    _heard.clear()
    yield _heard
    _heard.clear()


@pytest.fixture
def ride(db):
    leader, lost, sweep = RiderFactory(), RiderFactory(), RiderFactory()
    room = room_create(creator=leader, name="Alpine loop")
    participant_join(rider=lost, code=room.code)
    participant_join(rider=sweep, code=room.code)
    return room, leader, lost, sweep


POSITION = {"lat": 46.5, "lon": 8.1, "speed_kmh": 62.0, "heading_deg": 270.0, "at": None}


def _raise(room, rider, kind="stopped", **values):
    arguments = {"position": None, "trail": [], "details": {}} | values
    return alert_raise(room_id=room.pk, rider_id=rider.pk, kind=kind, **arguments)


def _kinds(events: list[object]) -> list[str]:
    return [type(event).__name__ for event in events]


@pytest.mark.django_db
def test_a_raise_records_the_alert_and_announces_it_after_commit(
    ride, heard, django_capture_on_commit_callbacks
):
    room, _, lost, _ = ride
    at = datetime(2026, 12, 8, 0, 10, 5, 123456, tzinfo=UTC)
    trail = [
        {"lat": 46.49, "lon": 8.12, "speed_kmh": 70, "heading_deg": 268, "at": at.isoformat()},
        {"lat": 46.5, "lon": 8.1},
    ]

    with django_capture_on_commit_callbacks(execute=True):
        alert, created = _raise(
            room,
            lost,
            kind="split",
            position=POSITION | {"at": at},
            trail=trail,
            details={"metres_behind": 1450},
        )
        assert heard == []

    assert created
    stored = RideAlert.objects.get(pk=alert.pk)
    assert (stored.status, stored.kind, stored.due_at) == (AlertStatus.OPEN, "split", None)
    assert (stored.lat, stored.lon, stored.speed_kmh, stored.heading_deg) == (46.5, 8.1, 62, 270)
    assert stored.position_at == at.replace(microsecond=123000)
    assert stored.trail == [
        {
            "lat": 46.49,
            "lon": 8.12,
            "speed_kmh": 70.0,
            "heading_deg": 268.0,
            "at": "2026-12-08T00:10:05.123Z",
        },
        {"lat": 46.5, "lon": 8.1, "speed_kmh": None, "heading_deg": None, "at": None},
    ]
    assert heard == [
        AlertRaised(
            alert_id=alert.pk,
            room_id=room.pk,
            rider_id=lost.pk,
            kind="split",
            raised_at=stored.raised_at,
            opened_at=stored.raised_at,
            position=POSITION | {"at": "2026-12-08T00:10:05.123Z"},
            details={"metres_behind": 1450},
        )
    ]


@pytest.mark.django_db
def test_a_repeat_returns_the_same_alert_and_announces_nothing(
    ride, heard, django_capture_on_commit_callbacks
):
    room, _, lost, _ = ride
    with django_capture_on_commit_callbacks(execute=True):
        first, _ = _raise(room, lost)
    with django_capture_on_commit_callbacks(execute=True):
        again = [_raise(room, lost, details={"seconds": n}) for n in range(3)]

    assert again == [(first, False)] * 3
    assert RideAlert.objects.get().details == {}
    assert _kinds(heard) == ["AlertRaised"]


@pytest.mark.django_db
def test_each_kind_and_rider_is_an_alert_of_its_own(ride):
    room, _, lost, sweep = ride
    _raise(room, lost, kind="stopped")
    _raise(room, lost, kind="silent")
    _raise(room, sweep, kind="stopped")

    assert RideAlert.objects.count() == 3


@pytest.mark.django_db
def test_once_resolved_the_same_condition_raises_a_new_alert(
    ride, heard, django_capture_on_commit_callbacks
):
    room, leader, lost, _ = ride
    with django_capture_on_commit_callbacks(execute=True):
        first, _ = _raise(room, lost)
        alert_resolve(alert_id=first.pk, room=room, by=leader, resolution="handled")
        second, created = _raise(room, lost)

    assert created
    assert second.pk != first.pk
    assert sorted(RideAlert.objects.values_list("status", flat=True)) == ["open", "resolved"]
    assert _kinds(heard) == ["AlertRaised", "AlertResolved", "AlertRaised"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("repetition", range(3))
def test_two_processes_raising_the_same_alert_at_once_make_one_row_and_one_event(repetition, heard):
    leader, lost = RiderFactory(), RiderFactory()
    room = room_create(creator=leader, name=f"Race {repetition}")
    participant_join(rider=lost, code=room.code)

    results = race([lambda: _raise(room, lost, kind="silent") for _ in range(8)])

    assert all(isinstance(result, tuple) for result in results), results
    alerts = {alert.pk for alert, _ in results}
    assert len(alerts) == 1
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert RideAlert.objects.count() == 1
    assert _kinds(heard) == ["AlertRaised"]


@pytest.mark.django_db(transaction=True)
def test_two_riders_acknowledging_at_once_make_one_acknowledgment(heard):
    leader, lost, sweep = RiderFactory(), RiderFactory(), RiderFactory()
    room = room_create(creator=leader, name="Two at once")
    participant_join(rider=lost, code=room.code)
    participant_join(rider=sweep, code=room.code)
    alert, _ = _raise(room, lost, kind="silent")
    heard.clear()

    results = race(
        [
            lambda by=by: alert_acknowledge(alert_id=alert.pk, room=room, by=by)
            for by in (leader, sweep)
        ]
    )

    stored = RideAlert.objects.get()
    assert {result.acknowledged_by_id for result in results} == {stored.acknowledged_by_id}
    assert stored.acknowledged_by_id in {leader.pk, sweep.pk}
    assert heard == [
        AlertAcknowledged(
            alert_id=alert.pk,
            room_id=room.pk,
            rider_id=lost.pk,
            kind="silent",
            by_id=stored.acknowledged_by_id,
            acknowledged_at=stored.acknowledged_at,
        )
    ]


@pytest.mark.django_db
def test_acknowledge_then_resolve(ride, heard, django_capture_on_commit_callbacks):
    room, leader, lost, sweep = ride
    alert, _ = _raise(room, lost, kind="stopped")
    with django_capture_on_commit_callbacks(execute=True):
        acknowledged = alert_acknowledge(alert_id=str(alert.pk), room=room, by=sweep)
        repeat = alert_acknowledge(alert_id=alert.pk, room=room, by=leader)
        resolved = alert_resolve(alert_id=alert.pk, room=room, by=leader, resolution="rider_back")

    assert (acknowledged.status, repeat.acknowledged_by_id) == ("acknowledged", sweep.pk)
    stored = RideAlert.objects.get()
    assert (stored.status, stored.resolution, stored.resolved_by_id) == (
        "resolved",
        "rider_back",
        leader.pk,
    )
    assert stored.acknowledged_by_id == sweep.pk
    assert heard[-1] == AlertResolved(
        alert_id=alert.pk,
        room_id=room.pk,
        rider_id=lost.pk,
        kind="stopped",
        resolution="rider_back",
        by_id=leader.pk,
        resolved_at=resolved.resolved_at,
    )
    assert _kinds(heard) == ["AlertAcknowledged", "AlertResolved"]


@pytest.mark.django_db
def test_a_resolved_alert_cannot_be_acknowledged_or_resolved_again(ride):
    room, leader, lost, sweep = ride
    alert, _ = _raise(room, lost)
    alert_resolve(alert_id=alert.pk, room=room, by=None, resolution="condition_cleared")

    with pytest.raises(AlertAlreadyResolved) as excinfo:
        alert_acknowledge(alert_id=alert.pk, room=room, by=sweep)
    assert (excinfo.value.status, excinfo.value.code) == (409, "alert_already_resolved")
    with pytest.raises(AlertAlreadyResolved):
        alert_resolve(alert_id=alert.pk, room=room, by=leader, resolution="handled")

    stored = RideAlert.objects.get()
    assert (stored.resolution, stored.resolved_by_id, stored.acknowledged_at) == (
        "condition_cleared",
        None,
        None,
    )


@pytest.mark.django_db
def test_an_alert_of_another_ride_or_an_unknown_id_is_not_found(ride):
    room, _, lost, _ = ride
    alert, _ = _raise(room, lost)
    other_leader = RiderFactory()
    other = room_create(creator=other_leader, name="Elsewhere")

    for alert_id in (alert.pk, uuid.uuid4(), "not-a-uuid", 17):
        with pytest.raises(AlertNotFound) as excinfo:
            alert_acknowledge(alert_id=alert_id, room=other, by=other_leader)
        assert excinfo.value.status == 404
    with pytest.raises(AlertNotFound):
        alert_resolve(alert_id=alert.pk, room=other, by=other_leader, resolution="handled")
    assert RideAlert.objects.get().status == AlertStatus.OPEN


@pytest.mark.django_db
def test_riders_not_in_the_ride_now_are_refused_as_everywhere_in_the_room_api(ride):
    room, leader, lost, sweep = ride
    alert, _ = _raise(room, lost)
    stranger = RiderFactory()
    left = RiderFactory()
    participant_join(rider=left, code=room.code)
    participant_leave(rider=left, code=room.code)
    participant_remove(room=room, rider=sweep, actor=leader)

    for outsider in (stranger, left, sweep):
        with pytest.raises(NotRoomMember) as excinfo:
            alert_acknowledge(alert_id=alert.pk, room=room, by=outsider)
        assert excinfo.value.status == 403
        with pytest.raises(NotRoomMember):
            alert_resolve(alert_id=alert.pk, room=room, by=outsider, resolution="false_alarm")
    assert RideAlert.objects.get().status == AlertStatus.OPEN


@pytest.mark.django_db
def test_support_staff_may_act_on_any_ride(ride, staff):
    room, _, lost, _ = ride
    alert, _ = _raise(room, lost, kind="silent")

    alert_acknowledge(alert_id=alert.pk, room=room, by=staff)
    alert_resolve(alert_id=alert.pk, room=room, by=staff, resolution="handled")

    stored = RideAlert.objects.get()
    assert (stored.acknowledged_by_id, stored.resolved_by_id) == (staff.pk, staff.pk)


@pytest.mark.django_db
def test_a_rider_cannot_acknowledge_their_own_alert_but_can_resolve_it(ride):
    room, _, lost, _ = ride
    alert, _ = _raise(room, lost, kind="sos")

    with pytest.raises(OwnAlert):
        alert_acknowledge(alert_id=alert.pk, room=room, by=lost)
    assert RideAlert.objects.get().status == AlertStatus.OPEN
    alert_resolve(alert_id=alert.pk, room=room, by=lost, resolution="false_alarm")
    assert RideAlert.objects.get().resolved_by_id == lost.pk


@pytest.mark.django_db
def test_a_pending_sos_announces_nothing_until_its_countdown_ends(
    ride, heard, django_capture_on_commit_callbacks
):
    room, leader, lost, _ = ride
    with django_capture_on_commit_callbacks(execute=True):
        alert, created = _raise(room, lost, kind="sos", countdown_seconds=30)
    assert created
    assert heard == []
    assert alert.status == AlertStatus.PENDING
    assert alert.due_at == alert.raised_at + timedelta(seconds=30)

    # The others do not know of it yet; support does, and cannot acknowledge a countdown.
    with pytest.raises(AlertNotFound):
        alert_acknowledge(alert_id=alert.pk, room=room, by=leader)
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts_raise_due(now=alert.due_at - timedelta(seconds=1)) == []
        assert heard == []
        opened = alerts_raise_due(now=alert.due_at)
        assert alerts_raise_due(now=alert.due_at + timedelta(seconds=5)) == []

    assert [a.pk for a in opened] == [alert.pk]
    assert RideAlert.objects.get().status == AlertStatus.OPEN
    assert heard == [
        AlertRaised(
            alert_id=alert.pk,
            room_id=room.pk,
            rider_id=lost.pk,
            kind="sos",
            raised_at=alert.raised_at,
            opened_at=alert.due_at,
            position=None,
            details={},
        )
    ]


@pytest.mark.django_db
def test_support_cannot_acknowledge_a_countdown(ride, staff):
    room, _, lost, _ = ride
    alert, _ = _raise(room, lost, kind="sos", countdown_seconds=60)

    with pytest.raises(AlertPending) as excinfo:
        alert_acknowledge(alert_id=alert.pk, room=room, by=staff)
    assert excinfo.value.status == 409


@pytest.mark.django_db
def test_a_countdown_cancelled_by_its_rider_ends_silently(
    ride, heard, django_capture_on_commit_callbacks
):
    room, _, lost, _ = ride
    alert, _ = _raise(room, lost, kind="sos", countdown_seconds=30)
    with django_capture_on_commit_callbacks(execute=True):
        alert_resolve(alert_id=alert.pk, room=room, by=lost, resolution="false_alarm")
        assert alerts_raise_due(now=timezone.now() + timedelta(minutes=5)) == []

    assert RideAlert.objects.get().resolution == "false_alarm"
    assert heard == []


@pytest.mark.django_db
def test_an_sos_without_countdown_opens_a_running_one_at_once(
    ride, heard, django_capture_on_commit_callbacks
):
    room, _, lost, _ = ride
    pending, _ = _raise(room, lost, kind="sos", countdown_seconds=90)
    with django_capture_on_commit_callbacks(execute=True):
        again, created = _raise(room, lost, kind="sos")
        repeat = _raise(room, lost, kind="sos", countdown_seconds=10)

    assert (again.pk, created, again.status) == (pending.pk, False, AlertStatus.OPEN)
    assert repeat == (again, False)
    assert _kinds(heard) == ["AlertRaised"]


@pytest.mark.django_db(transaction=True)
def test_watchers_opening_countdowns_at_once_open_each_once(heard):
    leader = RiderFactory()
    room = room_create(creator=leader, name="Countdowns")
    riders = [RiderFactory() for _ in range(6)]
    for rider in riders:
        participant_join(rider=rider, code=room.code)
        _raise(room, rider, kind="sos", countdown_seconds=5)
    later = timezone.now() + timedelta(seconds=10)

    results = race([lambda: alerts_raise_due(now=later) for _ in range(4)])

    opened = [alert.pk for result in results for alert in result]
    assert sorted(opened) == sorted(RideAlert.objects.values_list("pk", flat=True))
    assert _kinds(heard) == ["AlertRaised"] * 6


@pytest.mark.django_db
def test_the_server_ends_an_alert_whose_condition_ended(
    ride, heard, django_capture_on_commit_callbacks
):
    room, _, lost, sweep = ride
    alert, _ = _raise(room, lost, kind="split")
    alert_acknowledge(alert_id=alert.pk, room=room, by=sweep)
    with django_capture_on_commit_callbacks(execute=True):
        ended = alerts_resolve_condition(
            room_id=room.pk, rider_id=lost.pk, kind="split", resolution="condition_cleared"
        )
        again = alerts_resolve_condition(
            room_id=room.pk, rider_id=lost.pk, kind="split", resolution="condition_cleared"
        )
        other_kind = alerts_resolve_condition(
            room_id=room.pk, rider_id=lost.pk, kind="stopped", resolution="rider_back"
        )

    assert ended is not None
    assert ended.pk == alert.pk
    assert (again, other_kind) == (None, None)
    stored = RideAlert.objects.get()
    assert (stored.status, stored.resolution, stored.resolved_by_id) == (
        "resolved",
        "condition_cleared",
        None,
    )
    assert [(type(e).__name__, e.by_id) for e in heard] == [("AlertResolved", None)]


@pytest.mark.django_db
def test_the_server_never_ends_a_countdown_by_condition(ride):
    room, _, lost, _ = ride
    _raise(room, lost, kind="sos", countdown_seconds=30)

    assert (
        alerts_resolve_condition(
            room_id=room.pk, rider_id=lost.pk, kind="sos", resolution="handled"
        )
        is None
    )
    assert RideAlert.objects.get().status == AlertStatus.PENDING


@pytest.mark.django_db
def test_only_a_rider_in_an_ongoing_ride_can_be_alerted_about(ride):
    room, leader, lost, _ = ride
    stranger = RiderFactory()
    with pytest.raises(NotInRoom):
        _raise(room, stranger)
    participant_leave(rider=lost, code=room.code)
    with pytest.raises(NotInRoom):
        _raise(room, lost)
    room_deactivate(room=room, actor=leader)
    with pytest.raises(RoomInactive):
        _raise(room, leader)
    assert not RideAlert.objects.exists()


BAD_RAISES = [
    pytest.param({"kind": "crash"}, "kind", id="unknown-kind"),
    pytest.param({"kind": None}, "kind", id="kind-none"),
    pytest.param({"kind": ["sos"]}, "kind", id="kind-list"),
    pytest.param({"position": {"lat": 91, "lon": 0}}, "position.lat", id="lat-out-of-range"),
    pytest.param({"position": {"lat": 86, "lon": 0}}, "position.lat", id="lat-past-geo-limit"),
    pytest.param({"position": {"lat": 0, "lon": 180.5}}, "position.lon", id="lon-out-of-range"),
    pytest.param({"position": {"lat": "46", "lon": 8}}, "position.lat", id="lat-text"),
    pytest.param({"position": {"lat": True, "lon": 8}}, "position.lat", id="lat-bool"),
    pytest.param({"position": {"lat": float("nan"), "lon": 8}}, "position.lat", id="lat-nan"),
    pytest.param({"position": {"lon": 8}}, "position.lat", id="lat-missing"),
    pytest.param({"position": {"lat": 1, "lon": 1, "alt": 3}}, "position", id="unknown-key"),
    pytest.param({"position": [46, 8]}, "position", id="position-list"),
    pytest.param(
        {"position": {"lat": 1, "lon": 1, "speed_kmh": -1}}, "position.speed_kmh", id="speed"
    ),
    pytest.param(
        {"position": {"lat": 1, "lon": 1, "heading_deg": 361}}, "position.heading_deg", id="hdg"
    ),
    pytest.param(
        {"position": {"lat": 1, "lon": 1, "at": "2026-12-08T00:00:00"}}, "position.at", id="naive"
    ),
    pytest.param({"position": {"lat": 1, "lon": 1, "at": "yesterday"}}, "position.at", id="at"),
    pytest.param({"trail": {"lat": 1}}, "trail", id="trail-object"),
    pytest.param({"trail": [{"lat": 1, "lon": 1}, {"lat": 99}]}, "trail[1].lat", id="trail-pt"),
    pytest.param(
        {"trail": [{"lat": 1, "lon": 1}] * (MAX_TRAIL_POINTS + 1)}, "trail", id="trail-huge"
    ),
    pytest.param({"details": []}, "details", id="details-list"),
    pytest.param({"details": {"x": float("inf")}}, "details", id="details-inf"),
    pytest.param({"details": {"x": object()}}, "details", id="details-object"),
    pytest.param({"details": {"x": "a\x00b"}}, "details", id="details-nul"),
    pytest.param({"details": {"x": "\ud800"}}, "details", id="details-surrogate"),
    pytest.param({"details": {"x": "y" * 5000}}, "details", id="details-huge"),
    pytest.param({"kind": "sos", "countdown_seconds": 121}, "countdown_seconds", id="long"),
    pytest.param({"kind": "sos", "countdown_seconds": -1}, "countdown_seconds", id="negative"),
    pytest.param({"kind": "sos", "countdown_seconds": 2.5}, "countdown_seconds", id="float"),
    pytest.param({"kind": "sos", "countdown_seconds": True}, "countdown_seconds", id="bool"),
    pytest.param({"kind": "split", "countdown_seconds": 30}, "countdown_seconds", id="not-sos"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("values", "field"), BAD_RAISES)
def test_a_malformed_raise_is_refused_and_records_nothing(ride, values, field):
    room, _, lost, _ = ride

    with pytest.raises(InvalidAlertData) as excinfo:
        _raise(room, lost, **values)

    assert excinfo.value.status == 422
    assert list(excinfo.value.fields) == [field]
    assert not RideAlert.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("resolution", ["solved", "", None, 3, "RIDER_BACK"])
def test_an_unknown_resolution_is_refused_and_changes_nothing(ride, resolution):
    room, leader, lost, _ = ride
    alert, _ = _raise(room, lost)

    with pytest.raises(InvalidAlertData) as excinfo:
        alert_resolve(alert_id=alert.pk, room=room, by=leader, resolution=resolution)
    assert list(excinfo.value.fields) == ["resolution"]
    with pytest.raises(InvalidAlertData):
        alerts_resolve_condition(
            room_id=room.pk, rider_id=lost.pk, kind="stopped", resolution=resolution
        )
    assert RideAlert.objects.get().status == AlertStatus.OPEN


@pytest.mark.django_db
def test_the_database_keeps_one_unresolved_alert_per_rider_and_kind(ride):
    room, _, lost, _ = ride
    _raise(room, lost, kind="silent")

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        RideAlert.objects.create(
            room=room,
            rider=lost,
            kind="silent",
            status="acknowledged",
            acknowledged_at=timezone.now(),
        )
    assert violated_constraint(excinfo.value) == "ride_alert_one_unresolved"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"kind": "crash"}, "ride_alert_kind_known"),
        ({"status": "closed"}, "ride_alert_status_known"),
        ({"status": "resolved"}, "ride_alert_resolution_matches_status"),
        ({"resolution": "handled"}, "ride_alert_resolution_matches_status"),
        ({"status": "acknowledged"}, "ride_alert_acknowledged_has_time"),
        ({"status": "pending"}, "ride_alert_pending_is_sos_countdown"),
        (
            {"status": "pending", "kind": "split", "due_at": timezone.now()},
            "ride_alert_pending_is_sos_countdown",
        ),
        ({"lat": 90.0, "lon": 0.0}, "ride_alert_position_range"),
        ({"lat": 10.0}, "ride_alert_position_range"),
        ({"speed_kmh": -3.0}, "ride_alert_speed_range"),
        ({"heading_deg": 400.0}, "ride_alert_heading_range"),
    ],
)
def test_the_database_holds_an_alert_together(ride, values, constraint):
    room, _, lost, _ = ride

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        RideAlert.objects.create(
            **({"room": room, "rider": lost, "kind": "sos", "status": "open"} | values)
        )
    assert violated_constraint(excinfo.value) == constraint


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "constraint"),
    [
        ("split_distance_m", 199, "room_split_distance_range"),
        ("split_distance_m", 20001, "room_split_distance_range"),
        ("stopped_seconds", 29, "room_stopped_seconds_range"),
        ("stopped_seconds", 901, "room_stopped_seconds_range"),
        ("silent_speed_kmh", 4, "room_silent_speed_range"),
        ("silent_speed_kmh", 201, "room_silent_speed_range"),
    ],
)
def test_a_ride_thresholds_stay_in_their_bounds(ride, field, value, constraint):
    room = ride[0]
    assert (room.split_distance_m, room.stopped_seconds, room.silent_speed_kmh) == (1000, 90, 20)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        type(room).objects.filter(pk=room.pk).update(**{field: value})
    assert violated_constraint(excinfo.value) == constraint


@pytest.mark.django_db
def test_a_repeat_raise_and_a_new_one_run_a_fixed_number_of_queries(ride, exact_queries):
    # The watcher raises a persisting condition again every tick: that path stays short.
    room, _, lost, sweep = ride
    _raise(room, lost, kind="silent")

    # savepoint, ride on, rider in it, the unresolved alert locked, release
    with exact_queries(5):
        again, created = _raise(room, lost, kind="silent")
    # savepoint, ride on, rider in it, none unresolved, savepoint, insert, release, release
    with exact_queries(8):
        _, created_new = _raise(room, sweep, kind="silent")

    assert (created, created_new) == (False, True)
    assert again.kind == "silent"
