from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api.pagination import TimeCursorPagination
from config.api.views import ConvoyViewSet, error_responses, validated
from config.metrics import record_telemetry_outcomes
from telemetry.api.filters import ConnectionLogFilter
from telemetry.api.openapi import EVENT_BATCH_EXAMPLES
from telemetry.api.serializers import (
    BatchResultSerializer,
    ConnectionLogSerializer,
    EventBatchSerializer,
    StatsQuerySerializer,
    StatsSerializer,
)
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
