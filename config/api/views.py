import structlog
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, viewsets
from rest_framework.exceptions import ValidationError

from config.api.metadata import SchemaPointerMetadata
from config.api.serializers import ErrorSerializer, NoBodySerializer


class ConvoyViewSet(viewsets.GenericViewSet):
    """Base of every API viewset: authenticated by default, so no endpoint can forget it.

    Views stay thin: validate input with a serializer, call one service or selector,
    serialize the result. Domain errors travel up to the one exception handler.
    """

    permission_classes = [permissions.IsAuthenticated]
    metadata_class = SchemaPointerMetadata

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        _refuse_repeated_or_empty_parameters(request)
        # Authenticated now: the rest of the request's log lines name the rider.
        if request.user.is_authenticated:
            structlog.contextvars.bind_contextvars(rider_id=str(request.user.pk))
        # An operation that takes no body refuses one (bad JSON, unknown fields) before it
        # acts, like every other endpoint refuses fields it does not know.
        handler = getattr(self, self.action, None) if self.action else None
        if getattr(handler, "takes_no_body", False):
            validated(NoBodySerializer, request)


def without_body(**schema):
    """extend_schema(request=None, ...) for an operation that takes no body, which
    ConvoyViewSet then enforces: empty or {} only."""

    def decorate(view_method):
        view_method.takes_no_body = True
        return extend_schema(request=None, **schema)(view_method)

    return decorate


ERROR_DESCRIPTIONS = {
    400: "Malformed request: bad JSON, wrong types, missing or unknown fields.",
    401: "Missing, invalid or expired token.",
    403: "Not allowed for this rider.",
    404: "Not found.",
    409: "Conflicts with the current state.",
    410: "Gone: a spent link (expired, used or replaced by a newer one), or an export already downloaded or expired.",
    413: "Request body too large.",
    422: "Breaks a rule of Convoy.",
    429: "Rate limited; see Retry-After.",
    503: (
        "Temporarily unavailable, nothing was done; try again after Retry-After: "
        "database_unavailable, realtime_unavailable, or request_expired (queued too long to run)."
    ),
}


def error_responses(*statuses: int) -> dict:
    """OpenAPI entries for the error shape at the given statuses."""
    return {
        status: OpenApiResponse(response=ErrorSerializer, description=ERROR_DESCRIPTIONS[status])
        for status in statuses
    }


def _refuse_repeated_or_empty_parameters(request) -> None:
    """?page=1&page=2 has no one meaning (Django would silently take the last), and an empty
    ?scope= or ?until= is a value the client forgot to fill in, not "no filter": both are 400,
    for every parameter of every operation, so the schema can state it once."""
    problems = {}
    for name in request.query_params:
        values = request.query_params.getlist(name)
        if len(values) > 1:
            problems[name] = ["Give this parameter once."]
        elif values[0] == "":
            problems[name] = ["Give a value, or leave this parameter out."]
    if problems:
        raise ValidationError(dict(sorted(problems.items())[:20]))


def validated(serializer_class, request, **kwargs) -> dict:
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
