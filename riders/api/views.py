from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api.views import ConvoyViewSet, error_responses, validated, without_body
from riders import auth_services
from riders.api.openapi import LOG_IN_EXAMPLES, REGISTER_EXAMPLES, RIDER_ID
from riders.api.serializers import (
    LogInSerializer,
    PasswordChangeSerializer,
    PrivateRiderSerializer,
    ProfileUpdateSerializer,
    PublicRiderSerializer,
    RegisterSerializer,
    SessionSerializer,
    SignedOutSerializer,
)
from riders.api.throttles import CredentialsAccountThrottle, CredentialsIPThrottle
from riders.models import Rider
from riders.selectors import rider_get, rider_get_by_username
from riders.services import rider_update
from rooms.api.serializers import MembershipSerializer
from rooms.selectors import rider_memberships


class AuthViewSet(ConvoyViewSet):
    """Register, log in and out. Each phone or tablet holds its own token."""

    @extend_schema(
        request=RegisterSerializer,
        responses={201: SessionSerializer, **error_responses(400, 409, 422, 429)},
        examples=REGISTER_EXAMPLES,
    )
    @action(
        detail=False,
        methods=["post"],
        permission_classes=[permissions.AllowAny],
        throttle_classes=[CredentialsIPThrottle],
    )
    def register(self, request):
        data = validated(RegisterSerializer, request)
        issued = auth_services.rider_register(**data)
        return Response(SessionSerializer.from_issued(issued), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=LogInSerializer,
        responses={200: SessionSerializer, **error_responses(400, 401, 429)},
        examples=LOG_IN_EXAMPLES,
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="login",
        permission_classes=[permissions.AllowAny],
        throttle_classes=[CredentialsIPThrottle, CredentialsAccountThrottle],
    )
    def log_in(self, request):
        data = validated(LogInSerializer, request)
        issued = auth_services.rider_log_in(**data)
        return Response(SessionSerializer.from_issued(issued))

    @without_body(responses={204: None, **error_responses(401)})
    @action(detail=False, methods=["post"], url_path="logout")
    def log_out(self, request):
        auth_services.rider_log_out(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @without_body(responses={200: SignedOutSerializer, **error_responses(401)})
    @action(detail=False, methods=["post"], url_path="logout-all")
    def log_out_everywhere(self, request):
        count = auth_services.rider_log_out_everywhere(rider=request.user)
        return Response({"signed_out_devices": count})


class RiderViewSet(ConvoyViewSet):
    """The rider's own account, and other riders' public profiles."""

    lookup_value_regex = "[^/]+"
    queryset = Rider.objects.none()  # tells the schema generator the model; never queried

    @extend_schema(
        parameters=[RIDER_ID],
        responses={200: PublicRiderSerializer, **error_responses(400, 401, 404)},
    )
    def retrieve(self, request, pk=None):
        return Response(PublicRiderSerializer(rider_get(rider_id=pk)).data)

    @extend_schema(
        responses={200: PublicRiderSerializer, **error_responses(401, 404)},
        operation_id="riders_by_username",
    )
    @action(detail=False, methods=["get"], url_path=r"by-username/(?P<username>[^/]+)")
    def by_username(self, request, username=None):
        return Response(PublicRiderSerializer(rider_get_by_username(username=username)).data)

    @extend_schema(methods=["GET"], responses={200: PrivateRiderSerializer, **error_responses(401)})
    @extend_schema(
        methods=["PATCH"],
        request=ProfileUpdateSerializer,
        responses={200: PrivateRiderSerializer, **error_responses(400, 401, 409, 422)},
    )
    @action(detail=False, methods=["get", "patch"])
    def me(self, request):
        if request.method == "PATCH":
            data = validated(ProfileUpdateSerializer, request)
            rider_update(rider=request.user, **data)
        return Response(PrivateRiderSerializer(request.user).data)

    @extend_schema(
        request=PasswordChangeSerializer,
        responses={200: SignedOutSerializer, **error_responses(400, 401, 422, 429)},
    )
    @action(detail=False, methods=["post"], url_path="me/password")
    def change_password(self, request):
        data = validated(PasswordChangeSerializer, request)
        signed_out = auth_services.rider_change_password_from_device(
            rider=request.user, token=request.auth, **data
        )
        return Response({"signed_out_devices": signed_out})

    @extend_schema(responses={200: MembershipSerializer(many=True), **error_responses(400, 401)})
    @action(detail=False, methods=["get"], url_path="me/rooms")
    def my_rooms(self, request):
        page = self.paginate_queryset(rider_memberships(rider=request.user))
        return self.get_paginated_response(MembershipSerializer(page, many=True).data)
