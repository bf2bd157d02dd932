"""The ride alerts of a ride over REST: the list its riders see, and acknowledging and
resolving one. The socket tells the same riders of every change (alert_raised ...)."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api.views import ConvoyViewSet, error_responses, validated, without_body
from rooms import alerts
from rooms.api.filters import RideAlertFilter
from rooms.api.openapi import ROOM_CODE
from rooms.api.permissions import IsActiveRoomMember
from rooms.api.serializers import AlertResolveSerializer, RideAlertSerializer
from rooms.models import RideAlert
from rooms.selectors import room_alert_get, room_alerts

ALERT_ID = OpenApiParameter(
    "alert_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The alert's id."
)
_MEMBERS_ONLY = [*ConvoyViewSet.permission_classes, IsActiveRoomMember]


class RideAlertViewSet(ConvoyViewSet):
    """A ride's alerts, for its active participants and support staff."""

    filter_backends = [DjangoFilterBackend]
    filterset_class = RideAlertFilter
    serializer_class = RideAlertSerializer
    permission_classes = _MEMBERS_ONLY

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema's generator has no ride
            return RideAlert.objects.none()
        return room_alerts(room=self.room, viewer=self.request.user)

    @extend_schema(
        parameters=[ROOM_CODE],
        responses={200: RideAlertSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    @action(detail=False, methods=["get"], url_path=r"(?P<code>[^/]+)/alerts")
    def list_alerts(self, request, code=None):
        """Open alerts first, then acknowledged, then resolved, each newest first."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(RideAlertSerializer(page, many=True).data)

    @without_body(
        parameters=[ROOM_CODE, ALERT_ID],
        responses={200: RideAlertSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path=r"(?P<code>[^/]+)/alerts/(?P<alert_id>[^/]+)/acknowledge",
    )
    def acknowledge(self, request, code=None, alert_id=None):
        """Say you are on it. Repeating it changes nothing (the first acknowledgment stands);
        a rider cannot acknowledge an alert about themselves (403 own_alert); a resolved
        alert is 409 alert_already_resolved, an SOS still counting down 409 alert_pending."""
        alert = alerts.alert_acknowledge(alert_id=alert_id, room=self.room, by=request.user)
        return Response(RideAlertSerializer(room_alert_get(room=self.room, alert_id=alert.pk)).data)

    @extend_schema(
        parameters=[ROOM_CODE, ALERT_ID],
        request=AlertResolveSerializer,
        responses={200: RideAlertSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path=r"(?P<code>[^/]+)/alerts/(?P<alert_id>[^/]+)/resolve",
    )
    def resolve(self, request, code=None, alert_id=None):
        """End the alert. A resolved alert is 409 alert_already_resolved; the rider's own SOS
        still counting down ends without a word to the ride."""
        data = validated(AlertResolveSerializer, request)
        alert = alerts.alert_resolve(
            alert_id=alert_id, room=self.room, by=request.user, resolution=data["resolution"]
        )
        return Response(RideAlertSerializer(room_alert_get(room=self.room, alert_id=alert.pk)).data)
