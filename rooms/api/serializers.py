from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.serializers import ReadModelSerializer, StrictSerializer
from riders.api.serializers import PublicRiderSerializer
from rooms.alerts import position_of
from rooms.models import (
    MAX_PARTICIPANTS,
    MIN_PARTICIPANTS,
    AlertResolution,
    RideAlert,
    Room,
    RoomParticipant,
)


class RoomSerializer(ReadModelSerializer):
    """A ride as every rider sees it; ``active_participants`` is annotated by the selector."""

    creator = PublicRiderSerializer(read_only=True)
    active_participants = serializers.IntegerField(read_only=True)

    class Meta:
        model = Room
        fields = [
            "id",
            "code",
            "name",
            "creator",
            "max_participants",
            "active_participants",
            "is_active",
            "deactivated_at",
            "created_at",
        ]
        read_only_fields = fields


class ParticipantSerializer(ReadModelSerializer):
    rider = PublicRiderSerializer(source="user", read_only=True)

    class Meta:
        model = RoomParticipant
        fields = ["rider", "joined_at", "left_at", "is_active"]
        read_only_fields = fields


class RemovedRiderSerializer(ReadModelSerializer):
    """A rider barred from the ride until its leader or staff readmits them."""

    rider = PublicRiderSerializer(source="user", read_only=True)

    class Meta:
        model = RoomParticipant
        fields = ["rider", "removed_at"]
        read_only_fields = fields


class RoomSummarySerializer(ReadModelSerializer):
    class Meta:
        model = Room
        fields = ["id", "code", "name", "is_active", "max_participants"]
        read_only_fields = fields


class MembershipSerializer(ReadModelSerializer):
    """One of the rider's own rooms, with their membership in it."""

    room = RoomSummarySerializer(read_only=True)

    class Meta:
        model = RoomParticipant
        fields = ["room", "joined_at", "left_at", "is_active"]
        read_only_fields = fields


class JoinResultSerializer(serializers.Serializer):
    participant = ParticipantSerializer()
    room = RoomSerializer()
    left_room_code = serializers.CharField(allow_null=True)


@extend_schema_field({"type": "integer", "minimum": MIN_PARTICIPANTS, "maximum": MAX_PARTICIPANTS})
class CapacityField(serializers.IntegerField):
    """Any 32-bit integer gets past the door; the service applies the range (422), which the
    schema states."""


class RoomCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=1000, trim_whitespace=False, allow_blank=True)
    max_participants = CapacityField(required=False, min_value=-(2**31), max_value=2**31)


class AlertPositionSerializer(serializers.Serializer):
    lat = serializers.FloatField()
    lon = serializers.FloatField()
    speed_kmh = serializers.FloatField(allow_null=True)
    heading_deg = serializers.FloatField(allow_null=True)
    at = serializers.DateTimeField(allow_null=True)


class RideAlertSerializer(ReadModelSerializer):
    """A ride alert: who it is about, what the server saw, who took it on and how it ended."""

    # The selectors bring the three riders in their one query.
    rider = PublicRiderSerializer(read_only=True)
    position = serializers.SerializerMethodField()
    trail = AlertPositionSerializer(many=True, read_only=True)
    details = serializers.DictField(
        read_only=True,
        help_text=(
            "What the rule saw: for example metres_behind (split), stopped_seconds (stopped), "
            "a dead-zone hint (silent), countdown_seconds (sos). Keys may be added."
        ),
    )
    acknowledged_by = PublicRiderSerializer(read_only=True, allow_null=True)
    resolved_by = PublicRiderSerializer(read_only=True, allow_null=True)

    class Meta:
        model = RideAlert
        fields = [
            "id",
            "rider",
            "kind",
            "status",
            "raised_at",
            "due_at",
            "position",
            "trail",
            "details",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_at",
            "resolution",
            "resolved_by",
        ]
        read_only_fields = fields

    @extend_schema_field(AlertPositionSerializer(allow_null=True))
    def get_position(self, alert: RideAlert) -> dict | None:
        return position_of(alert)


class AlertResolveSerializer(StrictSerializer):
    resolution = serializers.ChoiceField(
        choices=AlertResolution.choices,
        help_text=(
            "rider_back, false_alarm, handled, or condition_cleared (the condition is over)."
        ),
    )
