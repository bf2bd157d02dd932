"""Each list endpoint runs a fixed number of queries, whether it lists 2 rows or 25.

Counted for the whole request, authentication included. The token's first use writes
last_used_at once; a warm-up request takes that write out of the measured one.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from rooms.models import Room
from telemetry.models import ConnectionLog
from tests.riders.factories import RiderFactory
from tests.rooms.factories import RoomFactory, RoomParticipantFactory
from tests.telemetry.factories import ConnectionLogFactory

pytestmark = pytest.mark.django_db

SMALL, LARGE = 2, 25


def _queries_for(client, url: str, exact_queries, expected: int, expected_rows: int) -> None:
    assert client.get(url).status_code == 200  # warm-up: last_used_at of a new token
    with exact_queries(expected):
        response = client.get(url)
    assert response.status_code == 200
    assert len(response.json()["results"]) == expected_rows


def _rooms(count: int) -> list[Room]:
    rooms = []
    for _ in range(count):
        room = RoomFactory(creator=RiderFactory(), max_participants=50)
        RoomParticipantFactory(room=room, user=room.creator)
        rooms.append(room)
    return rooms


@pytest.mark.parametrize("rows", [SMALL, LARGE])
def test_rooms_list(auth_client, rider, exact_queries, rows):
    _rooms(rows)

    # token, count, page of rooms with creators and live counts
    _queries_for(auth_client(rider), "/api/v1/rooms/", exact_queries, 3, rows)


@pytest.mark.parametrize("rows", [SMALL, LARGE])
def test_room_participants(auth_client, rider, exact_queries, rows):
    room = RoomFactory(max_participants=50)
    RoomParticipantFactory(room=room, user=rider)
    for _ in range(rows - 1):
        RoomParticipantFactory(room=room, user=RiderFactory())

    # token, room, membership check, count, page of participants with riders
    _queries_for(
        auth_client(rider), f"/api/v1/rooms/{room.code}/participants/", exact_queries, 5, rows
    )


@pytest.mark.parametrize("rows", [SMALL, LARGE])
def test_my_rooms(auth_client, rider, exact_queries, rows):
    now = timezone.now()
    for n in range(rows):
        RoomParticipantFactory(
            user=rider,
            room=RoomFactory(),
            joined_at=now - timedelta(hours=n + 1),
            is_active=False,
            left_at=now - timedelta(hours=n),
        )

    # token, count, page of memberships with rooms
    _queries_for(auth_client(rider), "/api/v1/riders/me/rooms/", exact_queries, 3, rows)


@pytest.mark.parametrize("rows", [SMALL, LARGE])
def test_my_devices(auth_client, rider, exact_queries, rows):
    for n in range(rows - 1):
        auth_client(rider, device_name=f"phone {n}")

    # token, count, page of devices
    _queries_for(auth_client(rider), "/api/v1/riders/me/devices/", exact_queries, 3, rows)


@pytest.mark.parametrize("rows", [SMALL, LARGE])
def test_telemetry_events(auth_client, rider, exact_queries, rows):
    for _ in range(rows):
        ConnectionLogFactory(user=rider, room=RoomFactory())
    assert ConnectionLog.objects.filter(user=rider, room__isnull=False).count() == rows

    # token, page of events with rooms (a cursor page needs no count)
    _queries_for(auth_client(rider), "/api/v1/telemetry/events/", exact_queries, 2, rows)


@pytest.mark.parametrize("rows", [SMALL, LARGE])
def test_room_removed_riders(auth_client, rider, exact_queries, rows):
    room = RoomFactory(creator=rider, max_participants=50)
    RoomParticipantFactory(room=room, user=rider)
    for _ in range(rows):
        RoomParticipantFactory(
            room=room,
            user=RiderFactory(),
            is_active=False,
            left_at=timezone.now(),
            removed_at=timezone.now(),
        )

    # token, room, count, page of removed riders with their accounts
    _queries_for(auth_client(rider), f"/api/v1/rooms/{room.code}/removed/", exact_queries, 4, rows)
