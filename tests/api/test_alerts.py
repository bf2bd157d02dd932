"""GET rooms/{code}/alerts/, POST .../acknowledge/ and .../resolve/: who may, in what order,
what a repeat does, and that bad input changes nothing. Query counts are exact."""

import uuid

import pytest

from riders.models import AuditAction, AuditEntry
from rooms.alerts import alert_raise
from rooms.models import AlertStatus, RideAlert
from rooms.services import participant_join, participant_remove, room_create
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ride():
    leader, lost, sweep = RiderFactory(), RiderFactory(), RiderFactory()
    room = room_create(creator=leader, name="Col du Galibier")
    participant_join(rider=lost, code=room.code)
    participant_join(rider=sweep, code=room.code)
    return room, leader, lost, sweep


def _raise(room, rider, kind="stopped", **values):
    arguments = {
        "position": {"lat": 45.06, "lon": 6.41, "speed_kmh": 0, "heading_deg": None},
        "trail": [{"lat": 45.05, "lon": 6.4, "speed_kmh": 35, "heading_deg": 12, "at": None}],
        "details": {"stopped_seconds": 95},
    } | values
    return alert_raise(room_id=room.pk, rider_id=rider.pk, kind=kind, **arguments)[0]


def _url(room, *rest: object) -> str:
    return "/".join([f"/api/v1/rooms/{room.code}/alerts", *map(str, rest), ""])


def test_the_list_puts_open_alerts_first_then_acknowledged_then_resolved(ride, auth_client):
    room, leader, lost, sweep = ride
    acknowledged = _raise(room, lost, kind="stopped")
    resolved = _raise(room, sweep, kind="split")
    newest_open = _raise(room, leader, kind="silent")
    client = auth_client(sweep)
    client.post(_url(room, acknowledged.pk, "acknowledge"))
    auth_client(leader).post(
        _url(room, resolved.pk, "resolve"), {"resolution": "handled"}, format="json"
    )
    older_open = _raise(room, lost, kind="split")
    older_open.raised_at = newest_open.raised_at.replace(year=2025)
    older_open.save(update_fields=["raised_at"])

    listed = client.get(_url(room))

    assert listed.status_code == 200
    body = listed.json()
    assert [item["id"] for item in body["results"]] == [
        str(newest_open.pk),
        str(older_open.pk),
        str(acknowledged.pk),
        str(resolved.pk),
    ]
    first = body["results"][0]
    assert first["rider"]["id"] == str(leader.pk)
    assert first["position"] == {
        "lat": 45.06,
        "lon": 6.41,
        "speed_kmh": 0.0,
        "heading_deg": None,
        "at": None,
    }
    assert first["trail"][0]["speed_kmh"] == 35.0
    assert body["results"][2]["acknowledged_by"]["id"] == str(sweep.pk)
    assert body["results"][3]["resolved_by"]["id"] == str(leader.pk)


def test_the_status_filter(ride, auth_client):
    room, _, lost, sweep = ride
    open_one = _raise(room, lost)
    _raise(room, sweep)
    auth_client(sweep).post(_url(room, open_one.pk, "acknowledge"))
    client = auth_client(lost)

    still_open = client.get(_url(room), {"status": "open"})
    acknowledged = client.get(_url(room), {"status": "acknowledged"})
    bad = client.get(_url(room), {"status": "closed"})

    assert [item["rider"]["id"] for item in still_open.json()["results"]] == [str(sweep.pk)]
    assert [item["id"] for item in acknowledged.json()["results"]] == [str(open_one.pk)]
    assert bad.status_code == 400
    assert "status" in bad.json()["error"]["fields"]


def test_a_countdown_is_listed_to_its_rider_and_support_only(ride, auth_client, staff):
    room, leader, lost, _ = ride
    pending = _raise(room, lost, kind="sos", countdown_seconds=30)

    seen_by = {
        who: [item["id"] for item in auth_client(rider).get(_url(room)).json()["results"]]
        for who, rider in (("rider", lost), ("leader", leader), ("staff", staff))
    }

    assert seen_by == {"rider": [str(pending.pk)], "leader": [], "staff": [str(pending.pk)]}


def test_only_riders_in_the_ride_now_see_or_touch_its_alerts(ride, auth_client):
    room, leader, lost, sweep = ride
    alert = _raise(room, lost)
    participant_remove(room=room, rider=sweep, actor=leader)
    stranger = RiderFactory()

    for outsider in (stranger, sweep):
        client = auth_client(outsider)
        answers = [
            client.get(_url(room)),
            client.post(_url(room, alert.pk, "acknowledge")),
            client.post(_url(room, alert.pk, "resolve"), {"resolution": "handled"}, format="json"),
        ]
        assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [
            (403, "not_room_member")
        ] * 3
    assert RideAlert.objects.get().status == AlertStatus.OPEN


def test_acknowledge_is_idempotent_and_resolve_is_final(ride, auth_client):
    room, leader, lost, sweep = ride
    alert = _raise(room, lost)

    first = auth_client(sweep).post(_url(room, alert.pk, "acknowledge"))
    again = auth_client(leader).post(_url(room, alert.pk, "acknowledge"))
    resolved = auth_client(leader).post(
        _url(room, alert.pk, "resolve"), {"resolution": "rider_back"}, format="json"
    )
    twice = auth_client(leader).post(
        _url(room, alert.pk, "resolve"), {"resolution": "handled"}, format="json"
    )
    late_ack = auth_client(sweep).post(_url(room, alert.pk, "acknowledge"))

    assert (first.status_code, first.json()["status"]) == (200, "acknowledged")
    assert again.json()["acknowledged_by"]["id"] == str(sweep.pk)
    assert (resolved.status_code, resolved.json()["resolution"]) == (200, "rider_back")
    assert resolved.json()["resolved_by"]["id"] == str(leader.pk)
    for refused in (twice, late_ack):
        assert (refused.status_code, refused.json()["error"]["code"]) == (
            409,
            "alert_already_resolved",
        )
    assert RideAlert.objects.get().resolution == "rider_back"


def test_a_rider_cannot_acknowledge_an_alert_about_themselves(ride, auth_client):
    room, _, lost, _ = ride
    alert = _raise(room, lost, kind="sos")

    refused = auth_client(lost).post(_url(room, alert.pk, "acknowledge"))

    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "own_alert")
    assert RideAlert.objects.get().status == AlertStatus.OPEN


def test_another_rides_alert_or_an_unknown_one_is_not_found(ride, auth_client):
    room, _, lost, _ = ride
    alert = _raise(room, lost)
    other_leader = RiderFactory()
    other = room_create(creator=other_leader, name="Elsewhere")
    client = auth_client(other_leader)

    answers = [
        client.post(_url(other, alert.pk, "acknowledge")),
        client.post(_url(other, alert.pk, "resolve"), {"resolution": "handled"}, format="json"),
        client.post(_url(other, uuid.uuid4(), "acknowledge")),
        client.post(_url(other, "not-an-id", "acknowledge")),
    ]

    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [
        (404, "alert_not_found")
    ] * 4
    assert RideAlert.objects.get().status == AlertStatus.OPEN


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="missing"),
        pytest.param({"resolution": "solved"}, id="unknown"),
        pytest.param({"resolution": 3}, id="number"),
        pytest.param({"resolution": ["handled"]}, id="list"),
        pytest.param({"resolution": None}, id="null"),
        pytest.param({"resolution": "handled", "note": "x"}, id="unknown-field"),
        pytest.param(["handled"], id="not-an-object"),
    ],
)
def test_a_bad_resolve_body_is_400_and_changes_nothing(ride, auth_client, body):
    room, leader, lost, _ = ride
    alert = _raise(room, lost)

    refused = auth_client(leader).post(_url(room, alert.pk, "resolve"), body, format="json")

    assert refused.status_code == 400
    assert RideAlert.objects.get().status == AlertStatus.OPEN


def test_acknowledge_takes_no_body(ride, auth_client):
    room, leader, lost, _ = ride
    alert = _raise(room, lost)

    refused = auth_client(leader).post(
        _url(room, alert.pk, "acknowledge"), {"by": "me"}, format="json"
    )

    assert refused.status_code == 400
    assert RideAlert.objects.get().status == AlertStatus.OPEN


@pytest.mark.parametrize("rows", [2, 25])
def test_the_list_runs_a_fixed_number_of_queries(ride, auth_client, exact_queries, rows):
    room, leader, _, _ = ride
    riders = [RiderFactory() for _ in range(rows)]
    room.max_participants = 50
    room.save(update_fields=["max_participants"])
    for rider in riders:
        participant_join(rider=rider, code=room.code)
        _raise(room, rider, kind="silent")
    client = auth_client(leader)
    assert client.get(_url(room)).status_code == 200  # warm-up: last_used_at of a new token

    # token, room, membership check, count, page of alerts with their three riders
    with exact_queries(5):
        listed = client.get(_url(room))

    assert len(listed.json()["results"]) == rows


def test_an_acknowledgment_runs_a_fixed_number_of_queries(ride, auth_client, exact_queries):
    room, leader, lost, _ = ride
    alert = _raise(room, lost)
    client = auth_client(leader)
    assert client.get(_url(room)).status_code == 200  # warm-up

    # token, room, membership (permission); savepoint, membership, alert locked, update,
    # audit entry, release; the answer's alert with its riders
    with exact_queries(10):
        answered = client.post(_url(room, alert.pk, "acknowledge"))

    assert answered.status_code == 200


def test_acknowledging_and_resolving_are_in_the_audit_trail(ride, auth_client):
    room, leader, lost, sweep = ride
    alert = _raise(room, lost)

    auth_client(sweep).post(_url(room, alert.pk, "acknowledge"))
    auth_client(sweep).post(_url(room, alert.pk, "acknowledge"))  # a repeat records nothing
    auth_client(leader).post(
        _url(room, alert.pk, "resolve"), {"resolution": "rider_back"}, format="json"
    )

    entries = AuditEntry.objects.filter(target_id=str(alert.pk)).order_by("created_at")
    assert [(e.action, e.actor_id) for e in entries] == [
        (AuditAction.ALERT_ACKNOWLEDGED, sweep.pk),
        (AuditAction.ALERT_RESOLVED, leader.pk),
    ]
    # The label names the ride, never the rider (a deletion rewrites only the rider's entries).
    assert lost.username not in entries[1].target_label
    assert entries[1].details["resolution"] == "rider_back"
