from rest_framework import serializers

from config.api.serializers import StrictSerializer
from telemetry.models import ConnectionLog
from telemetry.selectors import BUCKET_SIZES


class PassThroughField(serializers.JSONField):
    """Any JSON value, null included, unchanged."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def to_internal_value(self, data):
        return data


class EventBatchSerializer(StrictSerializer):
    # Only "a non-empty list" is checked here: each event, however broken (null, a string,
    # an overflowing number), is judged on its own by the service and answered at its index.
    events = serializers.ListField(
        child=PassThroughField(),
        allow_empty=False,
        help_text=(
            "Up to 500 events, each {event_type, occurred_at, client_event_id, metrics?, "
            "room_code?}. Each is validated on its own."
        ),
    )


class EventOutcomeSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["stored", "duplicate", "rejected", "conflict"])
    id = serializers.UUIDField(allow_null=True)
    code = serializers.CharField(allow_null=True)
    message = serializers.CharField(allow_null=True)
    fields = serializers.DictField()


class BatchResultSerializer(serializers.Serializer):
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    conflicts = serializers.IntegerField()
    results = EventOutcomeSerializer(many=True)

    @staticmethod
    def from_outcomes(outcomes) -> dict:
        def count(status: str) -> int:
            return sum(1 for outcome in outcomes if outcome.status == status)

        return {
            "stored": count("stored"),
            "duplicates": count("duplicate"),
            "rejected": count("rejected"),
            "conflicts": count("conflict"),
            "results": EventOutcomeSerializer(outcomes, many=True).data,
        }


class ConnectionLogSerializer(serializers.ModelSerializer):
    room_code = serializers.CharField(source="room.code", allow_null=True, default=None)

    class Meta:
        model = ConnectionLog
        fields = [
            "id",
            "event_type",
            "metrics",
            "occurred_at",
            "recorded_at",
            "client_event_id",
            "room_code",
        ]
        read_only_fields = fields


class StatsQuerySerializer(StrictSerializer):
    since = serializers.DateTimeField(
        required=False, help_text="Start of the window (default: 24 hours ago)."
    )
    until = serializers.DateTimeField(required=False, help_text="End of the window (default: now).")
    bucket = serializers.ChoiceField(
        choices=sorted(BUCKET_SIZES), required=False, help_text="Bucket size of the series."
    )


class MetricSummarySerializer(serializers.Serializer):
    samples = serializers.IntegerField()
    average = serializers.FloatField(allow_null=True)
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)


class _FiguresSerializer(serializers.Serializer):
    total_events = serializers.IntegerField()
    events_by_type = serializers.DictField(child=serializers.IntegerField())
    rtt_ms = MetricSummarySerializer()
    jitter_ms = MetricSummarySerializer()
    packet_loss_pct = MetricSummarySerializer()


class StatsBucketSerializer(_FiguresSerializer):
    start = serializers.DateTimeField()


class StatsSerializer(_FiguresSerializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    bucket = serializers.CharField(allow_null=True)
    buckets = StatsBucketSerializer(many=True)
