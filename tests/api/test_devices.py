"""The devices signed in to an account: listed with what the app said at log-in, and signed
out one at a time, never another rider's."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from riders.models import AuthToken
from tests.api.assertions import api_error
from tests.riders.factories import TEST_PASSWORD, RiderFactory

pytestmark = pytest.mark.django_db

DEVICES = "/api/v1/riders/me/devices/"
LOGIN = "/api/v1/auth/login/"
REGISTER = "/api/v1/auth/register/"
ME = "/api/v1/riders/me/"


def _device(device_id) -> str:
    return f"{DEVICES}{device_id}/"


def _log_in(rider, **extra) -> tuple[APIClient, dict]:
    response = APIClient().post(
        LOGIN, {"username": rider.username, "password": TEST_PASSWORD, **extra}, format="json"
    )
    assert response.status_code == 200, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']['key']}")
    return client, response.json()


def test_the_list_shows_each_device_with_its_app_version_and_marks_this_one(rider):
    tablet, _ = _log_in(rider, device_name="Ana's tablet", app_version="2.3.0")
    phone, _ = _log_in(rider, device_name="Ana's phone", app_version="2.4.1+417")
    tablet.get(ME)

    response = phone.get(DEVICES)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2
    by_name = {device["device_name"]: device for device in body["results"]}
    assert by_name["Ana's phone"]["current"] is True
    assert by_name["Ana's tablet"]["current"] is False
    assert by_name["Ana's phone"]["app_version"] == "2.4.1+417"
    assert by_name["Ana's tablet"]["app_version"] == "2.3.0"
    assert set(by_name["Ana's phone"]) == {
        "id",
        "device_name",
        "app_version",
        "created_at",
        "last_used_at",
        "expires_at",
        "current",
    }
    # Nothing of the key itself, not even its prefix.
    assert "cvy_" not in response.content.decode()
    # The most recently used first.
    assert [device["device_name"] for device in body["results"]] == ["Ana's phone", "Ana's tablet"]


def test_the_list_holds_only_the_riders_own_unexpired_devices(auth_client, rider, other_rider):
    auth_client(other_rider, device_name="someone else's phone")
    expired = auth_client(rider, device_name="old phone")
    AuthToken.objects.filter(device_name="old phone").update(
        created_at=timezone.now() - timedelta(days=100),
        expires_at=timezone.now() - timedelta(days=1),
    )
    client = auth_client(rider, device_name="phone")

    names = [device["device_name"] for device in client.get(DEVICES).json()["results"]]

    assert names == ["phone"]
    assert expired.get(ME).status_code == 401


def test_a_device_that_did_not_say_its_version_lists_it_blank(auth_client, rider):
    [device] = auth_client(rider).get(DEVICES).json()["results"]

    assert device["app_version"] == ""


def test_registration_records_the_app_version_too(api_client):
    response = api_client.post(
        REGISTER,
        {
            "username": "alpine_rider",
            "email": "alpine@example.com",
            "password": "gravel-Road-77",
            "device_name": "Pixel 8",
            "app_version": "3.0.0-beta.2",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    assert AuthToken.objects.get(user__username="alpine_rider").app_version == "3.0.0-beta.2"


@pytest.mark.parametrize(
    "version",
    [
        12,
        None,
        "",
        " 2.4.1",
        "2.4.1\n",
        "2.4.1 beta",
        "-2.4",
        "2.4.",
        "v" * 33,
        "2.4\u00e9",
        ["2.4"],
    ],
    ids=[
        "number",
        "null",
        "empty",
        "leading-space",
        "newline",
        "space",
        "leading-dash",
        "trailing-dot",
        "too-long",
        "accent",
        "list",
    ],
)
def test_log_in_refuses_a_malformed_app_version(rider, version):
    response = APIClient().post(
        LOGIN,
        {"username": rider.username, "password": TEST_PASSWORD, "app_version": version},
        format="json",
    )

    error = api_error(response, 400, "invalid_request")
    assert "app_version" in error["fields"]
    assert not AuthToken.objects.filter(user=rider).exists()


def test_signing_out_a_device_stops_its_token_at_once(rider):
    tablet, _ = _log_in(rider, device_name="tablet")
    phone, _ = _log_in(rider, device_name="phone")
    tablet_id = AuthToken.objects.get(device_name="tablet").pk

    response = phone.delete(_device(tablet_id))

    assert response.status_code == 204
    assert response.content == b""
    api_error(tablet.get(ME), 401, "authentication_failed")
    assert phone.get(ME).status_code == 200
    api_error(phone.delete(_device(tablet_id)), 404, "device_not_found")


def test_a_device_may_sign_itself_out(auth_client, rider):
    client = auth_client(rider)
    [device] = client.get(DEVICES).json()["results"]

    assert client.delete(_device(device["id"])).status_code == 204

    api_error(client.get(ME), 401, "authentication_failed")


def test_another_riders_device_is_as_unknown_as_a_made_up_one(auth_client, rider, other_rider):
    victim = auth_client(other_rider, device_name="their phone")
    their_device = AuthToken.objects.get(user=other_rider).pk
    client = auth_client(rider)

    theirs = client.delete(_device(their_device))
    made_up = client.delete(_device("0b9ea5a2-6d3c-4a7e-9d1e-0c6f7b7c1a11"))

    assert api_error(theirs, 404, "device_not_found") == api_error(made_up, 404, "device_not_found")
    assert victim.get(ME).status_code == 200


@pytest.mark.parametrize("device_id", ["not-a-uuid", "1", "%00", "x" * 300])
def test_a_malformed_device_id_is_400(auth_client, rider, device_id):
    api_error(auth_client(rider).delete(_device(device_id)), 400, "invalid_identifier")


def test_signing_out_takes_no_body(auth_client, rider):
    client = auth_client(rider)
    [device] = client.get(DEVICES).json()["results"]

    response = client.delete(_device(device["id"]), {"everywhere": True}, format="json")

    api_error(response, 400, "invalid_request")
    assert client.get(ME).status_code == 200


def test_devices_need_a_token(api_client):
    api_error(api_client.get(DEVICES), 401, "not_authenticated")
    api_error(
        api_client.delete(_device("0b9ea5a2-6d3c-4a7e-9d1e-0c6f7b7c1a11")), 401, "not_authenticated"
    )


def test_the_list_pages_like_every_list(auth_client, rider):
    for n in range(3):
        auth_client(rider, device_name=f"phone {n}")
    client = auth_client(rider, device_name="asking")

    body = client.get(DEVICES, {"page_size": 2, "page": 2}).json()

    assert body["count"] == 4
    assert len(body["results"]) == 2
    api_error(client.get(DEVICES, {"page": 9}), 400, "invalid_request")


def test_a_staff_member_sees_only_their_own_devices(auth_client, rider):
    staff = RiderFactory(is_staff=True)
    auth_client(rider)

    [device] = auth_client(staff).get(DEVICES).json()["results"]

    assert device["current"] is True
