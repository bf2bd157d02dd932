"""Ride alerts over HTTP against a real server: the list, acknowledging and resolving, with
the neighbours a client meets (a former member, another ride's alert, a resolved alert, wrong
types, a huge body, repeats, two riders acknowledging at the same instant)."""

import asyncio

import httpx
import pytest

from riders.auth_tokens import token_issue
from rooms.alerts import alert_raise
from rooms.models import AlertStatus, RideAlert
from rooms.services import participant_join, participant_leave, room_create
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _ride():
    leader, lost, sweep = RiderFactory(), RiderFactory(), RiderFactory()
    room = room_create(creator=leader, name="Stelvio")
    participant_join(rider=lost, code=room.code)
    participant_join(rider=sweep, code=room.code)
    alert, _ = alert_raise(
        room_id=room.pk,
        rider_id=lost.pk,
        kind="silent",
        position={"lat": 46.53, "lon": 10.45, "speed_kmh": 54, "heading_deg": 200},
        trail=[],
        details={"grace_seconds": 90},
    )
    riders = (leader, lost, sweep)
    return room, alert, riders, [_auth(rider) for rider in riders]


def _auth(rider) -> dict:
    return {"Authorization": f"Bearer {token_issue(rider=rider).key}"}


def test_a_rider_lists_acknowledges_and_resolves_an_alert(live_server_url):
    room, alert, _, (as_leader, _, as_sweep) = _ride()
    api = f"{live_server_url}/api/v1/rooms/{room.code}/alerts"

    with httpx.Client(timeout=10) as http:
        listed = http.get(f"{api}/", headers=as_sweep)
        acknowledged = http.post(f"{api}/{alert.pk}/acknowledge/", headers=as_sweep)
        repeat = http.post(f"{api}/{alert.pk}/acknowledge/", headers=as_leader)
        resolved = http.post(
            f"{api}/{alert.pk}/resolve/", json={"resolution": "handled"}, headers=as_leader
        )
        again = http.post(
            f"{api}/{alert.pk}/resolve/", json={"resolution": "handled"}, headers=as_leader
        )
        by_status = http.get(f"{api}/", params={"status": "resolved"}, headers=as_sweep)

    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["results"]] == [str(alert.pk)]
    assert listed.json()["results"][0]["details"] == {"grace_seconds": 90}
    assert (acknowledged.status_code, acknowledged.json()["status"]) == (200, "acknowledged")
    assert repeat.json()["acknowledged_by"] == acknowledged.json()["acknowledged_by"]
    assert (resolved.status_code, resolved.json()["resolution"]) == (200, "handled")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "alert_already_resolved")
    assert [item["status"] for item in by_status.json()["results"]] == ["resolved"]


def test_a_former_member_and_another_rides_leader_are_refused(live_server_url):
    room, alert, (_, _, sweep), (_, _, as_sweep) = _ride()
    participant_leave(rider=sweep, code=room.code)
    other_leader = RiderFactory()
    other = room_create(creator=other_leader, name="Elsewhere")
    as_other = _auth(other_leader)

    with httpx.Client(timeout=10, base_url=live_server_url) as http:
        former = [
            http.get(f"/api/v1/rooms/{room.code}/alerts/", headers=as_sweep),
            http.post(
                f"/api/v1/rooms/{room.code}/alerts/{alert.pk}/acknowledge/", headers=as_sweep
            ),
        ]
        foreign = [
            http.post(
                f"/api/v1/rooms/{other.code}/alerts/{alert.pk}/acknowledge/", headers=as_other
            ),
            http.post(
                f"/api/v1/rooms/{other.code}/alerts/{alert.pk}/resolve/",
                json={"resolution": "false_alarm"},
                headers=as_other,
            ),
        ]

    assert [(a.status_code, a.json()["error"]["code"]) for a in former] == [
        (403, "not_room_member")
    ] * 2
    assert [(a.status_code, a.json()["error"]["code"]) for a in foreign] == [
        (404, "alert_not_found")
    ] * 2
    assert RideAlert.objects.get().status == AlertStatus.OPEN


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(b'{"resolution": "handled"', 400, id="broken-json"),
        pytest.param(b'{"resolution": 7}', 400, id="number"),
        pytest.param(b'{"resolution": "fixed"}', 400, id="unknown-word"),
        pytest.param(b'"handled"', 400, id="string-body"),
        pytest.param(b'{"resolution": "' + b"x" * 2_000_000 + b'"}', 413, id="huge"),
    ],
)
def test_a_bad_resolve_changes_nothing(live_server_url, body, status):
    room, alert, _, (as_leader, _, _) = _ride()

    with httpx.Client(timeout=30) as http:
        refused = http.post(
            f"{live_server_url}/api/v1/rooms/{room.code}/alerts/{alert.pk}/resolve/",
            content=body,
            headers={**as_leader, "Content-Type": "application/json"},
        )

    assert refused.status_code == status, refused.text
    assert RideAlert.objects.get().status == AlertStatus.OPEN


def test_two_riders_acknowledging_at_the_same_instant_make_one_acknowledgment(live_server_url):
    room, alert, _, (as_leader, _, as_sweep) = _ride()
    url = f"{live_server_url}/api/v1/rooms/{room.code}/alerts/{alert.pk}/acknowledge/"

    async def both():
        async with httpx.AsyncClient(timeout=10) as http:
            return await asyncio.gather(
                http.post(url, headers=as_leader), http.post(url, headers=as_sweep)
            )

    answers = asyncio.run(both())

    assert [answer.status_code for answer in answers] == [200, 200]
    stored = RideAlert.objects.get()
    assert stored.status == AlertStatus.ACKNOWLEDGED
    # Both answers name the one acknowledgment that stands.
    assert {answer.json()["acknowledged_by"]["id"] for answer in answers} == {
        str(stored.acknowledged_by_id)
    }
