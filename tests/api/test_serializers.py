"""Output serializers read their model's metadata once per class, not once per instance."""

from unittest import mock

import pytest
from rest_framework import serializers

from rooms.api.serializers import ParticipantSerializer, RoomSerializer
from tests.riders.factories import RiderFactory
from tests.rooms.factories import RoomFactory, RoomParticipantFactory

pytestmark = pytest.mark.django_db


def test_fields_are_built_from_the_model_once_and_copied_for_each_serializer():
    rider = RiderFactory()
    room = RoomFactory(creator=rider)
    participant = RoomParticipantFactory(room=room, user=rider)
    room.active_participants = 1
    expected_room = RoomSerializer(room).data
    expected_participant = ParticipantSerializer(participant).data

    with mock.patch.object(
        serializers.ModelSerializer, "get_fields", side_effect=AssertionError("introspected")
    ):
        first, second = RoomSerializer(room), RoomSerializer(room)
        assert first.data == second.data == expected_room
        assert ParticipantSerializer(participant).data == expected_participant
    # Each serializer binds fields of its own.
    assert first.fields["code"] is not second.fields["code"]
    assert first.fields["creator"].parent is first
    assert second.fields["creator"].parent is second
    assert expected_room["creator"] == {
        "id": str(rider.pk),
        "username": rider.username,
        "display_name": rider.display_name,
    }
