"""GET /api/v1/rooms/{code}/presence/: the live state over REST, and its answer with Redis down."""

import pytest
from django.test import override_settings

from config.redis_config import cache_settings
from rooms.models import RoomParticipant
from rooms.services import participant_join, room_create, room_deactivate
from sessions_rt.store.members import member_join
from sessions_rt.store.presence import presence_update
from tests.api.assertions import api_error

pytestmark = pytest.mark.django_db

CLOSED_REDIS = cache_settings("redis://127.0.0.1:1/0", "convoy-test")


def presence_url(code: str) -> str:
    return f"/api/v1/rooms/{code}/presence/"


def test_a_member_sees_who_is_live(auth_client, rider, other_rider):
    room = room_create(creator=rider, name="Dolomites")
    participant_join(rider=other_rider, code=room.code)
    member_join(room.pk, rider.pk, leader_id=rider.pk)
    presence_update(room.pk, rider.pk, status="riding", battery_pct=80)

    response = auth_client(other_rider).get(presence_url(room.code))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["member_count"] == 1
    (member,) = body["members"]
    assert (member["rider_id"], member["role"], member["status"], member["battery_pct"]) == (
        str(rider.pk),
        "leader",
        "riding",
        80,
    )


def test_someone_outside_the_ride_is_refused(auth_client, rider, other_rider):
    room = room_create(creator=rider, name="Dolomites")

    api_error(auth_client(other_rider).get(presence_url(room.code)), 403, "not_room_member")


def test_presence_answers_503_while_redis_is_down(auth_client, rider):
    room = room_create(creator=rider, name="Dolomites")
    client = auth_client(rider)

    with override_settings(CACHES=CLOSED_REDIS):
        response = client.get(presence_url(room.code))

    error = api_error(response, 503, "realtime_unavailable")
    assert "try again" in error["message"]


def test_joining_a_ride_still_works_while_redis_is_down(
    auth_client, rider, other_rider, django_capture_on_commit_callbacks
):
    # Rate limiting fails open and the live-state notification is skipped with a warning:
    # PostgreSQL stays the source of truth and the phone rebuilds live state on reconnect.
    room = room_create(creator=rider, name="Dolomites")
    client = auth_client(other_rider)

    with (
        override_settings(CACHES=CLOSED_REDIS),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        joined = client.post(f"/api/v1/rooms/{room.code}/join/")
        left = client.post(f"/api/v1/rooms/{room.code}/leave/")

    assert len(callbacks) == 1  # the leave's live-state notification ran, and failed quietly
    assert (joined.status_code, left.status_code) == (200, 200), (joined.content, left.content)
    membership = RoomParticipant.objects.get(room=room, user=other_rider)
    assert membership.is_active is False
    assert membership.left_at is not None


def test_presence_of_an_ended_ride_is_422_room_inactive_to_riders_and_staff(
    auth_client, rider, other_rider, staff
):
    """An ended ride has no live state: saying so beats a 200 with nobody in it. Its former
    riders hear that it ended, not that they are outside it, as its socket closes 4011."""
    room = room_create(creator=rider, name="Dolomites")
    participant_join(rider=other_rider, code=room.code)
    room_deactivate(room=room, actor=rider)

    for viewer in (rider, other_rider, staff):
        error = api_error(auth_client(viewer).get(presence_url(room.code)), 422, "room_inactive")
        assert error["message"] == "This ride has ended."


def test_a_stranger_asking_for_an_ended_ride_hears_it_ended(auth_client, rider, other_rider):
    room = room_create(creator=rider, name="Dolomites")
    room_deactivate(room=room, actor=rider)

    api_error(auth_client(other_rider).get(presence_url(room.code)), 422, "room_inactive")


def test_the_openapi_schema_documents_the_ended_ride_answer(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    responses = schema["paths"]["/api/v1/rooms/{code}/presence/"]["get"]["responses"]
    assert "422" in responses
    assert "room_inactive" in responses["422"]["description"]
