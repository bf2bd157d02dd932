import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.domain_events import announce
from config.integrity import violated_constraint
from config.model_rows import model_from_row, model_from_values
from config.text import has_forbidden_characters
from riders.audit import audit_record
from riders.errors import AccountClosed
from riders.models import AuditAction, Rider
from riders.services import rider_lock_out
from rooms.errors import (
    AlreadyInRoom,
    CodeSpaceExhausted,
    InvalidRoomData,
    NeverJoined,
    NotInRoom,
    NotRemoved,
    RemovedFromRide,
    RoomFull,
    RoomInactive,
    RoomNotFound,
)
from rooms.events import RideEnded, RiderRemovedFromRide
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
from rooms.outbox import (
    OUTBOX_CTES,
    RIDE_ENDED,
    RIDE_OPENED,
    RIDER_JOINED,
    RIDER_LEFT,
    RIDER_REMOVED,
    outbox_deliveries_start,
    outbox_params,
    outbox_record,
    ride_data,
    rider_data,
)
from rooms.selectors import normalize_room_code, room_get_by_code, room_require_leader_or_staff

CODE_ATTEMPTS = 10

# How a removal by the leader or staff reaches the phone (RiderRemovedFromRide.reason).
RemovalEnding = Literal["kicked", "deactivated"]


@dataclass(frozen=True)
class JoinOutcome:
    participant: RoomParticipant
    active_count: int
    left_room: Room | None


@dataclass(frozen=True)
class _MembershipState:
    """What a join decides on, read under the rider and room locks."""

    active_count: int  # active participants of the room
    existing_id: uuid.UUID | None  # the rider's row in the room, active or not
    existing_is_active: bool
    existing_is_removed: bool  # removed by the leader or staff, not readmitted since
    elsewhere_id: uuid.UUID | None  # the rider's active row in another room
    elsewhere_room_id: uuid.UUID | None
    elsewhere_code: str | None


# The join and the leave are the hottest REST writes, so their statements are written out:
# compiling an ORM query costs about 0.5 ms a statement, more than PostgreSQL takes to run
# these, and plain SQL locks two rows, or reads three things, in one round trip.
_ROOM_FIELDS = Room._meta.concrete_fields


def _lock_rider_and_room_sql(room_condition: str) -> str:
    """The room's every column, of its creator what a room's response shows, and whether
    the rider's account is still open."""
    columns = ", ".join(f"r.{field.column}" for field in _ROOM_FIELDS)
    return f"""
        SELECT {columns}, c.username, c.display_name, u.is_active
        FROM riders_rider u, rooms_room r LEFT JOIN riders_rider c ON c.id = r.creator_id
        WHERE u.id = %s AND {room_condition}
        FOR NO KEY UPDATE OF u, r
    """


_LOCK_RIDER_AND_ROOM_BY_CODE_SQL = _lock_rider_and_room_sql("r.code = %s")
_LOCK_RIDER_AND_ROOM_BY_ID_SQL = _lock_rider_and_room_sql("r.id = %s")

# Each part is at most one row: (room, user) is unique, and so is a rider's active row.
_MEMBERSHIP_STATE_SQL = """
    SELECT
        (SELECT count(*) FROM rooms_roomparticipant WHERE room_id = %(room)s AND is_active),
        mine.id, coalesce(mine.is_active, false), mine.removed_at IS NOT NULL,
        elsewhere.id, elsewhere.room_id, other.code
    FROM (SELECT) AS one
    LEFT JOIN rooms_roomparticipant mine
        ON mine.room_id = %(room)s AND mine.user_id = %(rider)s
    LEFT JOIN rooms_roomparticipant elsewhere
        ON elsewhere.user_id = %(rider)s AND elsewhere.is_active
        AND elsewhere.room_id <> %(room)s
    LEFT JOIN rooms_room other ON other.id = elsewhere.room_id
"""

_END_PARTICIPANT_SQL = """
    UPDATE rooms_roomparticipant SET is_active = false, left_at = %s WHERE id = %s AND is_active
"""

_INSERT_PARTICIPANT_SQL = """
    INSERT INTO rooms_roomparticipant (id, room_id, user_id, joined_at, left_at, is_active)
    VALUES (%s, %s, %s, %s, NULL, true)
"""

_REACTIVATE_PARTICIPANT_SQL = """
    UPDATE rooms_roomparticipant SET is_active = true, left_at = NULL, joined_at = %s
    WHERE id = %s
"""

# The leave and its outbox event in one statement, so it needs no transaction around it.
_LEAVE_SQL = (
    """
    WITH changed AS (
        UPDATE rooms_roomparticipant p SET is_active = false, left_at = %(left_at)s
        FROM rooms_room r
        WHERE r.code = %(code)s AND p.room_id = r.id AND p.user_id = %(rider)s AND p.is_active
        RETURNING p.id, p.room_id, p.joined_at
    ),"""
    + OUTBOX_CTES
    + """
    SELECT c.id, c.room_id, c.joined_at, ARRAY(SELECT endpoint_id FROM deliveries)
    FROM changed c
"""
)


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
        state = _membership_state(rider=creator, room=room)
        outbox_record(
            type=RIDE_OPENED,
            room_id=room.pk,
            data={"ride": ride_data(room), "leader": rider_data(creator)},
        )
        outcome = _activate_membership(rider=creator, room=room, state=state)
        audit_record(
            action=AuditAction.ROOM_CREATED,
            actor=creator,
            target=room,
            details={"code": room.code, "max_participants": room.max_participants},
        )
    return outcome.participant.room


def room_deactivate(*, room: Room, actor: Rider, reason: str = "") -> Room:
    """End a ride: the room closes and every active participation ends with it. ``reason``:
    the staff member's, for the audit trail."""
    with transaction.atomic():
        locked = _lock_room(room.pk)
        room_require_leader_or_staff(room=locked, viewer=actor)
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
            reason=reason,
        )
        outbox_record(
            type=RIDE_ENDED,
            room_id=locked.pk,
            data={"ride": ride_data(locked), "riders_disconnected": ended},
            at=now,
        )
        announce(RideEnded(room_id=locked.pk))
    return locked


def participant_join(*, rider: Rider, code: str) -> JoinOutcome:
    """Join a ride by code. A rider active in another ride leaves it in the same transaction."""
    normalized = normalize_room_code(code)
    with transaction.atomic():
        room = _lock_rider_and_room(
            rider=rider, sql=_LOCK_RIDER_AND_ROOM_BY_CODE_SQL, room_key=normalized
        )
        if room is None:
            raise RoomNotFound(f"No ride has the code {normalized}.")
        state = _membership_state(rider=rider, room=room)
        if state.existing_is_active:
            raise AlreadyInRoom()
        if state.existing_is_removed:
            raise RemovedFromRide()
        return _activate_membership(rider=rider, room=room, state=state)


def participant_rejoin(*, rider: Rider, room: Room) -> JoinOutcome:
    """Come back to a ride the rider was in before; the old row is reactivated."""
    with transaction.atomic():
        locked = _lock_rider_and_room(
            rider=rider, sql=_LOCK_RIDER_AND_ROOM_BY_ID_SQL, room_key=room.pk
        )
        if locked is None:
            raise RoomNotFound()
        state = _membership_state(rider=rider, room=locked)
        if state.existing_id is None:
            raise NeverJoined()
        if state.existing_is_active:
            raise AlreadyInRoom()
        if state.existing_is_removed:
            raise RemovedFromRide()
        return _activate_membership(rider=rider, room=locked, state=state)


def participant_leave(*, rider: Rider, code: str) -> RoomParticipant:
    """Leave a ride by code: one statement (the UPDATE and its outbox event), atomic on its
    own, so no transaction around it.

    It needs no rider or room lock: two leaves of one membership queue on its row, and the
    second finds it ended. Only when it changes nothing does a second query tell an unknown
    code from a rider not in the ride. In autocommit its announcement is delivered right
    after the statement, so, as everywhere, only once the change is committed.
    """
    normalized = normalize_room_code(code)
    now = timezone.now()
    event = outbox_params(
        type=RIDER_LEFT,
        data={"ride": {"code": normalized}, "rider": rider_data(rider), "reason": "left"},
        at=now,
    )
    with connection.cursor() as cursor:
        cursor.execute(_LEAVE_SQL, {"left_at": now, "code": normalized, "rider": rider.pk, **event})
        row = cursor.fetchone()
    if row is None:
        room_get_by_code(code=normalized)  # RoomNotFound for an unknown code
        raise NotInRoom()
    participant_id, room_id, joined_at, endpoints = row
    outbox_deliveries_start([(endpoint_id, room_id) for endpoint_id in endpoints])
    participant = model_from_values(
        RoomParticipant,
        id=participant_id,
        room_id=room_id,
        user_id=rider.pk,
        joined_at=joined_at,
        left_at=now,
        is_active=False,
        removed_at=None,
    )
    participant.user = rider
    announce(RiderRemovedFromRide(room_id=room_id, rider_id=rider.pk, reason="left"))
    return participant


def participant_remove(
    *, room: Room, rider: Rider, actor: Rider, reason: str = ""
) -> RoomParticipant:
    """The ride's leader (or staff) removes a rider from the ride; the rider cannot join it
    again until one of them readmits the rider (participant_readmit). ``reason``: the staff
    member's, for the audit trail."""
    return _participant_remove(room=room, rider=rider, actor=actor, reason=reason, ending="kicked")


def _participant_remove(
    *, room: Room, rider: Rider, actor: Rider, reason: str, ending: RemovalEnding
) -> RoomParticipant:
    with transaction.atomic():
        locked = _lock_room(room.pk)
        room_require_leader_or_staff(room=locked, viewer=actor)
        participant = (
            RoomParticipant.objects.select_for_update()
            .filter(room=locked, user=rider, is_active=True)
            .first()
        )
        if participant is None:
            raise NotInRoom("That rider is not in this ride.")
        _end_membership(participant, room=locked, ending=ending)
        audit_record(
            action=AuditAction.PARTICIPANT_REMOVED,
            actor=actor,
            target=participant,
            label=f"{rider.username} from {locked}",
            details=_membership_audit_details(locked, rider),
            reason=reason,
        )
    return participant


def participant_readmit(
    *, room: Room, rider: Rider, actor: Rider, reason: str = ""
) -> RoomParticipant:
    """The ride's leader (or staff) lets a removed rider back: the bar is lifted, and the
    rider may join again with the code (they are not put back in the ride). ``reason``: the
    staff member's, for the audit trail."""
    with transaction.atomic():
        locked = _lock_room(room.pk)
        room_require_leader_or_staff(room=locked, viewer=actor)
        participant = (
            RoomParticipant.objects.select_for_update()
            .filter(room=locked, user=rider, removed_at__isnull=False)
            .first()
        )
        if participant is None or participant.removed_at is None:
            raise NotRemoved()
        removed_at = participant.removed_at
        participant.removed_at = None
        participant.save(update_fields=["removed_at"])
        audit_record(
            action=AuditAction.PARTICIPANT_READMITTED,
            actor=actor,
            target=participant,
            label=f"{rider.username} to {locked}",
            details={
                **_membership_audit_details(locked, rider),
                "removed_at": removed_at.isoformat(),
            },
            reason=reason,
        )
    return participant


def _membership_audit_details(room: Room, rider: Rider) -> dict:
    """What the audit trail keeps of a removal or a readmission: the ride and the rider, by
    id and by the names support searches for."""
    return {
        "room_id": str(room.pk),
        "code": room.code,
        "rider_id": str(rider.pk),
        "username": rider.username,
    }


def rider_deactivate(*, rider: Rider, actor: Rider, reason: str = "") -> Rider:
    """Lock a rider out: the account is deactivated, every device signed out, and the ride
    they are in ends for them (their socket is told "deactivated" and closes once this
    commits). ``reason``: the staff member's, for the audit trail."""
    with transaction.atomic():
        locked, tokens_revoked = rider_lock_out(rider=rider, actor=actor)
        current = locked.participations.filter(is_active=True).select_related("room").first()
        if current is not None:
            try:
                _participant_remove(
                    room=current.room,
                    rider=locked,
                    actor=actor,
                    reason=reason,
                    ending="deactivated",
                )
            except NotInRoom:
                # They left (or the ride ended) since the read above: nothing left to end.
                current = None
        audit_record(
            action=AuditAction.RIDER_DEACTIVATED,
            actor=actor,
            target=locked,
            details={
                "tokens_revoked": tokens_revoked,
                "removed_from_room": current.room.code if current is not None else None,
            },
            reason=reason,
        )
    rider.is_active = False
    return locked


def _activate_membership(*, rider: Rider, room: Room, state: _MembershipState) -> JoinOutcome:
    """Caller holds the rider and room row locks, so the capacity check cannot be raced.

    The returned participant carries the rider and the room, and the room its live count
    (``active_participants``, exact at commit): the response needs no further query.
    """
    if not room.is_active:
        raise RoomInactive()
    if state.active_count >= room.max_participants:
        raise RoomFull(capacity=room.max_participants)
    now = timezone.now()
    left_room = _leave_other_room(rider=rider, state=state, now=now)
    participant = model_from_values(
        RoomParticipant,
        id=state.existing_id or uuid.uuid4(),
        room_id=room.pk,
        user_id=rider.pk,
        joined_at=now,
        left_at=None,
        is_active=True,
        removed_at=None,
    )
    with connection.cursor() as cursor:
        if state.existing_id is None:
            cursor.execute(_INSERT_PARTICIPANT_SQL, [participant.pk, room.pk, rider.pk, now])
        else:
            cursor.execute(_REACTIVATE_PARTICIPANT_SQL, [now, participant.pk])
    outbox_record(
        type=RIDER_JOINED,
        room_id=room.pk,
        data={"ride": ride_data(room), "rider": rider_data(rider)},
        at=now,
    )
    participant.user = rider
    participant.room = room
    room.active_participants = state.active_count + 1  # type: ignore[attr-defined]  # what the selectors annotate
    return JoinOutcome(
        participant=participant, active_count=state.active_count + 1, left_room=left_room
    )


def _leave_other_room(*, rider: Rider, state: _MembershipState, now: datetime) -> Room | None:
    """End the rider's membership elsewhere, if it is still active: a kick or the end of that
    ride (which lock that room, not the rider) may have ended it since it was read.

    Only the membership row is locked: taking that room's row too would be a second room
    lock, out of order, and two riders swapping rooms would deadlock.
    """
    if state.elsewhere_id is None or state.elsewhere_room_id is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_END_PARTICIPANT_SQL, [now, state.elsewhere_id])
        if cursor.rowcount == 0:
            return None
    outbox_record(
        type=RIDER_LEFT,
        room_id=state.elsewhere_room_id,
        data={
            "ride": {"id": str(state.elsewhere_room_id), "code": state.elsewhere_code},
            "rider": rider_data(rider),
            "reason": "joined_another_ride",
        },
        at=now,
    )
    announce(
        RiderRemovedFromRide(room_id=state.elsewhere_room_id, rider_id=rider.pk, reason="left")
    )
    return model_from_values(Room, id=state.elsewhere_room_id, code=state.elsewhere_code)


def _end_membership(participant: RoomParticipant, *, room: Room, ending: RemovalEnding) -> None:
    """End one membership by a removal, which bars the rider from the ride; once that is
    committed, the rider's socket in the ride closes and the others see them kicked (or
    deactivated)."""
    participant.is_active = False
    participant.left_at = participant.removed_at = timezone.now()
    participant.save(update_fields=["is_active", "left_at", "removed_at"])
    outbox_record(
        type=RIDER_REMOVED,
        room_id=participant.room_id,
        data={
            "ride": ride_data(room),
            "rider": {"id": str(participant.user_id)},
            "reason": ending,
        },
        at=participant.left_at,
    )
    announce(
        RiderRemovedFromRide(
            room_id=participant.room_id, rider_id=participant.user_id, reason=ending
        )
    )


def _insert_with_unique_code(*, creator: Rider, name: str, capacity: int) -> Room:
    for _ in range(CODE_ATTEMPTS):
        room = Room(
            name=name, code=generate_room_code(), creator=creator, max_participants=capacity
        )
        try:
            with transaction.atomic():
                room.save(force_insert=True)
        except IntegrityError as exc:
            if violated_constraint(exc) != "room_code_unique":
                raise
        else:
            return room
    raise CodeSpaceExhausted()


def _lock_rider(rider: Rider) -> None:
    # Every membership change locks the rider first, then the room: one order, no deadlocks,
    # and a rider's two simultaneous joins run one after the other.
    # FOR NO KEY UPDATE serialises membership changes yet lets other tables insert rows that
    # merely reference the rider or the room.
    is_active = (
        Rider.objects.select_for_update(no_key=True)
        .filter(pk=rider.pk)
        .values_list("is_active", flat=True)
        .first()
    )
    if not is_active:
        raise AccountClosed()


def _lock_rider_and_room(*, rider: Rider, sql: str, room_key: str | uuid.UUID) -> Room | None:
    """Lock the rider, then the room, and read the room with its creator: one round trip.

    The order is _lock_rider's. PostgreSQL locks the rows of one result row in the order of
    the OF list, whatever the plan (checked against hash, merge and nested-loop plans), so
    ``OF u, r`` takes the rider before the room. None, and no lock taken, if either row is
    missing.
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [rider.pk, room_key])
        row = cursor.fetchone()
    if row is None:
        return None
    room = model_from_row(Room, _ROOM_FIELDS, row[: len(_ROOM_FIELDS)])
    username, display_name, rider_is_active = row[len(_ROOM_FIELDS) :]
    if not rider_is_active:
        # Deactivated or deleted while this request waited for the rider's lock: the locked
        # row is the committed one, so the account's end is seen and nothing is joined.
        raise AccountClosed()
    room.creator = (
        None
        if room.creator_id is None
        else model_from_values(
            Rider, id=room.creator_id, username=username, display_name=display_name
        )
    )
    return room


def _membership_state(*, rider: Rider, room: Room) -> _MembershipState:
    """What a join decides on, in one statement run once the locks are held: a statement of
    its own, so its READ COMMITTED snapshot includes every join that held the locks before."""
    with connection.cursor() as cursor:
        cursor.execute(_MEMBERSHIP_STATE_SQL, {"room": room.pk, "rider": rider.pk})
        return _MembershipState(*cursor.fetchone())


def _lock_room(room_id) -> Room:
    room = Room.objects.select_for_update(no_key=True).filter(pk=room_id).first()
    if room is None:
        raise RoomNotFound()
    return room


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
