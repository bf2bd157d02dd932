"""One error shape for the whole API: {"error": {"code", "message", "fields"?}}.

Domain errors raised by services map here, in one place, to their status; DRF's own
exceptions (parse errors, authentication, throttling ...) are reshaped the same way.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.api.parsers import PayloadTooLarge
from config.errors import DomainError
from config.observability import database_unavailable

_MESSAGES = {
    exceptions.ParseError: ("malformed_request", "The request body is not valid JSON."),
    exceptions.NotAuthenticated: ("not_authenticated", "Log in to do this."),
    exceptions.AuthenticationFailed: ("authentication_failed", "The token is invalid or expired."),
    exceptions.PermissionDenied: ("forbidden", "You are not allowed to do this."),
    exceptions.NotFound: ("not_found", "Not found."),
    exceptions.MethodNotAllowed: ("method_not_allowed", "This method is not allowed here."),
    exceptions.NotAcceptable: ("not_acceptable", "Only application/json responses are offered."),
    exceptions.UnsupportedMediaType: (
        "unsupported_media_type",
        "Send the request body as application/json.",
    ),
    exceptions.Throttled: ("rate_limited", "Too many requests; slow down."),
}


def api_exception_handler(exc, context):
    if isinstance(exc, OperationalError | InterfaceError):
        # The connection died under the request or none was free in time; the transaction
        # rolled back, so the phone may simply retry.
        exc = database_unavailable(exc)
    if isinstance(exc, DomainError):
        response = Response({"error": exc.as_dict()}, status=exc.status)
        if exc.status == status.HTTP_401_UNAUTHORIZED:
            response["WWW-Authenticate"] = 'Bearer realm="convoy"'
        # Every error that says when to come back says it in the header too (a database or
        # live state away, a rate limit).
        retry_after = getattr(exc, "retry_after_seconds", None)
        if retry_after is not None:
            response["Retry-After"] = str(retry_after)
        return response
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(
            f"The request body is larger than {settings.API_MAX_BODY_BYTES} bytes."
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    response.data = {"error": _describe(exc, response)}
    return response


def _describe(exc, response) -> dict:
    if isinstance(exc, exceptions.ValidationError):
        return {
            "code": "invalid_request",
            "message": "Some fields are missing or malformed.",
            "fields": _fields(exc.detail),
        }
    if isinstance(exc, Http404):
        return {"code": "not_found", "message": "Not found."}
    if isinstance(exc, DjangoPermissionDenied):
        return {"code": "forbidden", "message": "You are not allowed to do this."}
    for kind, (code, message) in _MESSAGES.items():
        if isinstance(exc, kind):
            body: dict[str, object] = {"code": code, "message": message}
            wait = getattr(exc, "wait", None)  # Throttled's, which DRF's stubs leave out
            if isinstance(exc, exceptions.Throttled) and wait is not None:
                body["retry_after_seconds"] = int(wait + 0.999)
            if isinstance(exc, exceptions.ParseError) and exc.detail:
                body["message"] = f"{message} ({exc.detail})"
            return body
    detail = getattr(exc, "detail", None)
    return {
        "code": getattr(exc, "default_code", "error"),
        "message": str(detail) if detail else "The request failed.",
    }


def _fields(detail) -> dict:
    if isinstance(detail, dict):
        return {key: _messages(value) for key, value in detail.items()}
    return {"non_field_errors": _messages(detail)}


def _messages(value):
    if isinstance(value, dict):
        return {key: _messages(item) for key, item in value.items()}
    if isinstance(value, list):
        if all(not isinstance(item, dict | list) for item in value):
            return [str(item) for item in value]
        return [_messages(item) for item in value]
    return [str(value)]
