from rooms.models import Room
from sessions_rt import state


def live_room_snapshot(*, room: Room) -> dict:
    """The live state of a ride: members with status, last seen, position and WebRTC links.

    Raises RealtimeUnavailable (503) when Redis cannot be reached.
    """
    return state.snapshot(room.pk)
