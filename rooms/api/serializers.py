from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.serializers import ReadModelSerializer, StrictSerializer
from riders.api.serializers import PublicRiderSerializer
from rooms.models import MAX_PARTICIPANTS, MIN_PARTICIPANTS, Room, RoomParticipant


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
