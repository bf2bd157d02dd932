from typing import Any

from django.contrib.auth.password_validation import password_validators_help_texts
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.serializers import ReadModelSerializer, StrictSerializer
from riders.models import DISPLAY_NAME_MAX_LENGTH, USERNAME_MAX_LENGTH, Rider
from riders.validation import EMAIL_MAX_LENGTH, USERNAME_MIN_LENGTH

# Generous bounds on raw input: the services apply the real rules (and answer 422);
# these only stop absurd payloads at the door (and answer 400).
_TEXT: dict[str, Any] = {"max_length": 1000, "trim_whitespace": False, "allow_blank": True}


class PublicRiderSerializer(ReadModelSerializer):
    """What any rider may see of another: never an email or anything about passwords."""

    class Meta:
        model = Rider
        fields = ["id", "username", "display_name"]
        read_only_fields = fields


class PrivateRiderSerializer(ReadModelSerializer):
    class Meta:
        model = Rider
        fields = ["id", "username", "email", "display_name", "created_at", "updated_at"]
        read_only_fields = fields


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


# The rules the services apply (422 when broken), for the schema's readers.
_USERNAME_RULE = (
    f"{USERNAME_MIN_LENGTH} to {USERNAME_MAX_LENGTH} characters: Latin letters, digits, "
    "'.', '-' and '_', starting and ending with a letter or digit. Case-insensitively unique."
)
_EMAIL_RULE = f"A valid address of at most {EMAIL_MAX_LENGTH} characters. Unique."
_PASSWORD_RULE = " ".join(password_validators_help_texts())
_DISPLAY_NAME_RULE = f"At most {DISPLAY_NAME_MAX_LENGTH} characters once spaces are collapsed."
_DEVICE_NAME_RULE = "Names this device's token, e.g. in a list of signed-in devices."


@extend_schema_field(
    {"type": "string", "maxLength": DISPLAY_NAME_MAX_LENGTH, "description": _DISPLAY_NAME_RULE}
)
class DisplayNameField(serializers.CharField):
    """Up to 1000 characters get past the door; the service collapses spaces and applies the
    limit (422), which the schema states."""


class RegisterSerializer(StrictSerializer):
    username = serializers.CharField(help_text=_USERNAME_RULE, **_TEXT)
    email = serializers.CharField(help_text=_EMAIL_RULE, **_TEXT)
    password = serializers.CharField(help_text=_PASSWORD_RULE, **_TEXT)
    display_name = DisplayNameField(required=False, help_text=_DISPLAY_NAME_RULE, **_TEXT)
    device_name = serializers.CharField(required=False, help_text=_DEVICE_NAME_RULE, **_TEXT)


class LogInSerializer(StrictSerializer):
    username = serializers.CharField(help_text="Username or email.", **_TEXT)
    password = serializers.CharField(**_TEXT)
    device_name = serializers.CharField(required=False, help_text=_DEVICE_NAME_RULE, **_TEXT)


class ProfileUpdateSerializer(StrictSerializer):
    username = serializers.CharField(required=False, help_text=_USERNAME_RULE, **_TEXT)
    email = serializers.CharField(required=False, help_text=_EMAIL_RULE, **_TEXT)
    display_name = DisplayNameField(required=False, help_text=_DISPLAY_NAME_RULE, **_TEXT)


class PasswordChangeSerializer(StrictSerializer):
    current_password = serializers.CharField(**_TEXT)
    new_password = serializers.CharField(help_text=_PASSWORD_RULE, **_TEXT)


class SignedOutSerializer(serializers.Serializer):
    signed_out_devices = serializers.IntegerField()
