from rest_framework import serializers

from config.api.serializers import StrictSerializer
from riders.models import Rider

# Generous bounds on raw input: the services apply the real rules (and answer 422);
# these only stop absurd payloads at the door (and answer 400).
_TEXT = {"max_length": 1000, "trim_whitespace": False, "allow_blank": True}


class PublicRiderSerializer(serializers.ModelSerializer):
    """What any rider may see of another: never an email or anything about passwords."""

    class Meta:
        model = Rider
        fields = ["id", "username", "display_name"]
        read_only_fields = fields


class PrivateRiderSerializer(serializers.ModelSerializer):
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


class RegisterSerializer(StrictSerializer):
    username = serializers.CharField(**_TEXT)
    email = serializers.CharField(**_TEXT)
    password = serializers.CharField(**_TEXT)
    display_name = serializers.CharField(required=False, **_TEXT)
    device_name = serializers.CharField(required=False, **_TEXT)


class LogInSerializer(StrictSerializer):
    username = serializers.CharField(help_text="Username or email.", **_TEXT)
    password = serializers.CharField(**_TEXT)
    device_name = serializers.CharField(required=False, **_TEXT)


class ProfileUpdateSerializer(StrictSerializer):
    username = serializers.CharField(required=False, **_TEXT)
    email = serializers.CharField(required=False, **_TEXT)
    display_name = serializers.CharField(required=False, **_TEXT)


class PasswordChangeSerializer(StrictSerializer):
    current_password = serializers.CharField(**_TEXT)
    new_password = serializers.CharField(**_TEXT)


class SignedOutSerializer(serializers.Serializer):
    signed_out_devices = serializers.IntegerField()
