import uuid

from django.db.models import Case, Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from rooms.errors import (
    InvalidRoomCode,
    NotInRoom,
    NotRoomLeader,
    NotRoomMember,
    RoomInactive,
    RoomNotFound,
)
from rooms.models import (
    ROOM_CODE_ALPHABET,
    ROOM_CODE_LENGTH,
    AlertStatus,
    RideAlert,
    Room,
    RoomParticipant,
)


def normalize_room_code(code: object) -> str:
    """Riders type codes in any case and with stray spaces; anything else is malformed."""
    value = "".join(code.split()) if isinstance(code, str) else ""
    # ASCII before upper(): the long s (U+017F) upper-cases to "S" and "ß" to "SS", so a foreign
    # letter would otherwise turn into a valid code.
    if value.isascii():
        value = value.upper()
        if len(value) == ROOM_CODE_LENGTH and all(ch in ROOM_CODE_ALPHABET for ch in value):
            return value
    raise InvalidRoomCode(fields={"code": [InvalidRoomCode.default_message]})


def room_get_by_code(*, code: str) -> Room:
    normalized = normalize_room_code(code)
    room = Room.objects.select_related("creator").filter(code=normalized).first()
    if room is None:
        raise RoomNotFound(f"No ride has the code {normalized}.")
    return room


def room_active_participants(*, room: Room) -> QuerySet[RoomParticipant]:
    return (
        RoomParticipant.objects.filter(room=room, is_active=True)
        .select_related("user")
        .order_by("joined_at", "id")
    )


def participant_is_in_room(*, rider, room: Room) -> bool:
    return RoomParticipant.objects.filter(room=room, user=rider, is_active=True).exists()


def participant_get_active(*, rider, room: Room) -> RoomParticipant:
    participant = (
        RoomParticipant.objects.filter(room=room, user=rider, is_active=True)
        .select_related("room", "user")
        .first()
    )
    if participant is None:
        raise NotInRoom()
    return participant


def rider_active_room_id(*, rider_id) -> uuid.UUID | None:
    """The ride the rider is an active participant of (the one-active-room rule makes it at
    most one), or None. One query, on the partial unique index."""
    return (
        RoomParticipant.objects.filter(user_id=rider_id, is_active=True)
        .values_list("room_id", flat=True)
        .first()
    )


def room_list_visible() -> QuerySet[Room]:
    """Rooms with their creator and live participant count, in one query."""
    return (
        Room.objects.select_related("creator")
        .annotate(active_participants=Count("participants", filter=Q(participants__is_active=True)))
        .order_by("-created_at", "id")
    )


def room_get_detail(*, code: str) -> Room:
    """A room by code with ``active_participants`` annotated."""
    normalized = normalize_room_code(code)
    room = room_list_visible().filter(code=normalized).first()
    if room is None:
        raise RoomNotFound(f"No ride has the code {normalized}.")
    return room


def room_require_active_member(*, room: Room, viewer) -> None:
    """Only the riders in the ride now, and staff, may look inside it (who is in it, where
    they are, its statistics). A rider who left or was removed is outside again: the ride
    socket closes them out too (4003), and the REST reads must not leak what it withholds."""
    if viewer.is_staff:
        return
    if not participant_is_in_room(rider=viewer, room=room):
        raise NotRoomMember()


def room_require_ongoing_for_member(*, room: Room, viewer) -> None:
    """What is happening in a ride now (who is live in it) exists only while it is on: an
    ended ride answers 422 room_inactive, to anyone, before the membership rule, as its socket
    closes 4011 before 4003; then room_require_active_member."""
    if not room.is_active:
        raise RoomInactive()
    room_require_active_member(room=room, viewer=viewer)


def room_require_leader_or_staff(*, room: Room, viewer) -> None:
    """The ride's creator leads it (whether riding in it now or not); staff act for them."""
    if not (viewer.is_staff or room.creator_id == viewer.pk):
        raise NotRoomLeader()


def room_removed_participants(*, room: Room) -> QuerySet[RoomParticipant]:
    """The riders barred from the ride, most recently removed first."""
    return (
        RoomParticipant.objects.filter(room=room, removed_at__isnull=False)
        .select_related("user")
        .order_by("-removed_at", "id")
    )


def rider_memberships(*, rider) -> QuerySet[RoomParticipant]:
    """Every room the rider has been in, most recently joined first."""
    return (
        RoomParticipant.objects.filter(user=rider)
        .select_related("room")
        .order_by("-joined_at", "id")
    )


def room_list_for_support() -> QuerySet[Room]:
    """Every room with its creator and ``active_participants``, in one query.

    The count is a correlated subquery on the active-participants index rather than a join
    and GROUP BY, so a page of rooms costs a page of index lookups, and counting the rooms
    (the admin's paginator) leaves it out entirely.
    """
    active_count = (
        RoomParticipant.objects.filter(room=OuterRef("pk"), is_active=True)
        .order_by()
        .values("room")
        .annotate(total=Count("id"))
        .values("total")
    )
    return (
        Room.objects.select_related("creator")
        .annotate(active_participants=Coalesce(Subquery(active_count), 0))
        .order_by("-created_at", "id")
    )


# Open before acknowledged before resolved: what nobody has taken on yet comes first.
_ALERT_URGENCY = Case(
    When(status=AlertStatus.OPEN, then=Value(0)),
    When(status=AlertStatus.ACKNOWLEDGED, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def room_alerts(*, room: Room, viewer, status: str | None = None) -> QuerySet[RideAlert]:
    """A ride's alerts as its riders see them: open first, then acknowledged, then resolved,
    each newest first. A countdown still running is its own rider's (and support's) alone.
    The rider, and whoever acknowledged and resolved, come in the same query."""
    alerts = RideAlert.objects.filter(room=room)
    if not viewer.is_staff:
        alerts = alerts.exclude(~Q(rider=viewer), status=AlertStatus.PENDING)
    if status is not None:
        alerts = alerts.filter(status=status)
    return alerts.select_related("rider", "acknowledged_by", "resolved_by").order_by(
        _ALERT_URGENCY, "-raised_at", "-id"
    )


def room_alerts_announced(*, room_id: uuid.UUID) -> QuerySet[RideAlert]:
    """The alerts the whole ride knows of and that are not over (open, then acknowledged,
    newest first): what a socket's snapshot lists."""
    return RideAlert.objects.filter(
        room_id=room_id, status__in=(AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)
    ).order_by(_ALERT_URGENCY, "-raised_at", "-id")


def room_alert_get(*, room: Room, alert_id: uuid.UUID) -> RideAlert:
    """One alert of the ride with the riders its answer names, in one query."""
    return RideAlert.objects.select_related("rider", "acknowledged_by", "resolved_by").get(
        pk=alert_id, room=room
    )
