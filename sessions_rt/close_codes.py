"""WebSocket close codes of ``ws/rooms/<code>/``; the app decides from them whether to retry."""

from enum import IntEnum


class CloseCode(IntEnum):
    # Standard codes.
    CLIENT_CLOSED = 1000
    SERVER_SHUTDOWN = 1001  # the server is restarting: reconnect (to another worker)
    MESSAGE_TOO_BIG = 1009
    TRY_AGAIN = 1013  # live state (Redis) unavailable: reconnect after a pause
    # Convoy's own (4000-4999 are for applications).
    UNAUTHENTICATED = 4001  # no token, a bad or expired token, or no auth message in time
    NOT_PARTICIPANT = 4003  # not an active participant of this ride: join it over REST first
    ROOM_NOT_FOUND = 4004  # no ride has this code
    RATE_LIMITED = 4008  # the phone sent far more messages than a ride needs
    DUPLICATE_SESSION = 4009  # the same rider connected again; this older socket is closed
    KICKED = 4010  # the ride's leader or support removed the rider
    ROOM_CLOSED = 4011  # the ride ended
    LEFT_ROOM = 4012  # the rider left this ride (over REST, or by joining another one)
