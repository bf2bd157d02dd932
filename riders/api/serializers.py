import re
from typing import Any

from django.contrib.auth.password_validation import password_validators_help_texts
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.serializers import ReadModelSerializer, StrictSerializer
from riders.email_tokens import KEY_PATTERN
from riders.models import (
    APP_VERSION_MAX_LENGTH,
    CONTACT_NAME_MAX_LENGTH,
    DISPLAY_NAME_MAX_LENGTH,
    USERNAME_MAX_LENGTH,
    AuthToken,
    EmergencyContact,
    Rider,
)
from riders.validation import APP_VERSION_PATTERN, EMAIL_MAX_LENGTH, USERNAME_MIN_LENGTH

# Generous bounds on raw input: the services apply the real rules (and answer 422);
# these only stop absurd payloads at the door (and answer 400).
_TEXT: dict[str, Any] = {"max_length": 1000, "trim_whitespace": False, "allow_blank": True}


class PublicRiderSerializer(ReadModelSerializer):
    """What any rider may see of another: never an email or anything about passwords."""

    class Meta:
        model = Rider
        fields = ["id", "username", "display_name"]
        read_only_fields = fields


_SHARE_BATTERY_RULE = (
    "Whether the riders of the rider's ride see their phone's battery charge. When false it "
    "is never kept in the live state: events, snapshots and presence show null. A change "
    "applies at once to the ride the rider is connected to."
)
_SHARE_NETWORK_RULE = (
    "Whether the riders of the rider's ride see their phone's network type (wifi, "
    "cellular...). When false it is never kept in the live state: events, snapshots and "
    "presence show null. A change applies at once to the ride the rider is connected to."
)


class PrivateRiderSerializer(ReadModelSerializer):
    email_verified = serializers.BooleanField(
        read_only=True,
        help_text="Whether the rider opened the confirmation link mailed to this address. "
        "Until then no password reset is mailed to it.",
    )

    class Meta:
        model = Rider
        fields = [
            "id",
            "username",
            "email",
            "email_verified",
            "display_name",
            "share_battery",
            "share_network",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "share_battery": {"help_text": _SHARE_BATTERY_RULE},
            "share_network": {"help_text": _SHARE_NETWORK_RULE},
        }


class MailReceiptSerializer(serializers.Serializer):
    """What became of a mail Convoy sent the rider: handed to the mail server, or queued
    (the server did not take it yet, and Convoy keeps trying), or refused for good."""

    status = serializers.ChoiceField(
        choices=["sent", "queued", "failed"],
        help_text="sent: the mail server took it. queued: not yet; Convoy tries again at "
        "next_attempt_at and later. failed: the mail server refused the address.",
    )
    next_attempt_at = serializers.DateTimeField(
        allow_null=True, help_text="When a queued mail is tried next, if known."
    )

    @staticmethod
    def of(receipt) -> dict:
        return {"status": receipt.status, "next_attempt_at": receipt.next_attempt_at}


class TokenSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Send as 'Authorization: Bearer <key>'. Shown once.")
    device_name = serializers.CharField()
    expires_at = serializers.DateTimeField()


class SessionSerializer(serializers.Serializer):
    rider = PrivateRiderSerializer()
    token = TokenSerializer()

    @staticmethod
    def from_issued(issued) -> dict:
        return {
            "rider": PrivateRiderSerializer(issued.token.user).data,
            "token": {
                "key": issued.key,
                "device_name": issued.token.device_name,
                "expires_at": issued.token.expires_at,
            },
        }


class RegistrationSerializer(SessionSerializer):
    verification_mail = MailReceiptSerializer(
        help_text="The mail with the link that confirms the address."
    )

    @staticmethod
    def from_registration(registration) -> dict:
        return {
            **SessionSerializer.from_issued(registration.issued),
            "verification_mail": MailReceiptSerializer.of(registration.verification_mail),
        }


class ProfileUpdatedSerializer(PrivateRiderSerializer):
    """The rider's own profile after a change, and the confirmation mail a new address got."""

    verification_mail = MailReceiptSerializer(
        allow_null=True,
        read_only=True,
        help_text="The confirmation mail to a new address; null when the address did not change.",
    )

    class Meta(PrivateRiderSerializer.Meta):
        fields = [*PrivateRiderSerializer.Meta.fields, "verification_mail"]
        read_only_fields = fields

    @staticmethod
    def from_change(change) -> dict:
        receipt = change.verification_mail
        return {
            **PrivateRiderSerializer(change.rider).data,
            "verification_mail": MailReceiptSerializer.of(receipt) if receipt else None,
        }


# The rules the services apply (422 when broken), for the schema's readers.
_USERNAME_RULE = (
    f"{USERNAME_MIN_LENGTH} to {USERNAME_MAX_LENGTH} characters: Latin letters, digits, "
    "'.', '-' and '_', starting and ending with a letter or digit. Case-insensitively unique."
)
_EMAIL_RULE = f"A valid address of at most {EMAIL_MAX_LENGTH} characters. Unique."
_PASSWORD_RULE = " ".join(password_validators_help_texts())
_DISPLAY_NAME_RULE = f"At most {DISPLAY_NAME_MAX_LENGTH} characters once spaces are collapsed."
_DEVICE_NAME_RULE = "Names this device's token, e.g. in a list of signed-in devices."
_APP_VERSION_RULE = (
    f"The app's version, shown in the list of signed-in devices: at most "
    f"{APP_VERSION_MAX_LENGTH} letters, digits and '.', '+', '_', '-', starting and ending "
    "with a letter or digit, e.g. 2.4.1 or 2.5.0-beta.2."
)


@extend_schema_field(
    {"type": "string", "maxLength": DISPLAY_NAME_MAX_LENGTH, "description": _DISPLAY_NAME_RULE}
)
class DisplayNameField(serializers.CharField):
    """Up to 1000 characters get past the door; the service collapses spaces and applies the
    limit (422), which the schema states."""


@extend_schema_field(
    {
        "type": "string",
        "maxLength": APP_VERSION_MAX_LENGTH,
        "pattern": f"^{APP_VERSION_PATTERN}$",
        "description": _APP_VERSION_RULE,
    }
)
class AppVersionField(serializers.CharField):
    """The whole value must match: a regex search would let "2.4.1\n" through."""

    _pattern = re.compile(APP_VERSION_PATTERN)

    def __init__(self, **kwargs):
        super().__init__(max_length=APP_VERSION_MAX_LENGTH, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not self._pattern.fullmatch(value):
            raise serializers.ValidationError(_APP_VERSION_RULE)
        return value


@extend_schema_field(
    {
        "type": "string",
        "pattern": f"^{KEY_PATTERN}$",
        "description": "The token of the mailed link (its ?token= value).",
    }
)
class MailedTokenField(serializers.CharField):
    """A link's token as the schema states it; whether Convoy issued it is the service's
    to say (400 token_invalid, 410 when spent)."""

    _pattern = re.compile(KEY_PATTERN)

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not self._pattern.fullmatch(value):
            raise serializers.ValidationError("Not a token Convoy sends.")
        return value


class RegisterSerializer(StrictSerializer):
    username = serializers.CharField(help_text=_USERNAME_RULE, **_TEXT)
    email = serializers.CharField(help_text=_EMAIL_RULE, **_TEXT)
    password = serializers.CharField(help_text=_PASSWORD_RULE, **_TEXT)
    display_name = DisplayNameField(required=False, help_text=_DISPLAY_NAME_RULE, **_TEXT)
    device_name = serializers.CharField(required=False, help_text=_DEVICE_NAME_RULE, **_TEXT)
    app_version = AppVersionField(required=False)


class LogInSerializer(StrictSerializer):
    username = serializers.CharField(help_text="Username or email.", **_TEXT)
    password = serializers.CharField(**_TEXT)
    device_name = serializers.CharField(required=False, help_text=_DEVICE_NAME_RULE, **_TEXT)
    app_version = AppVersionField(required=False)


class ProfileUpdateSerializer(StrictSerializer):
    username = serializers.CharField(required=False, help_text=_USERNAME_RULE, **_TEXT)
    email = serializers.CharField(required=False, help_text=_EMAIL_RULE, **_TEXT)
    display_name = DisplayNameField(required=False, help_text=_DISPLAY_NAME_RULE, **_TEXT)
    share_battery = serializers.BooleanField(required=False, help_text=_SHARE_BATTERY_RULE)
    share_network = serializers.BooleanField(required=False, help_text=_SHARE_NETWORK_RULE)


class PasswordChangeSerializer(StrictSerializer):
    current_password = serializers.CharField(**_TEXT)
    new_password = serializers.CharField(help_text=_PASSWORD_RULE, **_TEXT)


class SignedOutSerializer(serializers.Serializer):
    signed_out_devices = serializers.IntegerField()


class EmailVerifySerializer(StrictSerializer):
    token = MailedTokenField()


class VerifiedEmailSerializer(serializers.Serializer):
    email = serializers.EmailField(help_text="The address now confirmed.")
    email_verified = serializers.BooleanField()


class PasswordResetRequestSerializer(StrictSerializer):
    username = serializers.CharField(help_text="Username or email of the account.", **_TEXT)


class PasswordResetRequestedSerializer(serializers.Serializer):
    message = serializers.CharField(
        help_text="The same whether or not an account matched, so accounts can't be probed."
    )


class PasswordResetConfirmSerializer(StrictSerializer):
    token = MailedTokenField()
    new_password = serializers.CharField(help_text=_PASSWORD_RULE, **_TEXT)


class DeviceSerializer(ReadModelSerializer):
    """A device signed in to the account: one API token, never the token itself."""

    current = serializers.SerializerMethodField(
        help_text="Whether this is the device asking (signing it out logs this device out)."
    )

    class Meta:
        model = AuthToken
        fields = [
            "id",
            "device_name",
            "app_version",
            "created_at",
            "last_used_at",
            "expires_at",
            "current",
        ]
        read_only_fields = fields

    def get_current(self, token: AuthToken) -> bool:
        return token.pk == self.context["current_token_id"]


class EmergencyContactSerializer(ReadModelSerializer):
    """Someone told when the rider may be in trouble in a ride and nobody there answers."""

    phone = serializers.SerializerMethodField(
        help_text="E.164, such as +41791234567, or null: none."
    )
    email = serializers.SerializerMethodField(help_text="The address, or null: none.")

    class Meta:
        model = EmergencyContact
        fields = ["id", "name", "phone", "email", "consent_recorded_at", "created_at", "updated_at"]
        read_only_fields = fields

    def get_phone(self, contact: EmergencyContact) -> str | None:
        return contact.phone or None

    def get_email(self, contact: EmergencyContact) -> str | None:
        return contact.email or None


_CONTACT_PHONE_HELP = (
    "An international number with its country code (+41 79 123 45 67 or +41791234567), valid "
    "in its country's numbering plan (422 otherwise); stored as E.164. A phone, an email or "
    "both."
)
_CONTACT_CONSENT_HELP = (
    "true: this person agreed to be told when you may be in trouble; the time is recorded. "
    "Anything else is 422."
)


class EmergencyContactCreateSerializer(StrictSerializer):
    name = serializers.CharField(
        trim_whitespace=False, help_text=f"1 to {CONTACT_NAME_MAX_LENGTH} characters."
    )
    phone = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text=_CONTACT_PHONE_HELP
    )
    email = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text="An email address."
    )
    consent = serializers.BooleanField(help_text=_CONTACT_CONSENT_HELP)


class EmergencyContactUpdateSerializer(StrictSerializer):
    name = serializers.CharField(
        required=False,
        trim_whitespace=False,
        help_text=f"1 to {CONTACT_NAME_MAX_LENGTH} characters.",
    )
    phone = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text=f"{_CONTACT_PHONE_HELP} null or empty removes it.",
    )
    email = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="An email address; null or empty removes it.",
    )
    consent = serializers.BooleanField(
        required=False,
        help_text=f"Required with a new phone or email. {_CONTACT_CONSENT_HELP}",
    )
