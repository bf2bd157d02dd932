"""What the rooms API's schema says beyond its serializers: path parameters and examples."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter

from rooms.models import ROOM_CODE_ALPHABET, ROOM_CODE_LENGTH

ROOM_CODE = OpenApiParameter(
    "code",
    str,
    OpenApiParameter.PATH,
    pattern=f"^[{ROOM_CODE_ALPHABET}]{{{ROOM_CODE_LENGTH}}}$",
    description=(
        f"The ride's code: {ROOM_CODE_LENGTH} letters and digits, without 0, O, 1 or I. "
        "Lower case and spaces are accepted too."
    ),
)
RIDER_ID = OpenApiParameter(
    "rider_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The rider's id."
)

ROOM_CREATE_EXAMPLES = [
    OpenApiExample(
        "Sunday ride",
        value={"name": "Sunday ride to the coast", "max_participants": 12},
        request_only=True,
    ),
    OpenApiExample("Default capacity", value={"name": "Evening loop"}, request_only=True),
]
