"""Request bodies as the ASGI server hands them over: bounded, and with their true length.

Django reads a request body by CONTENT_LENGTH, which is 0 for a chunked body (no
Content-Length header): the view then saw an empty body and answered success for data it
never read. And Django applies DATA_UPLOAD_MAX_MEMORY_SIZE only when a view reads the body,
so an endpoint that takes none accepted, and waited for, a body of any size. Both are
settled here, below Django, for every request.
"""

import json
import time

import structlog
from django.core.exceptions import RequestAborted

from config import metrics
from config.logs import request_id_from

logger = structlog.get_logger("convoy.request")


class BodyTooLarge(Exception):
    """The body is (or announces itself as) larger than API_MAX_BODY_BYTES."""


def announced_length(scope) -> int | None:
    """The Content-Length header as a number; None when absent or not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def read_bounded_body(receive, limit: int) -> bytes:
    """The whole body; BodyTooLarge as soon as it passes ``limit``, so the rest is never
    waited for. At most ``limit`` bytes are held (Django spools it to its own file after)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestAborted()
        body += message.get("body", b"")
        if len(body) > limit:
            raise BodyTooLarge()
        if not message.get("more_body", False):
            return bytes(body)


def with_true_length(scope, size: int):
    """The scope with a Content-Length header giving the size of the body actually read."""
    headers = [
        (name, value) for name, value in scope.get("headers", ()) if name != b"content-length"
    ]
    headers.append((b"content-length", str(size).encode("ascii")))
    return {**scope, "headers": headers}


async def send_too_large(scope, send, limit: int, *, started: float) -> None:
    await send_error(
        scope,
        send,
        status=413,
        error={
            "code": "payload_too_large",
            "message": f"The request body is larger than {limit} bytes.",
        },
        started=started,
        reason="body_too_large",
    )


async def send_error(
    scope,
    send,
    *,
    status: int,
    error: dict,
    started: float,
    reason: str,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    """The API's one error shape, sent straight from the ASGI layer (no view ran, and no
    middleware: the access line, the request metric and the request id are given here, as
    RequestObservabilityMiddleware gives them to every other request)."""
    request_id = request_id_from(_header(scope, b"x-request-id"))
    body = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                # The unread rest of the body makes the connection unusable.
                (b"connection", b"close"),
                (b"x-request-id", request_id.encode("ascii")),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    seconds = time.perf_counter() - started
    method = scope.get("method", "")
    # No URL was resolved: the route label stays "unmatched", as for any unresolved path.
    metrics.record_request(method=method, route="unmatched", status=status, seconds=seconds)
    logger.info(
        "request",
        request_id=request_id,
        method=method,
        route="unmatched",
        path=scope.get("path", ""),
        status=status,
        duration_ms=round(seconds * 1000, 2),
        reason=reason,
    )


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None
