"""Errors of the real-time state. Callers map them like any other DomainError."""

from config.errors import Conflict, DomainError, ValidationFailed


class RealtimeUnavailable(DomainError):
    """Redis could not be reached or did not answer in time."""

    code = "realtime_unavailable"
    status = 503
    default_message = "Live ride state is unavailable right now; try again shortly."
    retry_after_seconds = 5


class InvalidRealtimeData(ValidationFailed):
    """A value sent for the live state is out of range or not one of the allowed words."""

    code = "invalid_realtime_data"
    default_message = "Some live ride values are not valid."


class NotLiveMember(Conflict):
    """The rider is not (or no longer) a live member of the room: the phone should rejoin."""

    code = "not_live_member"
    default_message = "You are not connected to this ride; rejoin it."


class NotRideLeader(DomainError):
    code = "not_ride_leader"
    status = 403
    default_message = "Only the ride leader can do that."


class InvalidSweep(Conflict):
    code = "invalid_sweep"
    default_message = "The sweep must be a rider connected to this ride, other than the leader."


class NoReferencePosition(Conflict):
    """A distance was asked from a rider (or group) whose position is not known yet."""

    code = "no_reference_position"
    default_message = "There is no known position to measure from yet."


# What only the ride socket answers: a frame that is not a message it can read, or a message
# it cannot take now. Each goes back to the phone as an ``error`` frame (docs/realtime.md).


class InvalidJson(DomainError):
    code = "invalid_json"
    status = 400
    default_message = "Each message is one JSON object."


class InvalidMessage(DomainError):
    code = "invalid_message"
    status = 400
    default_message = 'Each message is a JSON object with a "type".'


class UnknownMessageType(DomainError):
    code = "unknown_type"
    status = 400
    default_message = "The server knows no message of that type."


class BinaryNotSupported(DomainError):
    code = "binary_not_supported"
    status = 400
    default_message = "Send JSON text frames."


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    status = 401
    default_message = 'Send {"type": "auth", "token": ...} first.'


class AlreadyAuthenticated(DomainError):
    code = "already_authenticated"
    status = 409
    default_message = "This socket is authenticated."


class MessageDropped(DomainError):
    """A frame beyond the socket's message rate: not read, so not answered but for this."""

    code = "rate_limited"
    status = 429
    default_message = "Too many messages; this one was dropped."
