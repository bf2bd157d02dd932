import asyncio
from typing import BinaryIO

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response

from config.api.pagination import TimeCursorPagination
from config.api.serializers import ErrorSerializer
from config.api.views import (
    ERROR_DESCRIPTIONS,
    ConvoyViewSet,
    error_responses,
    validated,
    without_body,
)
from config.metrics import record_telemetry_outcomes
from telemetry.account_deletion import account_delete_own
from telemetry.api.filters import ConnectionLogFilter
from telemetry.api.openapi import EVENT_BATCH_EXAMPLES
from telemetry.api.serializers import (
    AccountDeleteSerializer,
    BatchResultSerializer,
    ConnectionLogSerializer,
    EventBatchSerializer,
    ExportJobSerializer,
    StatsQuerySerializer,
    StatsSerializer,
)
from telemetry.errors import ExportNotFound
from telemetry.exports import export_download_open, export_latest, export_request
from telemetry.models import ConnectionLog
from telemetry.selectors import connection_log_report, connection_logs_for_rider
from telemetry.services import connection_log_ingest_batch


class TelemetryViewSet(ConvoyViewSet):
    """The rider's own connection events: upload what the phone buffered, read them back."""

    pagination_class = TimeCursorPagination
    filterset_class = ConnectionLogFilter
    serializer_class = ConnectionLogSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no rider
            return ConnectionLog.objects.none()
        return connection_logs_for_rider(rider=self.request.user)

    @extend_schema(responses={200: ConnectionLogSerializer(many=True), **error_responses(400, 401)})
    @action(detail=False, methods=["get"], url_path="events")
    def list_events(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(ConnectionLogSerializer(page, many=True).data)

    @extend_schema(
        request=EventBatchSerializer,
        responses={200: BatchResultSerializer, **error_responses(400, 401, 413, 422)},
        examples=EVENT_BATCH_EXAMPLES,
    )
    @list_events.mapping.post
    def upload_events(self, request):
        """Upload up to 500 events; answers per index stored / duplicate / rejected / conflict.

        Re-sending the same batch is safe: every event answers "duplicate" and nothing is
        stored twice.
        """
        data = validated(EventBatchSerializer, request)
        outcomes = connection_log_ingest_batch(rider=request.user, events=data["events"])
        record_telemetry_outcomes(outcome.status for outcome in outcomes)
        return Response(BatchResultSerializer.from_outcomes(outcomes))

    @extend_schema(
        parameters=[StatsQuerySerializer],
        responses={200: StatsSerializer, **error_responses(400, 401, 422)},
    )
    @action(detail=False, methods=["get"])
    def stats(self, request):
        return Response(stats_payload(request, rider=request.user))


def stats_payload(request, **subject) -> dict:
    """Statistics of one rider or one room over the requested window, with a bucket series."""
    query = StatsQuerySerializer(data=request.query_params.dict())
    query.is_valid(raise_exception=True)
    report = connection_log_report(**query.validated_data, **subject)
    return StatsSerializer(report).data


# The archive is read from disk and sent in pieces of this size.
DOWNLOAD_CHUNK_BYTES = 256 * 1024


class AnswerInJSON(BaseContentNegotiation):
    """The download's archive is sent as it is, whatever the request accepts; anything else
    it answers (an error) is JSON. So ``Accept: application/zip`` is never refused with 406."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ArchiveResponse(StreamingHttpResponse):
    """The archive, read from an open file on a worker thread, a piece at a time.

    An async iterator, because under ASGI Django reads a synchronous streaming body (a
    FileResponse too) into one list before sending any of it: the whole archive in memory.
    """

    def __init__(self, handle: BinaryIO, *, size: int, filename: str):
        super().__init__(_pieces(handle), content_type="application/zip")
        self["Content-Length"] = str(size)
        self["Content-Disposition"] = f'attachment; filename="{filename}"'
        self["Cache-Control"] = "no-store"


async def _pieces(handle: BinaryIO):
    try:
        while piece := await asyncio.to_thread(handle.read, DOWNLOAD_CHUNK_BYTES):
            yield piece
    finally:
        handle.close()


def _json_errors(*statuses: int) -> dict:
    """Error entries that say JSON even where the operation's success is a zip."""
    return {
        (code, "application/json"): OpenApiResponse(
            response=ErrorSerializer, description=ERROR_DESCRIPTIONS[code]
        )
        for code in statuses
    }


class AccountDataViewSet(ConvoyViewSet):
    """The rider's data as a whole: delete the account, or get a copy of everything."""

    @extend_schema(
        request=AccountDeleteSerializer,
        responses={
            204: OpenApiResponse(
                description="Deleted: every device is signed out (this token too) and the "
                "rider has left their ride."
            ),
            **error_responses(400, 401, 409, 422, 429),
        },
        operation_id="riders_me_delete",
        description="Delete the account for good, confirming with its password. At once, "
        "in one step: every device is signed out, the rider leaves their ride (the others "
        "see member_left, reason account_deleted), the username, email and display name "
        "are erased (both may be registered again), and the rider's rides and connection "
        "logs pass to an anonymous stand-in, so ride statistics are unchanged. Wrong "
        "passwords count against THROTTLE_PASSWORD_FAILURES_RATE (then 429).",
    )
    @action(detail=False, methods=["post"], url_path="delete")
    def delete_account(self, request):
        data = validated(AccountDeleteSerializer, request)
        account_delete_own(rider=request.user, password=data["password"])
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["GET"],
        responses={200: ExportJobSerializer, **error_responses(401, 404)},
        operation_id="riders_me_export_state",
        description="The rider's latest data export and its state.",
    )
    @without_body(
        methods=["POST"],
        responses={
            202: OpenApiResponse(ExportJobSerializer, description="A new export was started."),
            200: OpenApiResponse(
                ExportJobSerializer,
                description="An export was already under way or ready: that one, unchanged.",
            ),
            **error_responses(400, 401),
        },
        operation_id="riders_me_export_request",
        description="Ask for a copy of everything Convoy keeps about the rider: one zip of "
        "JSON files (docs/privacy.md). A short history is ready at once; a long one is "
        "built in the background (poll GET). One export at a time: asking again while one "
        "is pending, building or ready answers 200 with that one.",
    )
    @action(detail=False, methods=["get", "post"], url_path="export")
    def export(self, request):
        if request.method == "POST":
            job, created = export_request(rider=request.user)
            code = status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        else:
            job = export_latest(rider=request.user)
            if job is None:
                raise ExportNotFound()
            code = status.HTTP_200_OK
        body = ExportJobSerializer(job, context={"now": timezone.now()}).data
        return Response(body, status=code)

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The archive (docs/privacy.md), offered once: the next "
                "download of it answers 410.",
            ),
            **_json_errors(401, 404, 409, 410),
        },
        operation_id="riders_me_export_download",
        description="Download the ready archive, once, with the rider's token: it is "
        "deleted as the download starts, and EXPORT_EXPIRY_HOURS after it was built if "
        "never downloaded. 409 while it is being built, 410 once downloaded, expired or "
        "failed.",
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export/download",
        content_negotiation_class=AnswerInJSON,
    )
    def export_download(self, request):
        job, handle = export_download_open(rider=request.user)
        day = job.requested_at.date().isoformat()
        return ArchiveResponse(
            handle, size=job.size_bytes or 0, filename=f"convoy-export-{day}.zip"
        )
