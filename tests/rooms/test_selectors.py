from datetime import timedelta

import pytest
from django.utils import timezone

from rooms.errors import InvalidRoomCode, NotInRoom, RoomNotFound
from rooms.selectors import (
    normalize_room_code,
    participant_get_active,
    participant_is_in_room,
    room_active_participants,
    room_get_by_code,
)
from tests.riders.factories import RiderFactory
from tests.rooms.factories import RoomFactory, RoomParticipantFactory


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("ABCDEF", "ABCDEF"),
        ("abcdef", "ABCDEF"),
        (" abc def ", "ABCDEF"),
        ("a b\tc\nd e f", "ABCDEF"),
        ("\u00a0HJK\u2003MNP", "HJKMNP"),
        ("234789", "234789"),
    ],
)
def test_normalize_room_code(typed, expected):
    assert normalize_room_code(typed) == expected


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param("", id="empty"),
        pytest.param("ABCDE", id="short"),
        pytest.param("ABCDEFG", id="long"),
        pytest.param("ABCD0F", id="zero"),
        pytest.param("ABCDOF", id="letter-o"),
        pytest.param("ABCD1F", id="one"),
        pytest.param("abcdif", id="letter-i"),
        pytest.param("ABC-EF", id="dash"),
        pytest.param("ABCD\u00df", id="sharp-s-upper-cases-to-SS"),
        pytest.param("ABCDE\u017f", id="long-s-upper-cases-to-S"),
        pytest.param("\uff21\uff22\uff23\uff24\uff25\uff26", id="full-width"),
        pytest.param(None, id="none"),
        pytest.param(123456, id="number"),
        pytest.param(b"ABCDEF", id="bytes"),
    ],
)
def test_normalize_room_code_rejects(typed):
    with pytest.raises(InvalidRoomCode) as excinfo:
        normalize_room_code(typed)

    assert excinfo.value.code == "invalid_room_code"
    assert excinfo.value.status == 400
    assert "code" in excinfo.value.fields


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["hjkmnp", " HJK MNP ", "hJk mNp"])
def test_room_get_by_code_ignores_case_and_spaces(typed):
    room = RoomFactory(code="HJKMNP")
    RoomFactory(code="HJKMNQ")

    assert room_get_by_code(code=typed) == room


@pytest.mark.django_db
def test_room_get_by_code_unknown_or_malformed():
    RoomFactory(code="HJKMNP")

    with pytest.raises(RoomNotFound) as excinfo:
        room_get_by_code(code="hjkmnq")
    assert excinfo.value.code == "room_not_found"
    assert "HJKMNQ" in excinfo.value.message
    with pytest.raises(InvalidRoomCode):
        room_get_by_code(code="HJKMN0")


def _fill(room, count):
    start = timezone.now() - timedelta(minutes=count)
    return [
        RoomParticipantFactory(room=room, joined_at=start + timedelta(minutes=index))
        for index in range(count)
    ]


@pytest.mark.django_db
def test_room_active_participants_in_join_order_without_those_who_left():
    room = RoomFactory(max_participants=10)
    first, second, third = _fill(room, 3)
    second.is_active, second.left_at = False, timezone.now()
    second.save()
    _fill(RoomFactory(), 2)

    assert list(room_active_participants(room=room)) == [first, third]


@pytest.mark.django_db
@pytest.mark.parametrize("participant_count", [1, 20])
def test_room_active_participants_is_one_query_whatever_the_number(
    exact_queries, participant_count
):
    room = RoomFactory(max_participants=50)
    _fill(room, participant_count)

    with exact_queries(1):
        names = [p.user.public_name for p in room_active_participants(room=room)]

    assert len(names) == participant_count


@pytest.mark.django_db
def test_participant_is_in_room(rider):
    room, other_room = RoomFactory(), RoomFactory()
    membership = RoomParticipantFactory(room=room, user=rider)

    assert participant_is_in_room(rider=rider, room=room)
    assert not participant_is_in_room(rider=rider, room=other_room)
    assert not participant_is_in_room(rider=RiderFactory(), room=room)

    membership.is_active, membership.left_at = False, timezone.now()
    membership.save()
    assert not participant_is_in_room(rider=rider, room=room)


@pytest.mark.django_db
def test_participant_get_active(rider):
    room = RoomFactory()
    membership = RoomParticipantFactory(room=room, user=rider)

    assert participant_get_active(rider=rider, room=room) == membership
    with pytest.raises(NotInRoom):
        participant_get_active(rider=rider, room=RoomFactory())
