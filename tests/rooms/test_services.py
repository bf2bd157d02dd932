import logging
import re

import pytest
from django.test import override_settings
from django.utils import timezone

from config.redis_config import cache_settings
from rooms import services
from rooms.api.serializers import JoinResultSerializer, ParticipantSerializer
from rooms.errors import (
    AlreadyInRoom,
    CodeSpaceExhausted,
    InvalidRoomCode,
    InvalidRoomData,
    NeverJoined,
    NotInRoom,
    NotRoomLeader,
    RoomFull,
    RoomInactive,
    RoomNotFound,
)
from rooms.models import ROOM_CODE_ALPHABET, Room, RoomParticipant
from rooms.services import (
    participant_join,
    participant_leave,
    participant_rejoin,
    participant_remove,
    room_create,
    room_deactivate,
)
from sessions_rt import services as live_services
from tests.riders.factories import RiderFactory
from tests.rooms.factories import RoomFactory, RoomParticipantFactory

pytestmark = pytest.mark.django_db

CLOSED_REDIS = cache_settings("redis://127.0.0.1:1/0", "convoy-test")


def _active_riders(room: Room) -> list:
    return list(
        RoomParticipant.objects.filter(room=room, is_active=True)
        .order_by("joined_at")
        .values_list("user_id", flat=True)
    )


def _rows(rider) -> list[tuple]:
    """Every participation of a rider, as stored."""
    return list(
        RoomParticipant.objects.filter(user=rider)
        .order_by("joined_at")
        .values_list("id", "room_id", "is_active", "left_at")
    )


def _current_room(*, rider) -> Room | None:
    """The ride the rider is active in, as stored (one at most, by constraint)."""
    participant = RoomParticipant.objects.filter(user=rider, is_active=True).first()
    return participant.room if participant else None


def _active_count(*, room: Room) -> int:
    return RoomParticipant.objects.filter(room=room, is_active=True).count()


def _active_riders_of(rider) -> int:
    return RoomParticipant.objects.filter(user=rider, is_active=True).count()


def _ended_room(**values) -> Room:
    return RoomFactory(is_active=False, deactivated_at=timezone.now(), **values)


# --- room_create --------------------------------------------------------------------------


def test_create_opens_a_room_with_a_fresh_code_and_the_creator_inside(rider):
    room = room_create(creator=rider, name="Alps loop")

    stored = Room.objects.get(pk=room.pk)
    assert re.fullmatch(f"[{ROOM_CODE_ALPHABET}]{{6}}", stored.code)
    assert stored.name == "Alps loop"
    assert stored.creator_id == rider.pk
    assert stored.max_participants == 10
    assert stored.is_active
    assert stored.deactivated_at is None
    assert _active_riders(room) == [rider.pk]


def test_create_codes_differ_between_rooms(rider):
    codes = {room_create(creator=rider, name=f"Ride {n}").code for n in range(20)}

    assert len(codes) == 20


def test_create_trims_and_collapses_the_name(rider):
    room = room_create(creator=rider, name="  Alps \t  loop \n")

    assert Room.objects.get(pk=room.pk).name == "Alps loop"


def test_create_accepts_a_name_of_the_maximum_length(rider):
    room = room_create(creator=rider, name="n" * 80)

    assert Room.objects.get(pk=room.pk).name == "n" * 80


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("   \t ", id="blank"),
        pytest.param(None, id="none"),
        pytest.param(42, id="not-text"),
        pytest.param("n" * 81, id="too-long"),
        pytest.param("Night\x00ride", id="nul"),
        pytest.param("Night\ud800ride", id="lone-surrogate"),
        pytest.param("Night\x1bride", id="escape"),
    ],
)
def test_create_rejects_a_bad_name_and_writes_nothing(rider, name):
    with pytest.raises(InvalidRoomData) as excinfo:
        room_create(creator=rider, name=name)

    assert excinfo.value.code == "invalid_room"
    assert list(excinfo.value.fields) == ["name"]
    assert not Room.objects.exists()
    assert not RoomParticipant.objects.exists()


@pytest.mark.parametrize(
    "max_participants",
    [
        pytest.param(0, id="zero"),
        pytest.param(1, id="one"),
        pytest.param(51, id="fifty-one"),
        pytest.param(10000, id="ten-thousand"),
        pytest.param(-5, id="negative"),
        pytest.param("10", id="text"),
        pytest.param(True, id="bool"),
        pytest.param(10.0, id="float"),
        pytest.param(None, id="none"),
    ],
)
def test_create_rejects_a_bad_capacity_and_writes_nothing(rider, max_participants):
    with pytest.raises(InvalidRoomData) as excinfo:
        room_create(creator=rider, name="Alps loop", max_participants=max_participants)

    assert list(excinfo.value.fields) == ["max_participants"]
    assert not Room.objects.exists()
    assert not RoomParticipant.objects.exists()


@pytest.mark.parametrize("max_participants", [2, 50])
def test_create_accepts_the_capacity_bounds(rider, max_participants):
    room = room_create(creator=rider, name="Alps loop", max_participants=max_participants)

    assert Room.objects.get(pk=room.pk).max_participants == max_participants


def test_create_moves_a_creator_who_is_active_elsewhere(rider):
    first = room_create(creator=rider, name="Morning")

    second = room_create(creator=rider, name="Evening")

    assert _current_room(rider=rider) == second
    assert _active_riders(first) == []
    old = RoomParticipant.objects.get(room=first, user=rider)
    assert old.left_at is not None
    assert not old.is_active


def test_create_retries_when_a_generated_code_is_taken(rider, monkeypatch):
    RoomFactory(code="ABCDEF")
    codes = iter(["ABCDEF", "ABCDEF", "HJKMNP"])
    monkeypatch.setattr(services, "generate_room_code", lambda: next(codes))

    room = room_create(creator=rider, name="Alps loop")

    assert room.code == "HJKMNP"
    assert Room.objects.get(pk=room.pk).code == "HJKMNP"
    assert _active_riders(room) == [rider.pk]
    assert next(codes, None) is None


def test_create_gives_up_when_every_code_is_taken_and_writes_nothing(rider, monkeypatch):
    earlier = room_create(creator=rider, name="Still riding")
    calls = []

    def always_taken():
        calls.append(1)
        return earlier.code

    monkeypatch.setattr(services, "generate_room_code", always_taken)

    with pytest.raises(CodeSpaceExhausted) as excinfo:
        room_create(creator=rider, name="Alps loop")

    assert excinfo.value.code == "room_code_unavailable"
    assert excinfo.value.status == 503
    assert len(calls) == services.CODE_ATTEMPTS
    assert list(Room.objects.values_list("pk", flat=True)) == [earlier.pk]
    # The creator did not leave the ride they were in.
    assert _current_room(rider=rider) == earlier


# --- participant_join ---------------------------------------------------------------------


def test_join_adds_the_rider_and_counts_the_active_participants(rider, other_rider):
    room = room_create(creator=rider, name="Alps loop")

    outcome = participant_join(rider=other_rider, code=room.code)

    assert outcome.active_count == 2
    assert outcome.left_room is None
    assert outcome.participant.is_active
    assert outcome.participant.left_at is None
    assert outcome.participant.room == room
    assert outcome.participant.user_id == other_rider.pk
    assert _active_riders(room) == [rider.pk, other_rider.pk]


@pytest.mark.parametrize("typed", [str.lower, lambda c: f" {c[:3]} {c[3:]} ", lambda c: f"\t{c}\n"])
def test_join_accepts_the_code_in_any_case_and_spacing(rider, typed):
    room = RoomFactory()

    outcome = participant_join(rider=rider, code=typed(room.code))

    assert outcome.participant.room == room


@pytest.mark.parametrize("code", ["", "ABCDE", "ABCDEFG", "ABCDE0", "ABCDEI", None, 123456])
def test_join_rejects_a_malformed_code(rider, code):
    with pytest.raises(InvalidRoomCode) as excinfo:
        participant_join(rider=rider, code=code)

    assert excinfo.value.code == "invalid_room_code"
    assert not RoomParticipant.objects.exists()


def test_join_unknown_code_is_not_found(rider):
    RoomFactory(code="ABCDEF")

    with pytest.raises(RoomNotFound) as excinfo:
        participant_join(rider=rider, code="ABCDEG")

    assert excinfo.value.code == "room_not_found"
    assert not RoomParticipant.objects.exists()


def test_join_an_ended_room_is_refused(rider):
    room = _ended_room()

    with pytest.raises(RoomInactive) as excinfo:
        participant_join(rider=rider, code=room.code)

    assert excinfo.value.code == "room_inactive"
    assert not RoomParticipant.objects.exists()


def test_join_a_full_room_is_refused_and_the_rider_stays_where_they_were(rider, other_rider):
    full = room_create(creator=rider, name="Pair", max_participants=2)
    participant_join(rider=RiderFactory(), code=full.code)
    current = room_create(creator=other_rider, name="Elsewhere")

    with pytest.raises(RoomFull) as excinfo:
        participant_join(rider=other_rider, code=full.code)

    assert excinfo.value.code == "room_full"
    assert excinfo.value.extra == {"capacity": 2}
    assert _active_count(room=full) == 2
    assert _current_room(rider=other_rider) == current


def test_join_twice_is_refused(rider):
    room = room_create(creator=rider, name="Alps loop")

    with pytest.raises(AlreadyInRoom) as excinfo:
        participant_join(rider=rider, code=room.code)

    assert excinfo.value.code == "already_in_room"
    assert len(_rows(rider)) == 1


def test_join_while_active_elsewhere_leaves_that_room(rider, other_rider):
    old = room_create(creator=rider, name="Morning")
    new = room_create(creator=other_rider, name="Evening")

    outcome = participant_join(rider=rider, code=new.code)

    assert outcome.left_room == old
    assert outcome.active_count == 2
    assert _active_riders(old) == []
    left = RoomParticipant.objects.get(room=old, user=rider)
    assert not left.is_active
    assert left.left_at is not None
    assert _current_room(rider=rider) == new


def test_join_leaves_the_old_room_in_the_same_transaction(rider, other_rider, monkeypatch):
    old = room_create(creator=rider, name="Morning")
    new = room_create(creator=other_rider, name="Evening")
    before = _rows(rider)

    def fail_after_the_writes(**_):
        raise RuntimeError("crash after leaving and joining")

    monkeypatch.setattr(services, "JoinOutcome", fail_after_the_writes)

    with pytest.raises(RuntimeError):
        participant_join(rider=rider, code=new.code)

    assert _rows(rider) == before
    assert _current_room(rider=rider) == old


def test_join_again_after_leaving_reactivates_the_same_row(rider, other_rider):
    room = room_create(creator=rider, name="Alps loop")
    first = participant_join(rider=other_rider, code=room.code).participant
    participant_leave(rider=other_rider, code=room.code)

    again = participant_join(rider=other_rider, code=room.code)

    assert again.participant.pk == first.pk
    assert again.active_count == 2
    stored = RoomParticipant.objects.get(room=room, user=other_rider)
    assert stored.pk == first.pk
    assert stored.is_active
    assert stored.left_at is None
    assert stored.joined_at >= first.joined_at
    assert RoomParticipant.objects.filter(room=room, user=other_rider).count() == 1


def test_join_outcome_carries_all_its_response_shows(rider, other_rider, exact_queries):
    first = room_create(creator=RiderFactory(display_name="Lena"), name="Morning")
    participant_join(rider=other_rider, code=first.code)
    room = room_create(creator=rider, name="Evening")

    outcome = participant_join(rider=other_rider, code=room.code)

    # The rider, the room with its creator and live count, the room left: nothing is read.
    with exact_queries(0):
        body = JoinResultSerializer(
            {
                "participant": outcome.participant,
                "room": outcome.participant.room,
                "left_room_code": outcome.left_room.code,
            }
        ).data
    assert body["participant"]["rider"]["username"] == other_rider.username
    assert body["room"]["creator"]["id"] == str(rider.pk)
    assert body["room"]["active_participants"] == 2 == _active_count(room=room)
    assert body["left_room_code"] == first.code
    assert outcome.left_room.pk == first.pk


def test_join_of_a_rider_whose_other_membership_just_ended_leaves_nothing(
    rider, other_rider, monkeypatch, django_capture_on_commit_callbacks
):
    old = room_create(creator=rider, name="Morning")
    participant_join(rider=other_rider, code=old.code)
    new = room_create(creator=RiderFactory(), name="Evening")
    read_state = services._membership_state

    def ended_right_after_the_read(**kwargs):
        # A kick or the end of the other ride locks that room, not the rider: it can commit
        # between the read and the join's own UPDATE.
        state = read_state(**kwargs)
        RoomParticipant.objects.filter(room=old, user=other_rider).update(
            is_active=False, left_at=timezone.now()
        )
        return state

    monkeypatch.setattr(services, "_membership_state", ended_right_after_the_read)
    removed = []
    monkeypatch.setattr(live_services, "realtime_rider_removed", lambda **kw: removed.append(kw))

    with django_capture_on_commit_callbacks(execute=True):
        outcome = participant_join(rider=other_rider, code=new.code)

    # Whoever ended it tells the old ride; the join neither reports it nor tells it again.
    assert outcome.left_room is None
    assert removed == []
    assert _current_room(rider=other_rider) == new


def test_join_moving_rooms_tells_the_room_left_once_committed(
    rider, other_rider, monkeypatch, django_capture_on_commit_callbacks
):
    old = room_create(creator=rider, name="Morning")
    participant_join(rider=other_rider, code=old.code)
    new = room_create(creator=RiderFactory(), name="Evening")
    removed = []
    monkeypatch.setattr(live_services, "realtime_rider_removed", lambda **kw: removed.append(kw))

    with django_capture_on_commit_callbacks(execute=True):
        participant_join(rider=other_rider, code=new.code)
        assert removed == []

    assert removed == [{"room_id": old.pk, "rider_id": other_rider.pk, "reason": "left"}]


# --- participant_leave --------------------------------------------------------------------


def test_leave_ends_the_participation(rider, other_rider):
    room = room_create(creator=rider, name="Alps loop")
    participant_join(rider=other_rider, code=room.code)

    left = participant_leave(rider=other_rider, code=room.code)

    assert not left.is_active
    stored = RoomParticipant.objects.get(pk=left.pk)
    assert not stored.is_active
    assert stored.left_at is not None
    assert _active_riders(room) == [rider.pk]


def test_leave_when_not_in_the_room_is_refused(rider, other_rider):
    room = room_create(creator=rider, name="Alps loop")

    with pytest.raises(NotInRoom) as excinfo:
        participant_leave(rider=other_rider, code=room.code)

    assert excinfo.value.code == "not_in_room"


def test_leave_twice_is_refused(rider):
    room = room_create(creator=rider, name="Alps loop")
    participant_leave(rider=rider, code=room.code)

    with pytest.raises(NotInRoom):
        participant_leave(rider=rider, code=room.code)


def test_leave_accepts_the_code_in_any_case_and_spacing(rider, other_rider):
    room = room_create(creator=rider, name="Alps loop")
    participant_join(rider=other_rider, code=room.code)

    left = participant_leave(rider=other_rider, code=f" {room.code.lower()} ")

    assert (left.room_id, left.user, left.is_active) == (room.pk, other_rider, False)
    assert not RoomParticipant.objects.get(pk=left.pk).is_active


def test_leave_answers_the_stored_row(rider, other_rider):
    room = room_create(creator=rider, name="Alps loop")
    joined = participant_join(rider=other_rider, code=room.code).participant

    left = participant_leave(rider=other_rider, code=room.code)

    stored = RoomParticipant.objects.select_related("user").get(pk=joined.pk)
    assert ParticipantSerializer(left).data == ParticipantSerializer(stored).data
    assert left.joined_at == joined.joined_at


def test_leave_unknown_code_is_not_found(rider):
    room_create(creator=rider, name="Alps loop")

    with pytest.raises(RoomNotFound) as excinfo:
        participant_leave(rider=rider, code="ZZZZZZ")

    assert excinfo.value.code == "room_not_found"
    assert _active_riders_of(rider) == 1


@pytest.mark.parametrize("code", ["", "ABCDE", "ABCDE0", None])
def test_leave_rejects_a_malformed_code(rider, code):
    room_create(creator=rider, name="Alps loop")

    with pytest.raises(InvalidRoomCode):
        participant_leave(rider=rider, code=code)

    assert _active_riders_of(rider) == 1


def test_leave_of_another_room_leaves_the_current_one_alone(rider, other_rider):
    current = room_create(creator=rider, name="Morning")
    other = room_create(creator=other_rider, name="Evening")

    with pytest.raises(NotInRoom):
        participant_leave(rider=rider, code=other.code)

    assert _current_room(rider=rider) == current


def test_leave_tells_the_ride_once_committed_and_only_when_it_left(
    rider, other_rider, monkeypatch, django_capture_on_commit_callbacks
):
    room = room_create(creator=rider, name="Alps loop")
    participant_join(rider=other_rider, code=room.code)
    removed = []
    monkeypatch.setattr(live_services, "realtime_rider_removed", lambda **kw: removed.append(kw))

    with django_capture_on_commit_callbacks(execute=True):
        participant_leave(rider=other_rider, code=room.code)
        with pytest.raises(NotInRoom):
            participant_leave(rider=other_rider, code=room.code)

    assert removed == [{"room_id": room.pk, "rider_id": other_rider.pk, "reason": "left"}]


def test_leave_and_moving_rooms_succeed_while_redis_is_down(
    rider, other_rider, caplog, django_capture_on_commit_callbacks
):
    # PostgreSQL is the truth; the live state and the sockets catch up when phones return.
    first = room_create(creator=rider, name="Morning")
    second = room_create(creator=RiderFactory(), name="Evening")
    participant_join(rider=other_rider, code=first.code)
    caplog.set_level(logging.WARNING, logger="sessions_rt.services")

    with (
        override_settings(CACHES=CLOSED_REDIS),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        moved = participant_join(rider=other_rider, code=second.code)
        participant_leave(rider=other_rider, code=second.code)

    assert len(callbacks) == 2
    assert moved.left_room.pk == first.pk
    assert _active_riders_of(other_rider) == 0
    warnings = [r.getMessage() for r in caplog.records if r.name == "sessions_rt.services"]
    assert len(warnings) == 4, warnings
    assert sum("rider.removed not delivered" in w for w in warnings) == 2, warnings


# --- participant_rejoin -------------------------------------------------------------------


def test_rejoin_reactivates_the_old_row(rider, other_rider):
    room = room_create(creator=rider, name="Alps loop")
    first = participant_join(rider=other_rider, code=room.code).participant
    participant_leave(rider=other_rider, code=room.code)

    outcome = participant_rejoin(rider=other_rider, room=room)

    assert outcome.participant.pk == first.pk
    assert outcome.active_count == 2
    assert RoomParticipant.objects.filter(user=other_rider).count() == 1
    assert RoomParticipant.objects.get(pk=first.pk).is_active


def test_rejoin_a_room_never_joined_is_refused(rider, other_rider):
    room = room_create(creator=rider, name="Alps loop")

    with pytest.raises(NeverJoined) as excinfo:
        participant_rejoin(rider=other_rider, room=room)

    assert excinfo.value.code == "never_joined"
    assert excinfo.value.status == 404
    assert _rows(other_rider) == []


def test_rejoin_while_still_in_the_room_is_refused(rider):
    room = room_create(creator=rider, name="Alps loop")

    with pytest.raises(AlreadyInRoom):
        participant_rejoin(rider=rider, room=room)


def test_rejoin_an_ended_room_is_refused(rider, other_rider):
    room = room_create(creator=rider, name="Alps loop")
    participant_join(rider=other_rider, code=room.code)
    room_deactivate(room=room, actor=rider)

    with pytest.raises(RoomInactive):
        participant_rejoin(rider=other_rider, room=room)


def test_rejoin_a_full_room_is_refused(rider, other_rider):
    room = room_create(creator=rider, name="Pair", max_participants=2)
    participant_join(rider=other_rider, code=room.code)
    participant_leave(rider=other_rider, code=room.code)
    participant_join(rider=RiderFactory(), code=room.code)

    with pytest.raises(RoomFull):
        participant_rejoin(rider=other_rider, room=room)


def test_rejoin_moves_a_rider_who_is_active_elsewhere(rider, other_rider):
    room = room_create(creator=rider, name="Alps loop")
    participant_join(rider=other_rider, code=room.code)
    participant_leave(rider=other_rider, code=room.code)
    elsewhere = room_create(creator=other_rider, name="Elsewhere")

    outcome = participant_rejoin(rider=other_rider, room=room)

    assert outcome.left_room == elsewhere
    assert _current_room(rider=other_rider) == room


def test_rejoin_a_deleted_room_is_not_found(rider):
    room = room_create(creator=rider, name="Alps loop")
    participant_leave(rider=rider, code=room.code)
    Room.objects.filter(pk=room.pk).delete()

    with pytest.raises(RoomNotFound):
        participant_rejoin(rider=rider, room=room)


# --- room_deactivate ----------------------------------------------------------------------


@pytest.mark.parametrize("by", ["creator", "staff"])
def test_deactivate_ends_the_room_and_every_participation(rider, other_rider, staff, by):
    room = room_create(creator=rider, name="Alps loop")
    participant_join(rider=other_rider, code=room.code)
    earlier = RiderFactory()
    participant_join(rider=earlier, code=room.code)
    participant_leave(rider=earlier, code=room.code)
    earlier_left_at = RoomParticipant.objects.get(room=room, user=earlier).left_at

    ended = room_deactivate(room=room, actor=rider if by == "creator" else staff)

    stored = Room.objects.get(pk=room.pk)
    assert not stored.is_active
    assert stored.deactivated_at is not None
    assert ended.deactivated_at == stored.deactivated_at
    assert _active_riders(room) == []
    left_at = dict(RoomParticipant.objects.filter(room=room).values_list("user_id", "left_at"))
    assert left_at[rider.pk] == left_at[other_rider.pk] == stored.deactivated_at
    # An earlier departure keeps its own time.
    assert left_at[earlier.pk] == earlier_left_at


def test_deactivate_by_another_rider_is_refused(rider, other_rider):
    room = room_create(creator=rider, name="Alps loop")
    participant_join(rider=other_rider, code=room.code)

    with pytest.raises(NotRoomLeader) as excinfo:
        room_deactivate(room=room, actor=other_rider)

    assert excinfo.value.code == "not_room_leader"
    assert excinfo.value.status == 403
    assert Room.objects.get(pk=room.pk).is_active
    assert _active_riders(room) == [rider.pk, other_rider.pk]


def test_deactivate_twice_is_refused(rider):
    room = room_create(creator=rider, name="Alps loop")
    room_deactivate(room=room, actor=rider)
    first_deactivated_at = Room.objects.get(pk=room.pk).deactivated_at

    with pytest.raises(RoomInactive):
        room_deactivate(room=room, actor=rider)

    assert Room.objects.get(pk=room.pk).deactivated_at == first_deactivated_at


def test_deactivate_reads_the_room_afresh_rather_than_trusting_the_callers_copy(rider):
    room = room_create(creator=rider, name="Alps loop")
    stale = Room.objects.get(pk=room.pk)
    room_deactivate(room=room, actor=rider)

    with pytest.raises(RoomInactive):
        room_deactivate(room=stale, actor=rider)


def test_deactivate_closes_the_rides_sockets_once_committed(
    rider, other_rider, monkeypatch, django_capture_on_commit_callbacks
):
    room = room_create(creator=rider, name="Alps loop")
    participant_join(rider=other_rider, code=room.code)
    closed = []
    monkeypatch.setattr(live_services, "realtime_room_closed", lambda **kw: closed.append(kw))

    with django_capture_on_commit_callbacks(execute=True):
        room_deactivate(room=room, actor=rider)
        assert closed == []

    assert closed == [{"room_id": room.pk}]


def test_joining_after_deactivation_is_refused(rider, other_rider):
    room = room_create(creator=rider, name="Alps loop")
    room_deactivate(room=room, actor=rider)

    with pytest.raises(RoomInactive):
        participant_join(rider=other_rider, code=room.code)


# --- participant_remove -------------------------------------------------------------------


@pytest.mark.parametrize("by", ["creator", "staff"])
def test_remove_ends_the_riders_participation(rider, other_rider, staff, by):
    room = room_create(creator=rider, name="Alps loop")
    participant_join(rider=other_rider, code=room.code)

    removed = participant_remove(
        room=room, rider=other_rider, actor=rider if by == "creator" else staff
    )

    assert removed.user_id == other_rider.pk
    stored = RoomParticipant.objects.get(pk=removed.pk)
    assert not stored.is_active
    assert stored.left_at is not None
    assert _active_riders(room) == [rider.pk]


def test_remove_closes_the_riders_socket_once_committed(
    rider, other_rider, monkeypatch, django_capture_on_commit_callbacks
):
    room = room_create(creator=rider, name="Alps loop")
    participant_join(rider=other_rider, code=room.code)
    removed = []
    monkeypatch.setattr(live_services, "realtime_rider_removed", lambda **kw: removed.append(kw))

    with django_capture_on_commit_callbacks(execute=True):
        participant_remove(room=room, rider=other_rider, actor=rider)
        assert removed == []

    assert removed == [{"room_id": room.pk, "rider_id": other_rider.pk, "reason": "kicked"}]


def test_remove_by_another_rider_is_refused(rider, other_rider):
    room = room_create(creator=rider, name="Alps loop")
    participant_join(rider=other_rider, code=room.code)
    third = RiderFactory()
    participant_join(rider=third, code=room.code)

    with pytest.raises(NotRoomLeader):
        participant_remove(room=room, rider=third, actor=other_rider)

    assert _active_riders(room) == [rider.pk, other_rider.pk, third.pk]


def test_remove_a_rider_who_is_not_in_the_room_is_refused(rider, other_rider):
    room = room_create(creator=rider, name="Alps loop")
    RoomParticipantFactory(user=other_rider)

    with pytest.raises(NotInRoom) as excinfo:
        participant_remove(room=room, rider=other_rider, actor=rider)

    assert excinfo.value.code == "not_in_room"
    assert RoomParticipant.objects.get(user=other_rider).is_active
