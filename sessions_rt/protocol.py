"""What the ride socket speaks: its subprotocol, close codes and limits, and the values its
messages may carry, checked in Python before anything reaches Redis. Every message type and
its JSON Schema, built from these, is in sessions_rt/messages.py."""

import math
import uuid
from collections.abc import Collection
from enum import IntEnum, StrEnum
from typing import TypeVar

from config.errors import InvalidIdentifier
from sessions_rt.errors import InvalidRealtimeData

# The subprotocol the phone offers, and the prefix of the one that carries its token.
PROTOCOL = "convoy.v1"
BEARER_PREFIX = "bearer."


class CloseCode(IntEnum):
    # Standard codes.
    CLIENT_CLOSED = 1000
    SERVER_SHUTDOWN = 1001  # the server is restarting: reconnect after the reason's delay
    MESSAGE_TOO_BIG = 1009  # a frame over WS_MAX_MESSAGE_BYTES: a bug of the app, not a tunnel
    TRY_AGAIN = 1013  # live state (Redis) unavailable: reconnect after the reason's delay
    # Convoy's own (4000-4999 are for applications).
    UNAUTHENTICATED = 4001  # no token, a bad or expired token, or no auth message in time
    NOT_PARTICIPANT = 4003  # not an active participant of this ride: join it over REST first
    ROOM_NOT_FOUND = 4004  # no ride has this code
    RATE_LIMITED = 4008  # the phone sent far more messages than a ride needs
    DUPLICATE_SESSION = 4009  # the same rider connected again; this older socket is closed
    KICKED = 4010  # the ride's leader or support removed the rider
    ROOM_CLOSED = 4011  # the ride ended
    LEFT_ROOM = 4012  # the rider left this ride (over REST, or by joining another one)
    TIMED_OUT = 4013  # not heard from for PRESENCE_TTL_SECONDS: out of the live ride; reconnect
    DEACTIVATED = 4014  # a moderator deactivated the account: its tokens no longer work


# Redis GEO stores positions as 52-bit geohashes on a Web Mercator square, which ends at
# these latitudes; GEOADD refuses anything closer to the poles.
GEO_MAX_LATITUDE = 85.05112878
MAX_SPEED_KMH = 400.0
DEVICE_MAX_LENGTH = 100
APP_VERSION_MAX_LENGTH = 32
TOKEN_MAX_LENGTH = 256
SESSION_ID_MAX_LENGTH = 64
# A phone's own label for a message, echoed in the answer and in any error about it.
REF_MAX_LENGTH = 64
# The largest integer every JSON parser reads exactly (IEEE 754 doubles): seqs and refs.
MAX_JSON_INTEGER = 2**53 - 1
# An offer or answer's SDP, or an ICE candidate, as JSON (UTF-8); the frame limit is above it.
SIGNAL_PAYLOAD_MAX_BYTES = 16_384


class PresenceStatus(StrEnum):
    ONLINE = "online"
    RIDING = "riding"
    PAUSED = "paused"
    # Set by the server when the socket drops, never sent by the app.
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"


CLIENT_STATUSES = frozenset(PresenceStatus) - {PresenceStatus.RECONNECTING}

Word = TypeVar("Word", bound=StrEnum)


class NetworkType(StrEnum):
    WIFI = "wifi"
    CELLULAR = "cellular"
    NONE = "none"
    UNKNOWN = "unknown"


class Transport(StrEnum):
    CELLULAR = "cellular"
    WIFI = "wifi"
    # Audio relayed through a mesh intercom headset paired with the phone.
    BRIDGED = "bridged"


class PeerConnectionState(StrEnum):
    """RTCPeerConnection.connectionState."""

    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    FAILED = "failed"
    CLOSED = "closed"


class IceConnectionState(StrEnum):
    """RTCPeerConnection.iceConnectionState."""

    NEW = "new"
    CHECKING = "checking"
    CONNECTED = "connected"
    COMPLETED = "completed"
    DISCONNECTED = "disconnected"
    FAILED = "failed"
    CLOSED = "closed"


class LeaveReason(StrEnum):
    CLIENT_CLOSED = "client_closed"
    KICKED = "kicked"
    LEFT = "left"  # left the ride over REST, or by joining another one
    DEACTIVATED = "deactivated"  # a moderator deactivated the rider's account
    ACCOUNT_DELETED = "account_deleted"  # the rider's account was deleted
    ROOM_CLOSED = "room_closed"
    DUPLICATE_SESSION = "duplicate_session"
    SERVER_SHUTDOWN = "server_shutdown"
    TIMED_OUT = "timed_out"
    # The server closed the socket because the app broke the protocol (PROTOCOL_VIOLATIONS).
    PROTOCOL_ERROR = "protocol_error"


# Closes after which the rider leaves the live ride at once: the app closed its socket, or broke
# the protocol (a frame too big, a flood: bugs, not tunnels). Any other drop shows the rider
# as reconnecting for the grace period.
LEAVE_ON_CLOSE = {
    CloseCode.CLIENT_CLOSED: LeaveReason.CLIENT_CLOSED,
    CloseCode.MESSAGE_TOO_BIG: LeaveReason.PROTOCOL_ERROR,
    CloseCode.RATE_LIMITED: LeaveReason.PROTOCOL_ERROR,
}


class RemovalReason(StrEnum):
    """Why the REST side took a rider out of a ride: their socket gets ``removed``."""

    KICKED = "kicked"
    LEFT = "left"
    DEACTIVATED = "deactivated"
    ACCOUNT_DELETED = "account_deleted"


# The close that follows each ``removed``: the app tells a removal from a deactivation by the
# code as well as by the frame, since a socket may close before the frame is read.
REMOVAL_CLOSE_CODES = {
    RemovalReason.KICKED: CloseCode.KICKED,
    RemovalReason.LEFT: CloseCode.LEFT_ROOM,
    RemovalReason.DEACTIVATED: CloseCode.DEACTIVATED,
    RemovalReason.ACCOUNT_DELETED: CloseCode.LEFT_ROOM,
}


class RideRole(StrEnum):
    LEADER = "leader"
    SWEEP = "sweep"
    RIDER = "rider"


class SignalKind(StrEnum):
    OFFER = "offer"
    ANSWER = "answer"
    CANDIDATE = "candidate"


class DistanceReference(StrEnum):
    """What ``behind`` measures from: the leader, the group's median point, or the sweep."""

    LEADER = "leader"
    MEDIAN = "median"
    SWEEP = "sweep"


def canonical_id(value: uuid.UUID | str, *, field: str) -> str:
    """A room or rider id as the lowercase hyphenated UUID every key and field is built from.

    Only UUIDs get in, so no id can carry a ``}`` or ``>`` that would bend a key or a field.
    """
    if isinstance(value, uuid.UUID):
        return str(value)
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        raise InvalidIdentifier(
            f"{field} must be a UUID.", fields={field: "Must be a UUID."}
        ) from None


def choice(
    enum: type[Word], value: object, *, field: str, allowed: Collection[Word] | None = None
) -> Word:
    """``value`` as a member of ``enum`` (limited to ``allowed``), or InvalidRealtimeData."""
    allowed = allowed if allowed is not None else frozenset(enum)
    if isinstance(value, str) and value in {member.value for member in allowed}:
        return enum(value)
    words = ", ".join(sorted(member.value for member in allowed))
    raise InvalidRealtimeData(
        f"{field} must be one of {words}.", fields={field: f"One of {words}."}
    )


def number_in_range(value: object, *, field: str, low: float, high: float) -> float:
    """A finite int or float within [low, high] (bools are not numbers here)."""
    number = _as_float(value)
    if number is None or not math.isfinite(number) or not low <= number <= high:
        raise InvalidRealtimeData(
            f"{field} must be a number from {low:g} to {high:g}.",
            fields={field: f"A number from {low:g} to {high:g}."},
        )
    return number


def _as_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an int beyond any float
        return None


def latitude(value: object) -> float:
    lat = number_in_range(value, field="lat", low=-90, high=90)
    if abs(lat) > GEO_MAX_LATITUDE:
        raise InvalidRealtimeData(
            f"lat must be within ±{GEO_MAX_LATITUDE}: positions closer to the poles cannot be "
            "tracked.",
            fields={"lat": f"Within ±{GEO_MAX_LATITUDE}."},
        )
    return lat


def battery_pct(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise InvalidRealtimeData(
            "battery_pct must be a whole number from 0 to 100.",
            fields={"battery_pct": "A whole number from 0 to 100."},
        )
    return value


def frame_exceeds(text: str, *, max_bytes: int) -> bool:
    """Whether a text frame is more than ``max_bytes`` long in UTF-8, as it crossed the wire.

    A character is 1 to 4 bytes: most frames are decided by their length alone, without
    encoding them."""
    if len(text) > max_bytes:
        return True
    if len(text) * 4 <= max_bytes:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > max_bytes


def printable_label(value: str) -> bool:
    """A label a support agent can read: not blank, no control or invisible characters."""
    return bool(value.strip()) and value.isprintable()


def short_text(value: object, *, field: str, max_length: int) -> str:
    """A printable, non-empty label such as a device model, without control characters."""
    if not isinstance(value, str) or len(value) > max_length or not printable_label(value):
        raise InvalidRealtimeData(
            f"{field} must be printable text of 1 to {max_length} characters.",
            fields={field: f"Printable text of 1 to {max_length} characters."},
        )
    return value.strip()


# No two points on Earth are farther apart than half its circumference.
MAX_DISTANCE_KM = 20_038.0


def distance_km(value: object, *, field: str) -> float:
    return number_in_range(value, field=field, low=0, high=MAX_DISTANCE_KM)
