"""JSON bodies are taken at their JSON types: a string where a string belongs, an integer
where an integer belongs, and no number JSON cannot say back (1e309 reads as infinity)."""

import httpx
import pytest

from riders.auth_tokens import token_issue
from rooms.models import Room
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db

ROOMS = "/api/v1/rooms/"
ME = "/api/v1/riders/me/"
REGISTER = "/api/v1/auth/register/"


def _post_raw(client, path: str, body: str):
    return client.post(path, body, content_type="application/json")


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        ('{"name": 12345}', "name", "Must be a JSON string."),
        ('{"name": 18446744073709551616}', "name", "Must be a JSON string."),
        ('{"name": -0}', "name", "Must be a JSON string."),
        ('{"name": true}', "name", "Must be a JSON string."),
        ('{"name": ["Sunday"]}', "name", "Must be a JSON string."),
        (
            '{"name": "Loop", "max_participants": "5"}',
            "max_participants",
            "Must be a JSON integer.",
        ),
        (
            '{"name": "Loop", "max_participants": 5.0}',
            "max_participants",
            "Must be a JSON integer.",
        ),
        (
            '{"name": "Loop", "max_participants": true}',
            "max_participants",
            "Must be a JSON integer.",
        ),
    ],
)
def test_a_ride_is_opened_only_from_values_of_the_right_type(
    auth_client, rider, body, field, expected
):
    response = _post_raw(auth_client(rider), ROOMS, body)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["fields"] == {field: [expected]}
    assert not Room.objects.exists()


@pytest.mark.parametrize("number", ["1e309", "-1e309", "1E400"])
def test_a_number_too_large_for_json_is_not_a_name(auth_client, rider, number):
    response = _post_raw(auth_client(rider), ROOMS, f'{{"name": {number}}}')

    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"] == {"name": ["Must be a JSON string."]}
    assert not Room.objects.exists()


def test_every_bad_field_is_named_at_once(api_client):
    response = api_client.post(REGISTER, {"username": 5, "password": "x"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "username": ["Must be a JSON string."],
        "email": ["This field is required."],
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [("username", 1e300), ("username", 42), ("email", 7), ("password", 12345678)],
)
def test_registration_takes_strings_only(api_client, field, value):
    body = {"username": "rider.one", "email": "one@example.com", "password": "long enough pw 1"}
    body[field] = value

    response = api_client.post(REGISTER, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"] == {field: ["Must be a JSON string."]}


def test_a_profile_change_of_the_wrong_type_changes_nothing(auth_client, rider):
    before = rider.display_name

    response = auth_client(rider).patch(ME, {"display_name": 5}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"] == {"display_name": ["Must be a JSON string."]}
    rider.refresh_from_db()
    assert rider.display_name == before


def test_null_is_left_to_the_field(auth_client, rider):
    response = auth_client(rider).post(ROOMS, {"name": None}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"name": ["This field may not be null."]}


def test_query_parameters_are_still_read_from_their_text(auth_client, rider):
    response = auth_client(rider).get(
        "/api/v1/telemetry/stats/", {"since": "2026-01-01T00:00:00Z", "bucket": "1h"}
    )

    assert response.status_code in (200, 422), response.content


@pytest.mark.django_db(transaction=True)
def test_over_http_a_ride_named_infinity_is_refused(live_server_url):
    key = token_issue(rider=RiderFactory()).key

    response = httpx.post(
        f"{live_server_url}{ROOMS}",
        content=b'{"name": 1e309}',
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=10,
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"]["fields"] == {"name": ["Must be a JSON string."]}
    assert not Room.objects.exists()
