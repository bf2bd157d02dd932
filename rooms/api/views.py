from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api.views import ConvoyViewSet, error_responses, validated, without_body
from riders.selectors import rider_get
from rooms import services
from rooms.api.filters import RoomFilter
from rooms.api.openapi import RIDER_ID, ROOM_CODE, ROOM_CREATE_EXAMPLES
from rooms.api.permissions import IsActiveRoomMember, IsRoomLeader
from rooms.api.serializers import (
    JoinResultSerializer,
    ParticipantSerializer,
    RemovedRiderSerializer,
    RoomCreateSerializer,
    RoomSerializer,
)
from rooms.selectors import (
    room_active_participants,
    room_get_by_code,
    room_get_detail,
    room_list_visible,
    room_removed_participants,
)
from telemetry.api.serializers import StatsQuerySerializer, StatsSerializer
from telemetry.api.views import stats_payload


class RoomViewSet(ConvoyViewSet):
    """Rides: open one, find it by code, join, leave, rejoin, end it, see who is in it, remove
    a rider and let them back."""

    lookup_field = "code"
    lookup_value_regex = "[^/]+"
    filter_backends = [DjangoFilterBackend]
    filterset_class = RoomFilter
    serializer_class = RoomSerializer

    def get_queryset(self):
        return room_list_visible()

    @extend_schema(responses={200: RoomSerializer(many=True), **error_responses(400, 401)})
    def list(self, request):
        rooms = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(rooms)
        return self.get_paginated_response(RoomSerializer(page, many=True).data)

    @extend_schema(
        request=RoomCreateSerializer,
        responses={201: RoomSerializer, **error_responses(400, 401, 422, 503)},
        examples=ROOM_CREATE_EXAMPLES,
    )
    def create(self, request):
        data = validated(RoomCreateSerializer, request)
        room = services.room_create(creator=request.user, **data)
        return Response(
            RoomSerializer(room_get_detail(code=room.code)).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        parameters=[ROOM_CODE], responses={200: RoomSerializer, **error_responses(400, 401, 404)}
    )
    def retrieve(self, request, code=None):
        return Response(RoomSerializer(room_get_detail(code=code)).data)

    @without_body(
        parameters=[ROOM_CODE],
        responses={200: JoinResultSerializer, **error_responses(400, 401, 403, 404, 409, 422)},
    )
    @action(detail=True, methods=["post"])
    def join(self, request, code=None):
        outcome = services.participant_join(rider=request.user, code=code)
        return Response(_join_result(outcome))

    @without_body(
        parameters=[ROOM_CODE],
        responses={200: JoinResultSerializer, **error_responses(400, 401, 403, 404, 409, 422)},
    )
    @action(detail=True, methods=["post"])
    def rejoin(self, request, code=None):
        outcome = services.participant_rejoin(rider=request.user, room=room_get_by_code(code=code))
        return Response(_join_result(outcome))

    @without_body(
        parameters=[ROOM_CODE],
        responses={200: ParticipantSerializer, **error_responses(400, 401, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def leave(self, request, code=None):
        participant = services.participant_leave(rider=request.user, code=code)
        return Response(ParticipantSerializer(participant).data)

    @without_body(
        parameters=[ROOM_CODE],
        responses={200: RoomSerializer, **error_responses(400, 401, 403, 404, 422)},
    )
    @action(detail=True, methods=["post"])
    def deactivate(self, request, code=None):
        room = services.room_deactivate(room=room_get_by_code(code=code), actor=request.user)
        return Response(RoomSerializer(room_get_detail(code=room.code)).data)

    @extend_schema(
        parameters=[ROOM_CODE],
        filters=False,
        responses={200: ParticipantSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    @action(
        detail=True,
        methods=["get"],
        permission_classes=[*ConvoyViewSet.permission_classes, IsActiveRoomMember],
    )
    def participants(self, request, code=None):
        page = self.paginate_queryset(room_active_participants(room=self.room))
        return self.get_paginated_response(ParticipantSerializer(page, many=True).data)

    @without_body(
        parameters=[ROOM_CODE, RIDER_ID],
        responses={204: None, **error_responses(400, 401, 403, 404, 409)},
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"participants/(?P<rider_id>[^/]+)",
        url_name="remove-participant",
    )
    def remove_participant(self, request, code=None, rider_id=None):
        services.participant_remove(
            room=room_get_by_code(code=code),
            rider=rider_get(rider_id=rider_id),
            actor=request.user,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @without_body(
        parameters=[ROOM_CODE, RIDER_ID],
        responses={204: None, **error_responses(400, 401, 403, 404, 409)},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"participants/(?P<rider_id>[^/]+)/readmit",
        url_name="readmit-participant",
    )
    def readmit_participant(self, request, code=None, rider_id=None):
        services.participant_readmit(
            room=room_get_by_code(code=code),
            rider=rider_get(rider_id=rider_id),
            actor=request.user,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[ROOM_CODE],
        filters=False,
        responses={200: RemovedRiderSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    @action(
        detail=True,
        methods=["get"],
        permission_classes=[*ConvoyViewSet.permission_classes, IsRoomLeader],
    )
    def removed(self, request, code=None):
        page = self.paginate_queryset(room_removed_participants(room=self.room))
        return self.get_paginated_response(RemovedRiderSerializer(page, many=True).data)

    @extend_schema(
        parameters=[ROOM_CODE, StatsQuerySerializer],
        responses={200: StatsSerializer, **error_responses(400, 401, 403, 404, 422)},
    )
    @action(
        detail=True,
        methods=["get"],
        permission_classes=[*ConvoyViewSet.permission_classes, IsActiveRoomMember],
    )
    def stats(self, request, code=None):
        return Response(stats_payload(request, room=self.room))


def _join_result(outcome: services.JoinOutcome) -> dict:
    """The service's participant carries its rider and its room, and the room its creator and
    live count: serialising them reads nothing more."""
    return {
        "participant": ParticipantSerializer(outcome.participant).data,
        "room": RoomSerializer(outcome.participant.room).data,
        "left_room_code": outcome.left_room.code if outcome.left_room else None,
    }
