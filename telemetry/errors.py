from config.errors import Conflict, DomainError, NotFound, ValidationFailed


class InvalidEvent(ValidationFailed):
    """A connection event breaks a rule; every per-event validation error derives from it."""

    code = "invalid_event"
    default_message = "The connection event is not valid."


class InvalidMetrics(InvalidEvent):
    code = "invalid_metrics"
    default_message = "Some metrics are not valid."


class EventInFuture(InvalidEvent):
    code = "event_in_future"
    default_message = "The event's time is ahead of the server clock."


class EventTooOld(InvalidEvent):
    code = "event_too_old"
    default_message = "The event is older than connection logs are kept."


class EventOutsideRide(InvalidEvent):
    code = "event_outside_ride"
    default_message = "The event's time is outside the time the rider could have been in the ride."


class InvalidBatch(ValidationFailed):
    code = "invalid_batch"
    default_message = "A batch of connection events must be a list."


class BatchTooLarge(DomainError):
    code = "batch_too_large"
    status = 413
    default_message = "The batch holds more connection events than one upload may."


class ClientEventConflict(Conflict):
    code = "client_event_conflict"
    default_message = "That client event id was already used for a different event."


class InvalidTimeWindow(ValidationFailed):
    code = "invalid_time_window"
    default_message = "The time window is not valid."


class InvalidCleanupRequest(ValidationFailed):
    code = "invalid_cleanup"
    default_message = "The cleanup request is not valid."


class ExportNotFound(NotFound):
    code = "export_not_found"
    default_message = "No export has been asked for; POST riders/me/export/ to ask for one."


class ExportNotReady(Conflict):
    code = "export_not_ready"
    default_message = "The export is still being built; ask for its state again later."


class ExportGone(DomainError):
    code = "export_gone"
    status = 410
    default_message = "That export is no longer offered; ask for a new one."
