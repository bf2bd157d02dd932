"""The rider's own account, password, rooms, and other riders' public profiles."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from riders.models import AuthToken, Rider
from tests.api.assertions import api_error
from tests.riders.factories import TEST_PASSWORD, RiderFactory
from tests.rooms.factories import RoomFactory, RoomParticipantFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/riders/me/"
PASSWORD = "/api/v1/riders/me/password/"
MY_ROOMS = "/api/v1/riders/me/rooms/"
NEW_PASSWORD = "twisty-Pass-2027"
PUBLIC_FIELDS = {"id", "username", "display_name"}
SQL = "'; DROP TABLE riders_rider; --"


def _profile(rider_id) -> str:
    return f"/api/v1/riders/{rider_id}/"


def _by_username(username: str) -> str:
    return f"/api/v1/riders/by-username/{username}/"


# --- Own profile ----------------------------------------------------------------------------


def test_me_shows_the_private_profile(auth_client, rider):
    response = auth_client(rider).get(ME)

    assert response.status_code == 200
    assert response.json() == {
        "id": str(rider.pk),
        "username": rider.username,
        "email": rider.email,
        "email_verified": False,
        "display_name": rider.display_name,
        "share_battery": True,
        "share_network": True,
        "created_at": response.json()["created_at"],
        "updated_at": response.json()["updated_at"],
    }


def test_me_needs_a_token(api_client):
    api_error(api_client.get(ME), 401, "not_authenticated")


def test_patch_me_changes_only_what_is_given(auth_client, rider):
    response = auth_client(rider).patch(
        ME, {"display_name": "  Night   Owl  ", "email": "owl@Example.COM"}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["display_name"] == "Night Owl"
    assert body["email"] == "owl@example.com"
    assert body["username"] == rider.username
    stored = Rider.objects.get(pk=rider.pk)
    assert (stored.display_name, stored.email, stored.username) == (
        "Night Owl",
        "owl@example.com",
        rider.username,
    )


def test_patch_me_may_change_the_case_of_the_own_username(auth_client):
    rider = RiderFactory(username="nightowl")

    response = auth_client(rider).patch(ME, {"username": "NightOwl"}, format="json")

    assert response.status_code == 200, response.content
    assert Rider.objects.get(pk=rider.pk).username == "NightOwl"


def test_patch_me_with_empty_object_changes_nothing(auth_client, rider):
    response = auth_client(rider).patch(ME, {}, format="json")

    assert response.status_code == 200
    assert response.json()["username"] == rider.username


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "no spaces"}, "username"),
        ({"username": "\u0430lpine"}, "username"),
        ({"email": "nope"}, "email"),
        ({"display_name": "x" * 65}, "display_name"),
        ({"display_name": "Night" + " " * 60 + "Owl"}, "display_name"),
        ({"display_name": "zero\u200bwidth"}, "display_name"),
    ],
)
def test_patch_me_breaking_a_rule_is_422(auth_client, rider, payload, field):
    response = auth_client(rider).patch(ME, payload, format="json")

    error = api_error(response, 422, "invalid_rider")
    assert field in error["fields"]
    assert Rider.objects.get(pk=rider.pk).username == rider.username


def test_patch_me_to_a_taken_username_is_409(auth_client, rider):
    RiderFactory(username="taken_name")

    response = auth_client(rider).patch(ME, {"username": "TAKEN_name"}, format="json")

    api_error(response, 409, "username_taken")


def test_patch_me_to_a_taken_email_is_409(auth_client, rider, other_rider):
    response = auth_client(rider).patch(ME, {"email": other_rider.email.upper()}, format="json")

    api_error(response, 409, "email_taken")


@pytest.mark.parametrize(
    "payload",
    [{"is_staff": True}, {"password": "x"}, {"nickname": "owl"}, {"display_name": ["x"]}],
)
def test_patch_me_unknown_field_or_wrong_type_is_400(auth_client, rider, payload):
    response = auth_client(rider).patch(ME, payload, format="json")

    error = api_error(response, 400, "invalid_request")
    assert set(payload) <= set(error["fields"])
    assert Rider.objects.get(pk=rider.pk).is_staff is False


def test_patch_me_with_sql_text(auth_client, rider):
    client = auth_client(rider)

    api_error(client.patch(ME, {"username": SQL}, format="json"), 422, "invalid_rider")
    api_error(client.patch(ME, {"email": SQL}, format="json"), 422, "invalid_rider")
    response = client.patch(ME, {"display_name": SQL}, format="json")

    assert response.status_code == 200
    assert response.json()["display_name"] == SQL
    assert Rider.objects.get(pk=rider.pk).display_name == SQL
    assert client.get(_by_username(SQL)).status_code == 404
    assert Rider.objects.count() == 1


def test_put_me_is_not_allowed(auth_client, rider):
    api_error(
        auth_client(rider).put(ME, {"display_name": "x"}, format="json"),
        405,
        "method_not_allowed",
    )


# --- Password -------------------------------------------------------------------------------


def test_change_password_with_wrong_current_password_is_422(auth_client, rider):
    response = auth_client(rider).post(
        PASSWORD, {"current_password": "guess", "new_password": NEW_PASSWORD}, format="json"
    )

    api_error(response, 422, "wrong_password")
    assert Rider.objects.get(pk=rider.pk).check_password(TEST_PASSWORD)


def test_change_password_to_a_weak_one_is_422(auth_client, rider):
    response = auth_client(rider).post(
        PASSWORD, {"current_password": TEST_PASSWORD, "new_password": "12345678"}, format="json"
    )

    error = api_error(response, 422, "weak_password")
    assert "new_password" in error["fields"]


def test_change_password_signs_out_other_devices_only(auth_client, rider, other_rider):
    phone = auth_client(rider, device_name="phone")
    tablet = auth_client(rider, device_name="tablet")
    laptop = auth_client(rider, device_name="laptop")
    stranger = auth_client(other_rider)

    response = phone.post(
        PASSWORD, {"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"signed_out_devices": 2}
    assert phone.get(ME).status_code == 200
    api_error(tablet.get(ME), 401, "authentication_failed")
    api_error(laptop.get(ME), 401, "authentication_failed")
    assert stranger.get(ME).status_code == 200
    assert list(AuthToken.objects.filter(user=rider).values_list("device_name", flat=True)) == [
        "phone"
    ]
    login = APIClient().post(
        "/api/v1/auth/login/",
        {"username": rider.username, "password": NEW_PASSWORD},
        format="json",
    )
    assert login.status_code == 200


def test_change_password_missing_field_is_400(auth_client, rider):
    response = auth_client(rider).post(PASSWORD, {"new_password": NEW_PASSWORD}, format="json")

    error = api_error(response, 400, "invalid_request")
    assert "current_password" in error["fields"]


# --- Own rooms ------------------------------------------------------------------------------


def test_my_rooms_lists_own_memberships_newest_first(auth_client, rider, other_rider):
    now = timezone.now()
    old_room, new_room = RoomFactory(name="Old ride"), RoomFactory(name="New ride")
    RoomParticipantFactory(
        room=old_room,
        user=rider,
        joined_at=now - timedelta(days=2),
        is_active=False,
        left_at=now - timedelta(days=1),
    )
    RoomParticipantFactory(room=new_room, user=rider, joined_at=now)
    RoomParticipantFactory(room=RoomFactory(name="Not mine"), user=other_rider)

    response = auth_client(rider).get(MY_ROOMS)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [item["room"]["code"] for item in body["results"]] == [new_room.code, old_room.code]
    assert [item["is_active"] for item in body["results"]] == [True, False]
    assert set(body["results"][0]["room"]) == {
        "id",
        "code",
        "name",
        "is_active",
        "max_participants",
    }


def test_my_rooms_pages(auth_client, rider):
    for _ in range(3):
        RoomParticipantFactory(user=rider, is_active=False, left_at=timezone.now())

    body = auth_client(rider).get(MY_ROOMS, {"page_size": 2}).json()

    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"] is not None


@pytest.mark.parametrize("page_size", ["0", "201", "-1", "ten", "1.5"])
def test_my_rooms_page_size_out_of_range_is_400(auth_client, rider, page_size):
    response = auth_client(rider).get(MY_ROOMS, {"page_size": page_size})

    error = api_error(response, 400, "invalid_request")
    assert "page_size" in error["fields"]


@pytest.mark.parametrize("page", ["0", "-1", "two", "2"])
def test_my_rooms_malformed_or_past_the_end_page_is_400(auth_client, rider, page):
    # A bad page used to answer 404, which the schema did not document: it is a bad parameter.
    RoomParticipantFactory(user=rider)

    response = auth_client(rider).get(MY_ROOMS, {"page": page})

    error = api_error(response, 400, "invalid_request")
    assert set(error["fields"]) == {"page"}


# --- Public profiles ------------------------------------------------------------------------


def test_public_profile_by_id_hides_private_fields(auth_client, rider, other_rider):
    response = auth_client(rider).get(_profile(other_rider.pk))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_FIELDS
    assert "email" not in body
    assert body["id"] == str(other_rider.pk)
    assert body["username"] == other_rider.username


def test_public_profile_by_username_in_any_case(auth_client, rider):
    target = RiderFactory(username="Sidecar")

    response = auth_client(rider).get(_by_username("SIDECAR"))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_FIELDS
    assert "email" not in body
    assert body["id"] == str(target.pk)


@pytest.mark.parametrize("malformed", ["abc", "123", "00000000-0000-0000-0000", "me2"])
def test_public_profile_with_malformed_id_is_400(auth_client, rider, malformed):
    response = auth_client(rider).get(_profile(malformed))

    api_error(response, 400, "invalid_identifier")


def test_public_profile_of_unknown_id_is_404(auth_client, rider):
    api_error(auth_client(rider).get(_profile(uuid.uuid4())), 404, "rider_not_found")


def test_public_profile_of_unknown_username_is_404(auth_client, rider):
    api_error(auth_client(rider).get(_by_username("ghost_rider")), 404, "rider_not_found")


def test_public_profiles_need_a_token(api_client, rider):
    api_error(api_client.get(_profile(rider.pk)), 401, "not_authenticated")
    api_error(api_client.get(_by_username(rider.username)), 401, "not_authenticated")


# --- What the rider shares with their ride --------------------------------------------------


def test_patch_me_changes_what_the_rider_shares(auth_client, rider):
    client = auth_client(rider)

    response = client.patch(ME, {"share_battery": False}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["share_battery"], body["share_network"]) == (False, True)
    rider.refresh_from_db()
    assert (rider.share_battery, rider.share_network) == (False, True)
    response = client.patch(ME, {"share_battery": True, "share_network": False}, format="json")
    assert (response.json()["share_battery"], response.json()["share_network"]) == (True, False)
    assert client.get(ME).json()["share_network"] is False


@pytest.mark.parametrize("value", ["false", 0, 1, "", [], {}, None])
@pytest.mark.parametrize("field", ["share_battery", "share_network"])
def test_patch_me_takes_only_json_booleans_for_sharing(auth_client, rider, field, value):
    before = rider.display_name
    response = auth_client(rider).patch(ME, {field: value, "display_name": "Owl"}, format="json")

    error = api_error(response, 400, "invalid_request")
    assert set(error["fields"]) == {field}
    rider.refresh_from_db()
    assert (getattr(rider, field), rider.display_name) == (True, before)
