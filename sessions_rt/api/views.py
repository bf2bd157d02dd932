from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.serializers import ErrorSerializer
from config.api.views import ConvoyViewSet, error_responses
from rooms.api.openapi import ROOM_CODE
from rooms.api.permissions import IsMemberOfOngoingRide
from sessions_rt.api.serializers import LiveRoomSerializer
from sessions_rt.asyncapi import asyncapi_document
from sessions_rt.selectors import live_room_snapshot


class LivePresenceViewSet(ConvoyViewSet):
    """Who is online in a ride right now, read from the live state (Redis)."""

    @extend_schema(
        parameters=[ROOM_CODE],
        responses={
            200: LiveRoomSerializer,
            **error_responses(400, 401, 403, 404),
            422: OpenApiResponse(
                ErrorSerializer, description="room_inactive: the ride has ended (to anyone)."
            ),
            503: OpenApiResponse(ErrorSerializer, description="Live state unavailable."),
        },
    )
    @action(
        detail=False,
        methods=["get"],
        url_path=r"(?P<code>[^/]+)/presence",
        permission_classes=[*ConvoyViewSet.permission_classes, IsMemberOfOngoingRide],
    )
    def presence(self, request, code=None):
        return Response(live_room_snapshot(room=self.room))


@extend_schema(exclude=True)
class AsyncApiView(APIView):
    """The ride socket's AsyncAPI 3.0 document, beside the OpenAPI schema and, like it, open
    to anyone: it names this host, and wss when the request came over TLS."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response(asyncapi_document(host=request.get_host(), secure=request.is_secure()))
