import secrets
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.integrity import violated_constraint
from riders.audit import audit_record
from riders.models import AuditAction, Rider
from riders.validation import has_forbidden_characters
from rooms.errors import (
    AlreadyInRoom,
    CodeSpaceExhausted,
    InvalidRoomData,
    NeverJoined,
    NotInRoom,
    NotRoomLeader,
    RoomFull,
    RoomInactive,
    RoomNotFound,
)
from rooms.models import (
    DEFAULT_MAX_PARTICIPANTS,
    MAX_PARTICIPANTS,
    MIN_PARTICIPANTS,
    ROOM_CODE_ALPHABET,
    ROOM_CODE_LENGTH,
    ROOM_NAME_MAX_LENGTH,
    Room,
    RoomParticipant,
)
from rooms.selectors import normalize_room_code
from sessions_rt.services import realtime_rider_removed, realtime_room_closed

CODE_ATTEMPTS = 10


@dataclass(frozen=True)
class JoinOutcome:
    participant: RoomParticipant
    active_count: int
    left_room: Room | None


def generate_room_code() -> str:
    return "".join(secrets.choice(ROOM_CODE_ALPHABET) for _ in range(ROOM_CODE_LENGTH))


def room_create(
    *, creator: Rider, name: str, max_participants: int = DEFAULT_MAX_PARTICIPANTS
) -> Room:
    """Open a ride with a fresh code; the creator becomes its first participant."""
    clean_name = _clean_room_name(name)
    _check_capacity_value(max_participants)
    with transaction.atomic():
        _lock_rider(creator)
        room = _insert_with_unique_code(creator=creator, name=clean_name, capacity=max_participants)
        outcome = _activate_membership(rider=creator, room=room, existing=None)
        audit_record(
            action=AuditAction.ROOM_CREATED,
            actor=creator,
            target=room,
            details={"code": room.code, "max_participants": room.max_participants},
        )
    return outcome.participant.room


def room_deactivate(*, room: Room, actor: Rider) -> Room:
    """End a ride: the room closes and every active participation ends with it."""
    with transaction.atomic():
        locked = _lock_room(room.pk)
        _require_leader_or_staff(locked, actor)
        if not locked.is_active:
            raise RoomInactive("This ride has already ended.")
        now = timezone.now()
        locked.is_active = False
        locked.deactivated_at = now
        locked.save(update_fields=["is_active", "deactivated_at", "updated_at"])
        ended = RoomParticipant.objects.filter(room=locked, is_active=True).update(
            is_active=False, left_at=now
        )
        audit_record(
            action=AuditAction.ROOM_DEACTIVATED,
            actor=actor,
            target=locked,
            details={"code": locked.code, "participants_disconnected": ended},
        )
        transaction.on_commit(lambda: realtime_room_closed(room_id=locked.pk))
    return locked


def participant_join(*, rider: Rider, code: str) -> JoinOutcome:
    """Join a ride by code. A rider active in another ride leaves it in the same transaction."""
    normalized = normalize_room_code(code)
    with transaction.atomic():
        _lock_rider(rider)
        room = Room.objects.select_for_update(no_key=True).filter(code=normalized).first()
        if room is None:
            raise RoomNotFound(f"No ride has the code {normalized}.")
        existing = RoomParticipant.objects.filter(room=room, user=rider).first()
        if existing is not None and existing.is_active:
            raise AlreadyInRoom()
        return _activate_membership(rider=rider, room=room, existing=existing)


def participant_rejoin(*, rider: Rider, room: Room) -> JoinOutcome:
    """Come back to a ride the rider was in before; the old row is reactivated."""
    with transaction.atomic():
        _lock_rider(rider)
        locked = _lock_room(room.pk)
        existing = RoomParticipant.objects.filter(room=locked, user=rider).first()
        if existing is None:
            raise NeverJoined()
        if existing.is_active:
            raise AlreadyInRoom()
        return _activate_membership(rider=rider, room=locked, existing=existing)


def participant_leave(*, rider: Rider, room: Room) -> RoomParticipant:
    with transaction.atomic():
        participant = (
            RoomParticipant.objects.select_for_update()
            .filter(room=room, user=rider, is_active=True)
            .first()
        )
        if participant is None:
            raise NotInRoom()
        _end_membership(participant, reason="left")
    return participant


def participant_remove(*, room: Room, rider: Rider, actor: Rider) -> RoomParticipant:
    """The ride's leader (or staff) removes a rider from the ride."""
    with transaction.atomic():
        locked = _lock_room(room.pk)
        _require_leader_or_staff(locked, actor)
        participant = (
            RoomParticipant.objects.select_for_update()
            .filter(room=locked, user=rider, is_active=True)
            .first()
        )
        if participant is None:
            raise NotInRoom("That rider is not in this ride.")
        _end_membership(participant, reason="kicked")
        audit_record(
            action=AuditAction.PARTICIPANT_REMOVED,
            actor=actor,
            target=participant,
            label=f"{rider.username} from {locked}",
            details={
                "room_id": str(locked.pk),
                "code": locked.code,
                "rider_id": str(rider.pk),
                "username": rider.username,
            },
        )
    return participant


def _activate_membership(
    *, rider: Rider, room: Room, existing: RoomParticipant | None
) -> JoinOutcome:
    """Caller holds the rider and room row locks, so the capacity check cannot be raced."""
    if not room.is_active:
        raise RoomInactive()
    active_count = RoomParticipant.objects.filter(room=room, is_active=True).count()
    if active_count >= room.max_participants:
        raise RoomFull(capacity=room.max_participants)
    left_room = _leave_current_room(rider=rider, except_room=room)
    now = timezone.now()
    if existing is None:
        participant = RoomParticipant.objects.create(room=room, user=rider, joined_at=now)
    else:
        existing.is_active = True
        existing.left_at = None
        existing.joined_at = now
        existing.save(update_fields=["is_active", "left_at", "joined_at"])
        participant = existing
    participant.room = room
    return JoinOutcome(participant=participant, active_count=active_count + 1, left_room=left_room)


def _leave_current_room(*, rider: Rider, except_room: Room) -> Room | None:
    # of=("self",): lock the membership only. Locking the joined room row too would take a
    # second room lock out of order, and two riders swapping rooms would deadlock.
    current = (
        RoomParticipant.objects.select_for_update(of=("self",))
        .filter(user=rider, is_active=True)
        .exclude(room=except_room)
        .select_related("room")
        .first()
    )
    if current is None:
        return None
    _end_membership(current, reason="left")
    return current.room


def _end_membership(participant: RoomParticipant, *, reason: str) -> None:
    """End one membership; once committed, the rider's socket in that ride is closed and the
    others see them leave (reason "left" or "kicked")."""
    participant.is_active = False
    participant.left_at = timezone.now()
    participant.save(update_fields=["is_active", "left_at"])
    room_id, rider_id = participant.room_id, participant.user_id
    transaction.on_commit(
        lambda: realtime_rider_removed(room_id=room_id, rider_id=rider_id, reason=reason)
    )


def _insert_with_unique_code(*, creator: Rider, name: str, capacity: int) -> Room:
    for _ in range(CODE_ATTEMPTS):
        room = Room(
            name=name, code=generate_room_code(), creator=creator, max_participants=capacity
        )
        try:
            with transaction.atomic():
                room.save(force_insert=True)
            return room
        except IntegrityError as exc:
            if violated_constraint(exc) != "room_code_unique":
                raise
    raise CodeSpaceExhausted()


def _lock_rider(rider: Rider) -> None:
    # Every membership change locks the rider first, then the room: one order, no deadlocks,
    # and a rider's two simultaneous joins run one after the other.
    # FOR NO KEY UPDATE serialises membership changes yet lets other tables insert rows that
    # merely reference the rider or the room.
    Rider.objects.select_for_update(no_key=True).filter(pk=rider.pk).exists()


def _lock_room(room_id) -> Room:
    room = Room.objects.select_for_update(no_key=True).filter(pk=room_id).first()
    if room is None:
        raise RoomNotFound()
    return room


def _require_leader_or_staff(room: Room, actor: Rider) -> None:
    if not (actor.is_staff or room.creator_id == actor.pk):
        raise NotRoomLeader()


def _clean_room_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRoomData(fields={"name": ["A ride needs a name."]})
    clean = " ".join(name.split())
    if len(clean) > ROOM_NAME_MAX_LENGTH:
        raise InvalidRoomData(
            fields={"name": [f"A ride name is at most {ROOM_NAME_MAX_LENGTH} characters long."]}
        )
    # NUL and lone surrogates cannot be stored; other control characters garble the name.
    if has_forbidden_characters(clean):
        raise InvalidRoomData(fields={"name": ["A ride name may not contain control characters."]})
    return clean


def _check_capacity_value(max_participants: object) -> None:
    if (
        isinstance(max_participants, bool)
        or not isinstance(max_participants, int)
        or not MIN_PARTICIPANTS <= max_participants <= MAX_PARTICIPANTS
    ):
        raise InvalidRoomData(
            fields={
                "max_participants": [
                    f"A ride takes from {MIN_PARTICIPANTS} to {MAX_PARTICIPANTS} riders."
                ]
            }
        )
