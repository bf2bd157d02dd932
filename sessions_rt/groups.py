"""Channel-layer group names. Every worker subscribes the same names, so a message sent on
one host reaches sockets on all of them through Redis."""

import uuid


def room_group(room_id: uuid.UUID | str) -> str:
    """Every live socket of a room: events the whole ride sees."""
    return f"room.{uuid.UUID(str(room_id)).hex}"


def rider_group(rider_id: uuid.UUID | str) -> str:
    """Every socket of one rider: signalling addressed to them, kicks, replaced sessions."""
    return f"rider.{uuid.UUID(str(rider_id)).hex}"
