from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api.views import ConvoyViewSet, error_responses, validated, without_body
from riders import auth_services
from riders.api.openapi import DEVICE_ID, LOG_IN_EXAMPLES, REGISTER_EXAMPLES, RIDER_ID
from riders.api.serializers import (
    DeviceSerializer,
    EmailVerifySerializer,
    LogInSerializer,
    MailReceiptSerializer,
    PasswordChangeSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetRequestedSerializer,
    PasswordResetRequestSerializer,
    PrivateRiderSerializer,
    ProfileUpdatedSerializer,
    ProfileUpdateSerializer,
    PublicRiderSerializer,
    RegisterSerializer,
    RegistrationSerializer,
    SessionSerializer,
    SignedOutSerializer,
    VerifiedEmailSerializer,
)
from riders.api.throttles import CredentialsAccountThrottle, CredentialsIPThrottle
from riders.email_verification import email_verification_resend, email_verify
from riders.models import AuthToken, Rider
from riders.password_reset import (
    RESET_REQUESTED_ANSWER,
    password_reset_complete,
    password_reset_request,
)
from riders.selectors import rider_devices, rider_get, rider_get_by_username
from rooms.api.serializers import MembershipSerializer
from rooms.selectors import rider_memberships


class AuthViewSet(ConvoyViewSet):
    """Register, log in and out. Each phone or tablet holds its own token."""

    @extend_schema(
        request=RegisterSerializer,
        responses={201: RegistrationSerializer, **error_responses(400, 409, 422, 429)},
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
        registration = auth_services.rider_register(**data)
        return Response(
            RegistrationSerializer.from_registration(registration), status=status.HTTP_201_CREATED
        )

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

    @extend_schema(
        request=PasswordResetRequestSerializer,
        responses={202: PasswordResetRequestedSerializer, **error_responses(400, 429)},
        description="Mail a link to reset the password to the account's address, if the "
        "username or email names an active account whose address is confirmed. The answer "
        "is the same whether or not one does.",
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="password-reset",
        permission_classes=[permissions.AllowAny],
        throttle_classes=[CredentialsIPThrottle, CredentialsAccountThrottle],
    )
    def password_reset(self, request):
        data = validated(PasswordResetRequestSerializer, request)
        password_reset_request(identifier=data["username"])
        return Response({"message": RESET_REQUESTED_ANSWER}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=PasswordResetConfirmSerializer,
        responses={200: SignedOutSerializer, **error_responses(400, 410, 422, 429)},
        description="Set a new password with the token of a reset link; every device of the "
        "account is signed out. 400 token_invalid for a token Convoy did not send; 410 "
        "token_expired, token_used or token_superseded for a spent one; 422 weak_password "
        "leaves the link usable.",
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="password-reset/confirm",
        permission_classes=[permissions.AllowAny],
        throttle_classes=[CredentialsIPThrottle],
    )
    def password_reset_confirm(self, request):
        data = validated(PasswordResetConfirmSerializer, request)
        signed_out = password_reset_complete(key=data["token"], new_password=data["new_password"])
        return Response({"signed_out_devices": signed_out})

    @extend_schema(
        request=EmailVerifySerializer,
        responses={200: VerifiedEmailSerializer, **error_responses(400, 410, 429)},
        description="Confirm an email address with the token of its confirmation link. 400 "
        "token_invalid for a token Convoy did not send; 410 token_expired, token_used or "
        "token_superseded (a newer link was sent, or the address changed) for a spent one.",
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="verify-email",
        permission_classes=[permissions.AllowAny],
        throttle_classes=[CredentialsIPThrottle],
    )
    def verify_email(self, request):
        data = validated(EmailVerifySerializer, request)
        rider = email_verify(key=data["token"])
        return Response({"email": rider.email, "email_verified": rider.email_verified})

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
        responses={200: ProfileUpdatedSerializer, **error_responses(400, 401, 409, 422, 429)},
        description="Change the profile. A new email address is unconfirmed until the link "
        "mailed to it is opened; 429 when the account has had too many confirmation mails.",
    )
    @action(detail=False, methods=["get", "patch"])
    def me(self, request):
        if request.method == "PATCH":
            data = validated(ProfileUpdateSerializer, request)
            change = auth_services.rider_update_profile(rider=request.user, **data)
            return Response(ProfileUpdatedSerializer.from_change(change))
        return Response(PrivateRiderSerializer(request.user).data)

    @without_body(
        responses={202: MailReceiptSerializer, **error_responses(401, 409, 429)},
        description="Mail a new link confirming the rider's address; earlier links stop "
        "working. 409 email_already_verified when it is confirmed; 429 past "
        "THROTTLE_VERIFICATION_MAIL_RATE.",
    )
    @action(detail=False, methods=["post"], url_path="me/email-verification")
    def resend_verification(self, request):
        receipt = email_verification_resend(rider=request.user)
        return Response(MailReceiptSerializer.of(receipt), status=status.HTTP_202_ACCEPTED)

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


class DeviceViewSet(ConvoyViewSet):
    """The devices signed in to the rider's account (one API token each)."""

    lookup_url_kwarg = "device_id"
    lookup_value_regex = "[^/]+"
    queryset = AuthToken.objects.none()  # tells the schema generator the model; never queried

    @extend_schema(responses={200: DeviceSerializer(many=True), **error_responses(400, 401)})
    def list(self, request):
        page = self.paginate_queryset(rider_devices(rider=request.user))
        serializer = DeviceSerializer(
            page, many=True, context={"current_token_id": request.auth.pk}
        )
        return self.get_paginated_response(serializer.data)

    @without_body(
        parameters=[DEVICE_ID],
        responses={204: None, **error_responses(400, 401, 404)},
        description="Sign the device out: its token stops working at once. The device asking "
        "may sign itself out. 404 for an id that is not one of the rider's devices.",
    )
    def destroy(self, request, device_id=None):
        auth_services.rider_sign_out_device(rider=request.user, device_id=device_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
