"""The database holds the rooms' invariants even when the services are bypassed."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.integrity import violated_constraint
from rooms.models import Room, RoomParticipant
from tests.rooms.factories import RoomFactory, RoomParticipantFactory

pytestmark = pytest.mark.django_db


def _room(**values) -> Room:
    return Room.objects.create(**({"name": "Coast run", "code": "ABCDEF"} | values))


def test_room_code_is_unique(rider):
    _room(code="HJKMNP", creator=rider)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        _room(code="HJKMNP", creator=rider)

    assert violated_constraint(excinfo.value) == "room_code_unique"


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("abcdef", id="lower-case"),
        pytest.param("ABCDE0", id="zero"),
        pytest.param("ABCDEO", id="letter-o"),
        pytest.param("ABCDE1", id="one"),
        pytest.param("ABCDEI", id="letter-i"),
        pytest.param("ABC", id="too-short"),
        pytest.param("", id="empty"),
        pytest.param("ABC DE", id="space"),
    ],
)
def test_room_code_format_is_enforced(code):
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        _room(code=code)

    assert violated_constraint(excinfo.value) == "room_code_format"


@pytest.mark.parametrize("max_participants", [0, 1, 51, 1000])
def test_room_capacity_is_within_range(max_participants):
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        _room(max_participants=max_participants)

    assert violated_constraint(excinfo.value) == "room_max_participants_range"


@pytest.mark.parametrize("max_participants", [2, 50])
def test_room_capacity_bounds_are_allowed(max_participants):
    assert _room(max_participants=max_participants).pk


@pytest.mark.parametrize(
    ("is_active", "deactivated_at"),
    [(False, None), (True, timezone.now())],
    ids=["inactive-without-date", "active-with-date"],
)
def test_room_deactivated_at_matches_the_flag(is_active, deactivated_at):
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        _room(is_active=is_active, deactivated_at=deactivated_at)

    assert violated_constraint(excinfo.value) == "room_deactivated_at_matches_flag"


def test_room_name_cannot_be_empty():
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        _room(name="")

    assert violated_constraint(excinfo.value) == "room_name_not_empty"


def test_rider_cannot_be_active_in_two_rooms(rider):
    RoomParticipantFactory(user=rider)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        RoomParticipant.objects.create(room=RoomFactory(), user=rider)

    assert violated_constraint(excinfo.value) == "participant_one_active_room_per_rider"


def test_rider_may_have_left_many_rooms_and_be_active_in_one(rider):
    for _ in range(3):
        RoomParticipantFactory(user=rider, is_active=False, left_at=timezone.now())
    RoomParticipantFactory(user=rider)

    assert RoomParticipant.objects.filter(user=rider).count() == 4


def test_one_row_per_rider_and_room(rider):
    room = RoomFactory()
    RoomParticipantFactory(room=room, user=rider, is_active=False, left_at=timezone.now())

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        RoomParticipant.objects.create(room=room, user=rider)

    assert violated_constraint(excinfo.value) == "participant_room_user_unique"


@pytest.mark.parametrize(
    ("is_active", "left_at"),
    [(False, None), (True, timezone.now())],
    ids=["inactive-without-left-at", "active-with-left-at"],
)
def test_participant_left_at_matches_the_flag(rider, is_active, left_at):
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        RoomParticipant.objects.create(
            room=RoomFactory(), user=rider, is_active=is_active, left_at=left_at
        )

    assert violated_constraint(excinfo.value) == "participant_left_at_matches_flag"


def test_a_removed_rider_is_not_riding(rider):
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        RoomParticipant.objects.create(room=RoomFactory(), user=rider, removed_at=timezone.now())

    assert violated_constraint(excinfo.value) == "participant_removed_is_not_active"
