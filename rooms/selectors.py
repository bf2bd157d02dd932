from django.db.models import QuerySet

from rooms.errors import InvalidRoomCode, NotInRoom, RoomNotFound
from rooms.models import ROOM_CODE_ALPHABET, ROOM_CODE_LENGTH, Room, RoomParticipant


def normalize_room_code(code: object) -> str:
    """Riders type codes in any case and with stray spaces; anything else is malformed."""
    if not isinstance(code, str):
        raise InvalidRoomCode()
    value = "".join(code.split()).upper()
    if len(value) != ROOM_CODE_LENGTH or any(ch not in ROOM_CODE_ALPHABET for ch in value):
        raise InvalidRoomCode(fields={"code": [InvalidRoomCode.default_message]})
    return value


def room_get_by_code(*, code: str) -> Room:
    room = Room.objects.select_related("creator").filter(code=normalize_room_code(code)).first()
    if room is None:
        raise RoomNotFound(f"No ride has the code {normalize_room_code(code)}.")
    return room


def room_list_active() -> QuerySet[Room]:
    return Room.objects.filter(is_active=True).select_related("creator").order_by("-created_at")


def room_active_participant_count(*, room: Room) -> int:
    return RoomParticipant.objects.filter(room=room, is_active=True).count()


def room_active_participants(*, room: Room) -> QuerySet[RoomParticipant]:
    return (
        RoomParticipant.objects.filter(room=room, is_active=True)
        .select_related("user")
        .order_by("joined_at")
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


def participant_current_room(*, rider) -> Room | None:
    """The room the rider is talking in now, if any (at most one, by constraint)."""
    participant = (
        RoomParticipant.objects.filter(user=rider, is_active=True).select_related("room").first()
    )
    return participant.room if participant else None
