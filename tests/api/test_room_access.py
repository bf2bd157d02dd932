"""Inside a ride (presence, participants, statistics) is for its active participants and staff.

A rider who left, or was removed by the creator, is outside again, like a stranger.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from rooms.models import RoomParticipant
from rooms.services import participant_join, participant_remove, room_create
from tests.api.assertions import api_error
from tests.riders.factories import RiderFactory
from tests.rooms.factories import RoomFactory

pytestmark = pytest.mark.django_db

INSIDE = ["presence", "participants", "stats", "alerts"]

# Ride-scoped routes meant for riders who are not (or no longer) in the ride, and why.
OPEN_TO_NON_MEMBERS = {
    "": "the ride's public detail: any rider may see it to decide to join",
    "join": "a rider joins a ride they are not in",
    "rejoin": "a former participant comes back",
    "leave": "a non-member gets 409 not_in_room, which leaks nothing",
}
# Ride-scoped routes for the ride's leader and staff only: even its riders are refused.
LEADER_ONLY = {"removed": "who is barred from the ride, for the leader to let back in"}


def _url(code: str, action: str) -> str:
    return f"/api/v1/rooms/{code}/{action}/" if action else f"/api/v1/rooms/{code}/"


def _ride_with_outsiders():
    """A ride with an active rider, a rider who left and a rider the creator removed."""
    creator, active, left, removed = (RiderFactory() for _ in range(4))
    room = room_create(creator=creator, name="Stelvio")
    for rider in (active, left, removed):
        participant_join(rider=rider, code=room.code)
    RoomParticipant.objects.filter(room=room, user=left).update(
        is_active=False, left_at=timezone.now()
    )
    participant_remove(room=room, rider=removed, actor=creator)
    return room, {"active": active, "left": left, "removed": removed, "stranger": RiderFactory()}


@pytest.mark.parametrize("action", INSIDE)
@pytest.mark.parametrize("who", ["stranger", "left", "removed"])
def test_outsiders_are_refused(auth_client, action, who):
    room, riders = _ride_with_outsiders()

    api_error(auth_client(riders[who]).get(_url(room.code, action)), 403, "not_room_member")


@pytest.mark.parametrize("action", INSIDE)
def test_active_participant_and_staff_see_inside(auth_client, staff, action):
    room, riders = _ride_with_outsiders()

    assert auth_client(riders["active"]).get(_url(room.code, action)).status_code == 200
    assert auth_client(staff).get(_url(room.code, action)).status_code == 200


def test_a_former_participant_keeps_the_public_detail_their_history_and_telemetry(auth_client):
    room, riders = _ride_with_outsiders()
    client = auth_client(riders["removed"])

    assert client.get(_url(room.code, "")).status_code == 200
    history = client.get("/api/v1/riders/me/rooms/")
    assert history.status_code == 200
    assert room.code in history.content.decode()
    assert client.get("/api/v1/telemetry/events/").status_code == 200
    assert client.get("/api/v1/telemetry/stats/").status_code == 200


def _ride_routes():
    """(suffix, pattern) for every API route with a ``code`` kwarg under /api/v1/rooms/."""
    found = []

    def walk(patterns, prefix):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and "code" in entry.pattern.regex.groupindex:
                found.append((route, entry))

    walk(get_resolver().url_patterns, "")
    return [(route, entry) for route, entry in found if "rooms" in route and "api/v1" in route]


def test_every_ride_scoped_get_route_refuses_outsiders(auth_client):
    room, riders = _ride_with_outsiders()
    checked = []
    for route, entry in _ride_routes():
        actions = getattr(entry.callback, "actions", {}) or {}
        if "get" not in actions or "rider_id" in entry.pattern.regex.groupindex:
            continue
        name = actions["get"]
        suffix = "" if name == "retrieve" else name
        if suffix in OPEN_TO_NON_MEMBERS or "format" in entry.pattern.regex.groupindex:
            continue
        checked.append(suffix)
        refusal = "not_room_leader" if suffix in LEADER_ONLY else "not_room_member"
        for who in ("stranger", "left", "removed"):
            response = auth_client(riders[who]).get(_url(room.code, suffix))
            # Name the route: a new ride-scoped GET that forgot its permission fails here.
            assert response.status_code == 403, (route, who, response.status_code)
            api_error(response, 403, refusal)
    assert set(checked) >= set(INSIDE) | set(LEADER_ONLY), checked


def test_a_room_factory_ride_without_members_refuses(auth_client, rider):
    api_error(auth_client(rider).get(_url(RoomFactory().code, "presence")), 403, "not_room_member")
