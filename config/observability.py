"""Per-request observability: a request id on every log line, one access line, metrics.

The first middleware: it sees every request, including those a later middleware answers.
"""

import re
import time

import structlog
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

from config import metrics
from config.errors import DatabaseUnavailableError
from config.logs import request_id_from

logger = structlog.get_logger("convoy.request")

REQUEST_ID_HEADER = "X-Request-ID"
# "api/v1/^rooms/(?P<code>[^/.]+)/join/$" -> "api/v1/rooms/<code>/join/"
_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


class RequestObservabilityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        route = route_of(request)
        metrics.record_request(
            method=request.method, route=route, status=response.status_code, seconds=seconds
        )
        rider = getattr(request, "user", None)
        if rider is not None and rider.is_authenticated:
            structlog.contextvars.bind_contextvars(rider_id=str(rider.pk))
        logger.info(
            "request",
            method=request.method,
            route=route,
            path=request.path,
            status=response.status_code,
            duration_ms=round(seconds * 1000, 2),
        )
        response[REQUEST_ID_HEADER] = request_id
        structlog.contextvars.clear_contextvars()
        return response

    def process_exception(self, request, exception):
        # PostgreSQL went away under this request (killed connection, server down, pool
        # exhausted): the transaction rolled back, so a retry is safe.
        if isinstance(exception, OperationalError | InterfaceError):
            return database_unavailable_response(exception)
        return None


def database_unavailable_response(exception: Exception) -> JsonResponse:
    error = database_unavailable(exception)
    return JsonResponse(
        {"error": error.as_dict()},
        status=error.status,
        headers={"Retry-After": str(error.retry_after_seconds)},
    )


def database_unavailable(exception: Exception) -> DatabaseUnavailableError:
    reason = str(exception).strip().splitlines()
    logger.warning("database unavailable", reason=reason[0] if reason else type(exception).__name__)
    return DatabaseUnavailableError()


def route_of(request) -> str:
    """The URL pattern that matched, never the raw path (ids would explode the series)."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return "unmatched"
    return _GROUP.sub(r"<\1>", match.route).replace("^", "").replace("$", "")
