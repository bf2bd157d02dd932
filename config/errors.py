"""The one error hierarchy every app's domain errors derive from.

A DomainError carries a stable machine-readable ``code``, the HTTP status the API answers
with, a human message, and optional per-field details. The REST API and the WebSocket both
speak these codes.
"""

from typing import ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "domain_error"
    status: ClassVar[int] = 422
    default_message: ClassVar[str] = "The request breaks a rule of Convoy."

    def __init__(self, message: str | None = None, *, fields: dict | None = None, **extra):
        self.message = message or self.default_message
        self.fields = fields or {}
        self.extra = extra
        super().__init__(self.message)

    def as_dict(self) -> dict:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        body.update(self.extra)
        return body


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = "Not found."


class Conflict(DomainError):
    code = "conflict"
    status = 409
    default_message = "The request conflicts with the current state."


class Gone(DomainError):
    """What the request names existed, and can no longer be used (a spent or expired link)."""

    code = "gone"
    status = 410
    default_message = "This is no longer available."


class ValidationFailed(DomainError):
    code = "validation_failed"
    status = 422
    default_message = "Some values are not valid."


class InvalidIdentifier(DomainError):
    code = "invalid_identifier"
    status = 400
    default_message = "That identifier is malformed."


class RateLimited(DomainError):
    """Too many attempts of something counted in a rate limit; ``retry_after_seconds`` says
    when the window frees (the same body as the API's own throttles)."""

    code = "rate_limited"
    status = 429
    default_message = "Too many requests; slow down."

    def __init__(self, message: str | None = None, *, retry_after_seconds: int):
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message, retry_after_seconds=retry_after_seconds)


class DatabaseUnavailableError(DomainError):
    """PostgreSQL could not answer this request: the connection was lost, the server is down,
    or no pooled connection freed up in time. The request's transaction rolled back."""

    code = "database_unavailable"
    status = 503
    default_message = (
        "The database is unavailable, so nothing was saved; try again in a few seconds."
    )
    retry_after_seconds = 5


class RequestExpired(DomainError):
    """The request waited longer than HTTP_QUEUE_TIMEOUT_SECONDS for a thread to run on (the
    worker was busy, or stalled by an outage): it was not run, since its client has most
    likely given up, and a join run now would answer the client's own retry 409."""

    code = "request_expired"
    status = 503
    default_message = (
        "The server was too busy to start this request in time, so nothing was done; "
        "try again in a few seconds."
    )
    retry_after_seconds = 2
