"""POST /api/v1/riders/me/delete/ from the app: the password confirms it, every refusal is a
clear answer, and afterwards the account is gone for every device."""

import pytest
from rest_framework.test import APIClient

from riders.models import AuditAction, AuditEntry, Rider
from tests.riders.factories import TEST_PASSWORD

DELETE = "/api/v1/riders/me/delete/"


def _error(response) -> str:
    return response.json()["error"]["code"]


def test_deleting_the_account_signs_out_everywhere_and_frees_the_names(rider, auth_client):
    client, other_device = auth_client(rider), auth_client(rider, device_name="tablet")

    response = client.post(DELETE, {"password": TEST_PASSWORD}, format="json")

    assert response.status_code == 204, response.content
    assert response.content == b""
    for device in (client, other_device):
        refused = device.get("/api/v1/riders/me/")
        assert refused.status_code == 401
        assert _error(refused) == "authentication_failed"
    log_in = APIClient().post(
        "/api/v1/auth/login/",
        {"username": rider.username, "password": TEST_PASSWORD},
        format="json",
    )
    assert log_in.status_code == 401
    register = APIClient().post(
        "/api/v1/auth/register/",
        {"username": rider.username, "email": rider.email, "password": "brand-new-ride-2027"},
        format="json",
    )
    assert register.status_code == 201, register.content
    assert Rider.objects.get(pk=rider.pk).deleted_at is not None


def test_a_wrong_password_is_a_clear_refusal_and_deletes_nothing(rider, auth_client):
    response = auth_client(rider).post(DELETE, {"password": "guess-1"}, format="json")
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "wrong_password",
        "message": "The current password is not correct.",
    }
    rider.refresh_from_db()
    assert rider.is_active
    assert not AuditEntry.objects.filter(action=AuditAction.RIDER_DELETED).exists()


def test_wrong_passwords_are_throttled_like_a_password_change(rider, auth_client, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "password_failures": "5/hour"}
    client = auth_client(rider)
    codes = [
        client.post(DELETE, {"password": f"guess-{n}"}, format="json").status_code for n in range(5)
    ]
    # The right password too, until the window frees: guessing stops.
    limited = client.post(DELETE, {"password": TEST_PASSWORD}, format="json")
    # Wrong passwords of a password change share the same window.
    change = client.post(
        "/api/v1/riders/me/password/",
        {"current_password": TEST_PASSWORD, "new_password": "another-ride-2027"},
        format="json",
    )

    assert codes == [422] * 5
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert limited.json()["error"]["retry_after_seconds"] >= 1
    assert change.status_code == 429
    rider.refresh_from_db()
    assert rider.is_active


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "password", "This field is required."),
        ({"password": 12345}, "password", "Must be a JSON string."),
        ({"password": None}, "password", "This field may not be null."),
        ({"password": ["x"]}, "password", "Must be a JSON string."),
        (
            {"password": "x" * 1001},
            "password",
            "Ensure this field has no more than 1000 characters.",
        ),
        ({"password": TEST_PASSWORD, "confirm": True}, "confirm", "Unknown field."),
    ],
    ids=["missing", "number", "null", "list", "huge", "unknown field"],
)
def test_malformed_bodies_are_refused_before_anything_is_checked(
    rider, auth_client, body, field, message
):
    response = auth_client(rider).post(DELETE, body, format="json")
    assert response.status_code == 400, response.content
    assert _error(response) == "invalid_request"
    assert response.json()["error"]["fields"][field] == [message]
    rider.refresh_from_db()
    assert rider.is_active


def test_a_body_that_is_not_json_is_refused(rider, auth_client):
    response = auth_client(rider).post(DELETE, "password=x", content_type="application/json")
    assert response.status_code == 400
    assert _error(response) == "malformed_request"


def test_a_body_over_the_limit_is_refused_unread(rider, auth_client, settings):
    response = auth_client(rider).post(
        DELETE,
        '{"password": "' + "x" * (settings.API_MAX_BODY_BYTES + 1) + '"}',
        content_type="application/json",
    )
    assert response.status_code == 413
    assert _error(response) == "payload_too_large"


def test_without_a_token_nothing_is_deleted(rider, api_client):
    response = api_client.post(DELETE, {"password": TEST_PASSWORD}, format="json")
    assert response.status_code == 401
    rider.refresh_from_db()
    assert rider.is_active


def test_only_post_deletes(rider, auth_client):
    client = auth_client(rider)
    for method in (client.get, client.delete, client.put):
        assert method(DELETE).status_code == 405
    rider.refresh_from_db()
    assert rider.is_active


def test_a_tombstone_shows_no_personal_data_to_other_riders(rider, other_rider, auth_client):
    auth_client(rider).post(DELETE, {"password": TEST_PASSWORD}, format="json")
    profile = auth_client(other_rider).get(f"/api/v1/riders/{rider.pk}/").json()
    assert profile["username"].startswith("deleted-")
    assert profile["display_name"] == ""
    assert rider.username not in str(profile)
