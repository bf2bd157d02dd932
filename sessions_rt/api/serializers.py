"""Shapes of the live state, for the OpenAPI schema (the data is built by sessions_rt.store.events)."""

from rest_framework import serializers


class LiveLocationSerializer(serializers.Serializer):
    lat = serializers.FloatField()
    lon = serializers.FloatField()
    speed_kmh = serializers.FloatField(allow_null=True)
    heading_deg = serializers.FloatField(allow_null=True)
    at = serializers.DateTimeField()


class LiveMemberSerializer(serializers.Serializer):
    rider_id = serializers.UUIDField()
    joined_at = serializers.DateTimeField()
    role = serializers.ChoiceField(choices=["leader", "sweep", "rider"])
    status = serializers.CharField(allow_null=True)
    last_seen = serializers.DateTimeField(allow_null=True)
    battery_pct = serializers.IntegerField(
        allow_null=True,
        help_text="Null when not reported, or when the rider does not share it (share_battery).",
    )
    network_type = serializers.CharField(
        allow_null=True,
        help_text="Null when not reported, or when the rider does not share it (share_network).",
    )
    location_paused = serializers.BooleanField(
        help_text="Whether the rider paused sharing their position; location is then null."
    )
    location = LiveLocationSerializer(
        allow_null=True, help_text="The latest position; null when none yet, or paused."
    )


class LiveLinkSerializer(serializers.Serializer):
    rider_id = serializers.UUIDField()
    peer_id = serializers.UUIDField()
    state = serializers.CharField()
    ice_state = serializers.CharField(allow_null=True)
    changed_at = serializers.DateTimeField()


class LiveRoomSerializer(serializers.Serializer):
    room_id = serializers.UUIDField()
    session_id = serializers.CharField(allow_null=True)
    seq = serializers.IntegerField()
    created_at = serializers.DateTimeField(allow_null=True)
    last_activity = serializers.DateTimeField(allow_null=True)
    leader_id = serializers.UUIDField(allow_null=True)
    sweep_id = serializers.UUIDField(allow_null=True)
    member_count = serializers.IntegerField()
    members = LiveMemberSerializer(many=True)
    connections = LiveLinkSerializer(many=True)
