from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.serializers import QueryParametersSerializer, ReadModelSerializer, StrictSerializer
from rooms.models import ROOM_CODE_ALPHABET, ROOM_CODE_LENGTH
from telemetry.models import (
    CLIENT_EVENT_ID_MAX_LENGTH,
    ConnectionLog,
    EventType,
    ExportJob,
    ExportState,
)
from telemetry.quality import metrics_mos, rating
from telemetry.selectors import BUCKET_SIZES, MAX_STATS_WINDOW
from telemetry.validation import NUMBER_METRICS, TEXT_METRICS

DEFAULT_STATS_WINDOW = timedelta(hours=24)


def _metric_schema() -> dict:
    properties: dict[str, dict[str, object]] = {
        name: {
            "type": "integer" if rule.integer else "number",
            "minimum": rule.low,
            "maximum": rule.high,
            "description": rule.unit,
        }
        for name, rule in NUMBER_METRICS.items()
    }
    properties |= {
        name: {"type": "string", "enum": list(values)} for name, values in TEXT_METRICS.items()
    }
    return {
        "type": "object",
        "nullable": True,
        "properties": properties,
        "additionalProperties": False,
    }


# What a valid event looks like, built from the rules telemetry.validation applies.
BATCH_EVENT_SCHEMA = {
    "type": "object",
    "required": ["event_type", "occurred_at", "client_event_id"],
    "properties": {
        "event_type": {"type": "string", "enum": list(EventType.values)},
        "occurred_at": {
            "type": "string",
            "format": "date-time",
            "description": "With a UTC offset; not in the future, not older than the expiry.",
        },
        "client_event_id": {
            "type": "string",
            "pattern": f"^[A-Za-z0-9._:-]{{1,{CLIENT_EVENT_ID_MAX_LENGTH}}}$",
            "description": "Makes re-sending the event harmless.",
        },
        "metrics": _metric_schema(),
        "room_code": {
            "type": "string",
            "nullable": True,
            "pattern": f"^[{ROOM_CODE_ALPHABET}]{{{ROOM_CODE_LENGTH}}}$",
            "description": "A ride the rider is or was in; or give room_id.",
        },
        "room_id": {"type": "string", "format": "uuid", "nullable": True},
    },
    "additionalProperties": False,
}


class PassThroughField(serializers.JSONField):
    """Any JSON value, null included, unchanged."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def to_internal_value(self, data):
        return data


# The server takes any value as an item and judges each on its own: a valid event is
# stored, anything else is answered "rejected" at its index while the rest are stored. The
# schema says exactly that, and still shows what a valid event is.
BATCH_ITEM_SCHEMA = {
    "anyOf": [
        {"title": "A connection event (stored)", **BATCH_EVENT_SCHEMA},
        {"title": "Any other value (answered rejected at its index)"},
    ]
}


@extend_schema_field(BATCH_ITEM_SCHEMA)
class BatchEventField(PassThroughField):
    """One event of a batch: passed through as is, documented as what the service accepts."""


class EventBatchSerializer(StrictSerializer):
    # Only "a non-empty list" is checked here: each event, however broken (null, a string,
    # an overflowing number), is judged on its own by the service and answered at its index.
    events = serializers.ListField(
        child=BatchEventField(),
        allow_empty=False,
        min_length=1,  # the same rule, for the schema's minItems
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
    fields = serializers.DictField()  # type: ignore[assignment]  # a declared field, not .fields


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


class QualitySerializer(serializers.Serializer):
    samples = serializers.IntegerField(help_text="Events carrying rtt, jitter or loss.")
    mos = serializers.FloatField(
        allow_null=True, help_text="Mean opinion score, 1 to 4.5 (E-model simplification)."
    )
    rating = serializers.ChoiceField(choices=["excellent", "good", "poor", "lost"], allow_null=True)


class ConnectionLogSerializer(ReadModelSerializer):
    room_code = serializers.CharField(source="room.code", allow_null=True, default=None)
    quality = serializers.SerializerMethodField()

    @extend_schema_field(QualitySerializer(allow_null=True))
    def get_quality(self, log) -> dict | None:
        """The event's MOS and rating, or null when it carries no rtt, jitter or loss."""
        score = metrics_mos(log.metrics or {})
        if score is None:
            return None
        return {"samples": 1, "mos": score, "rating": rating(score)}

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
            "quality",
        ]
        read_only_fields = fields


class StatsQuerySerializer(QueryParametersSerializer):
    """The window of a statistics report; validated_data always holds since and until."""

    since = serializers.DateTimeField(
        required=False,
        help_text=(
            "Start of the window (default: 24 hours before until); a window spans at most "
            f"{MAX_STATS_WINDOW.days} days (422 invalid_time_window beyond)."
        ),
    )
    until = serializers.DateTimeField(required=False, help_text="End of the window (default: now).")
    bucket = serializers.ChoiceField(
        choices=sorted(BUCKET_SIZES), required=False, help_text="Bucket size of the series."
    )

    def validate(self, attrs):
        until = attrs.get("until") or timezone.now()
        since = attrs.get("since")
        if since is None:
            try:
                since = until - DEFAULT_STATS_WINDOW
            except OverflowError:  # an until in the first day of year 1
                problem = "Too early for the default window; give since as well."
                raise serializers.ValidationError({"until": [problem]}) from None
        return {**attrs, "since": since, "until": until}


class MetricSummarySerializer(serializers.Serializer):
    samples = serializers.IntegerField()
    average = serializers.FloatField(allow_null=True)
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)


class _FiguresSerializer(serializers.Serializer):
    total_events = serializers.IntegerField()
    events_by_type = serializers.DictField(child=serializers.IntegerField())
    rtt_ms = MetricSummarySerializer()
    jitter_ms = MetricSummarySerializer()
    packet_loss_pct = MetricSummarySerializer()
    bitrate_kbps = MetricSummarySerializer()
    reconnects = serializers.IntegerField(help_text="Reconnected events.")
    mean_time_to_reconnect_ms = serializers.FloatField(
        allow_null=True,
        help_text="Mean time from a rider's reconnecting event to their next reconnected one.",
    )
    quality = QualitySerializer()


class SegmentSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    quality = QualitySerializer()
    packet_loss_pct = MetricSummarySerializer()
    reconnects = serializers.IntegerField()


class StatsBucketSerializer(_FiguresSerializer):
    start = serializers.DateTimeField()


class StatsSerializer(_FiguresSerializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    bucket = serializers.CharField(allow_null=True)
    buckets = StatsBucketSerializer(many=True)
    worst_segments = SegmentSerializer(
        many=True, help_text="Up to 5 buckets of lowest mean MOS, worst first."
    )


# --- The rider's data as a whole: the account's deletion, the export --------------------

DOWNLOAD_PATH = "/api/v1/riders/me/export/download/"


class AccountDeleteSerializer(StrictSerializer):
    password = serializers.CharField(
        max_length=1000,
        trim_whitespace=False,
        allow_blank=True,
        help_text="The account's current password, to confirm the deletion.",
    )


class ExportJobSerializer(ReadModelSerializer):
    """An export the rider asked for: its state and, once ready, where to download it."""

    state = serializers.SerializerMethodField(
        help_text="pending or building: ask again later; ready: download it before "
        "expires_at, once; downloaded, expired or failed: ask for a new one."
    )
    download_url = serializers.SerializerMethodField(
        help_text="While ready: the path to GET, with the same token, for the zip archive."
    )

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "state",
            "requested_at",
            "ready_at",
            "expires_at",
            "finished_at",
            "size_bytes",
            "download_url",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=ExportState.choices))
    def get_state(self, job: ExportJob) -> str:
        return job.state_at(self.context["now"])

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_download_url(self, job: ExportJob) -> str | None:
        return DOWNLOAD_PATH if self.get_state(job) == ExportState.READY else None
