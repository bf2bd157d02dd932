"""What the riders API's schema says beyond its serializers: path parameters and examples."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter

RIDER_ID = OpenApiParameter(
    "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The rider's id."
)
DEVICE_ID = OpenApiParameter(
    "device_id",
    OpenApiTypes.UUID,
    OpenApiParameter.PATH,
    description="The device's id, from the list of signed-in devices.",
)

REGISTER_EXAMPLES = [
    OpenApiExample(
        "New rider",
        value={
            "username": "ana.rides",
            "email": "ana@example.com",
            "password": "correct-horse-battery-staple",
            "display_name": "Ana",
            "device_name": "Ana's phone",
            "app_version": "2.4.1",
        },
        request_only=True,
    ),
]
LOG_IN_EXAMPLES = [
    OpenApiExample(
        "By username",
        value={
            "username": "ana.rides",
            "password": "correct-horse-battery-staple",
            "device_name": "Ana's phone",
        },
        request_only=True,
    ),
    OpenApiExample(
        "By email",
        value={"username": "ana@example.com", "password": "correct-horse-battery-staple"},
        request_only=True,
    ),
]
