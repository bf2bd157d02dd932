"""The operators' webhook endpoints over the API, for staff: what the console's pages do
(rooms/admin_webhooks.py), for an operator's own tooling. Moderators register, resume and
stop endpoints; Support reads them and their deliveries; riders get 403."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from config.api.serializers import StrictSerializer
from config.api.views import ConvoyViewSet, error_responses, validated, without_body
from config.identifiers import parse_uuid
from rooms import webhooks
from rooms.models import WebhookDelivery, WebhookEndpoint
from rooms.outbox import EVENT_TYPES
from rooms.selectors import webhook_deliveries, webhook_endpoint_get, webhook_endpoints

ENDPOINT_ID = OpenApiParameter(
    "id", str, OpenApiParameter.PATH, description="The endpoint's id (a UUID)."
)
DELIVERY_STATUS = OpenApiParameter(
    "status",
    str,
    OpenApiParameter.QUERY,
    enum=[WebhookDelivery.PENDING, WebhookDelivery.DELIVERED],
    description="Only the deliveries in this state.",
)


class IsStaffWithPermission(BasePermission):
    """Staff holding the Django permission the view names for the request's method: reads
    need ``view``, writes ``change`` (registering: ``add``)."""

    def has_permission(self, request, view) -> bool:
        if not request.user.is_staff:
            raise PermissionDenied("Only Convoy staff manage webhook endpoints.")
        needed = view.required_permission(request)
        if not request.user.has_perm(needed):
            raise PermissionDenied(f"This needs the {needed} permission (the Moderator role).")
        return True


class WebhookEndpointSerializer(serializers.ModelSerializer):
    paused = serializers.BooleanField(source="is_paused", read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields: tuple[str, ...] = (
            "id",
            "url",
            "description",
            "event_types",
            "is_active",
            "paused",
            "paused_at",
            "pause_reason",
            "failing_since",
            "created_at",
        )
        read_only_fields: tuple[str, ...] = fields


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret (whsec_...), returned this once only."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = (*WebhookEndpointSerializer.Meta.fields, "secret")
        read_only_fields = fields


class WebhookEndpointCreateSerializer(StrictSerializer):
    url = serializers.CharField(max_length=2000, help_text="An http(s) URL, no credentials.")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES), min_length=1, max_length=20
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    webhook_id = serializers.UUIDField(source="event.event_id", read_only=True)
    type = serializers.CharField(source="event.type", read_only=True)
    ride_id = serializers.UUIDField(source="room_id", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = (
            "id",
            "webhook_id",
            "type",
            "ride_id",
            "status",
            "attempts",
            "next_attempt_at",
            "delivered_at",
            "created_at",
        )
        read_only_fields = fields


class WebhookEndpointViewSet(ConvoyViewSet):
    """Operators' webhook endpoints (staff only)."""

    permission_classes = [*ConvoyViewSet.permission_classes, IsStaffWithPermission]
    serializer_class = WebhookEndpointSerializer
    lookup_value_regex = "[^/]+"

    def required_permission(self, request) -> str:
        if self.action == "create":
            return "rooms.add_webhookendpoint"
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return "rooms.view_webhookendpoint"
        return "rooms.change_webhookendpoint"

    def get_queryset(self):
        return webhook_endpoints()

    @extend_schema(
        responses={200: WebhookEndpointSerializer(many=True), **error_responses(400, 401, 403)}
    )
    def list(self, request):
        page = self.paginate_queryset(webhook_endpoints())
        return self.get_paginated_response(WebhookEndpointSerializer(page, many=True).data)

    @extend_schema(
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointCreatedSerializer, **error_responses(400, 401, 403, 422)},
    )
    def create(self, request):
        data = validated(WebhookEndpointCreateSerializer, request)
        endpoint = webhooks.webhook_endpoint_create(actor=request.user, **data)
        return Response(
            WebhookEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        parameters=[ENDPOINT_ID],
        responses={200: WebhookEndpointSerializer, **error_responses(400, 401, 403, 404)},
    )
    def retrieve(self, request, pk=None):
        return Response(WebhookEndpointSerializer(_endpoint(pk)).data)

    @without_body(
        parameters=[ENDPOINT_ID], responses={204: None, **error_responses(400, 401, 403, 404)}
    )
    def destroy(self, request, pk=None):
        """Stop delivering to this endpoint for good (what it was sent stays on record)."""
        webhooks.webhook_endpoint_deactivate(endpoint=_endpoint(pk), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @without_body(
        parameters=[ENDPOINT_ID],
        responses={200: WebhookEndpointSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Resume a paused endpoint: what waited for it is delivered, in order per ride."""
        endpoint = _endpoint(pk)
        webhooks.webhook_endpoint_resume(endpoint=endpoint, actor=request.user)
        return Response(WebhookEndpointSerializer(_endpoint(pk)).data)

    @extend_schema(
        parameters=[ENDPOINT_ID, DELIVERY_STATUS],
        responses={
            200: WebhookDeliverySerializer(many=True),
            **error_responses(400, 401, 403, 404),
        },
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The endpoint's deliveries, newest first."""
        wanted = request.query_params.get("status")
        if wanted is not None and wanted not in (
            WebhookDelivery.PENDING,
            WebhookDelivery.DELIVERED,
        ):
            raise serializers.ValidationError({"status": ["Use pending or delivered."]})
        page = self.paginate_queryset(webhook_deliveries(endpoint=_endpoint(pk), status=wanted))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)


def _endpoint(pk) -> WebhookEndpoint:
    return webhook_endpoint_get(endpoint_id=parse_uuid(pk, what="id"))
