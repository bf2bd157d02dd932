from config.errors import Conflict, DomainError, NotFound, ValidationFailed


class RoomNotFound(NotFound):
    code = "room_not_found"
    default_message = "No room has that code."


class InvalidRoomCode(DomainError):
    code = "invalid_room_code"
    status = 400
    default_message = "A room code is 6 letters and digits, without 0, O, 1 or I."


class InvalidRoomData(ValidationFailed):
    code = "invalid_room"
    default_message = "Some room details are not valid."


class RoomInactive(DomainError):
    code = "room_inactive"
    status = 422
    default_message = "This ride has ended."


class RoomFull(Conflict):
    code = "room_full"
    default_message = "This ride is full."


class AlreadyInRoom(Conflict):
    code = "already_in_room"
    default_message = "You are already in this ride."


class NotInRoom(Conflict):
    code = "not_in_room"
    default_message = "You are not in this ride."


class NeverJoined(NotFound):
    code = "never_joined"
    default_message = "You have never been in this ride, so there is nothing to rejoin."


class NotRoomLeader(DomainError):
    code = "not_room_leader"
    status = 403
    default_message = "Only the rider who created this ride, or support staff, can do that."


class CodeSpaceExhausted(DomainError):
    code = "room_code_unavailable"
    status = 503
    default_message = "No free room code could be found; try again."


class NotRoomMember(DomainError):
    code = "not_room_member"
    status = 403
    default_message = "Only the riders of this ride can see inside it."


class RemovedFromRide(DomainError):
    code = "removed_from_ride"
    status = 403
    default_message = (
        "You were removed from this ride. Its leader, or support staff, can let you back in."
    )


class NotRemoved(Conflict):
    code = "not_removed"
    default_message = "That rider has not been removed from this ride."


class InvalidAlertData(ValidationFailed):
    code = "invalid_alert"
    default_message = "Some alert details are not valid."


class AlertNotFound(NotFound):
    code = "alert_not_found"
    default_message = "This ride has no such alert."


class AlertAlreadyResolved(Conflict):
    code = "alert_already_resolved"
    default_message = "This alert has already been resolved."


class AlertPending(Conflict):
    code = "alert_pending"
    default_message = (
        "This SOS is still counting down: it can be cancelled, and it opens when the countdown "
        "ends."
    )


class OwnAlert(DomainError):
    code = "own_alert"
    status = 403
    default_message = "Someone else acknowledges an alert about you; to end it, resolve it instead."


class NoSosToCancel(Conflict):
    code = "no_sos"
    default_message = "You have no SOS in this ride to cancel."
