"""Every failure of the API answers with the one error shape and a fitting status."""

import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from tests.api.assertions import api_error, assert_error_shape
from tests.rooms.factories import RoomFactory, RoomParticipantFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
ROOMS = "/api/v1/rooms/"
EVENTS = "/api/v1/telemetry/events/"


def _requests(api_client, auth_client, rider, other_rider):
    """(description, response, status, code) for one request of each failure kind."""
    client = auth_client(rider)
    full = RoomFactory(max_participants=2)
    RoomParticipantFactory(room=full)
    RoomParticipantFactory(room=full)
    foreign = RoomFactory(creator=other_rider)
    RoomParticipantFactory(room=foreign, user=other_rider)
    yield "missing field", client.post(ROOMS, {}, format="json"), 400, "invalid_request"
    yield (
        "bad JSON",
        client.post(ROOMS, '{"name": ', content_type="application/json"),
        400,
        "malformed_request",
    )
    yield "malformed code", client.get(f"{ROOMS}abc/"), 400, "invalid_room_code"
    yield (
        "malformed id",
        client.get("/api/v1/riders/nope/"),
        400,
        "invalid_identifier",
    )
    yield "no token", api_client.get(ROOMS), 401, "not_authenticated"
    yield (
        "bad token",
        api_client.get(ROOMS, HTTP_AUTHORIZATION="Bearer cvy_nope"),
        401,
        "authentication_failed",
    )
    yield (
        "not leader",
        client.post(f"{ROOMS}{foreign.code}/deactivate/"),
        403,
        "not_room_leader",
    )
    yield "unknown room", client.get(f"{ROOMS}ZZZZZZ/"), 404, "room_not_found"
    yield (
        "unknown rider",
        client.get(f"/api/v1/riders/{uuid.uuid4()}/"),
        404,
        "rider_not_found",
    )
    yield "wrong method", client.delete(f"{ROOMS}{foreign.code}/"), 405, "method_not_allowed"
    yield "full", client.post(f"{ROOMS}{full.code}/join/"), 409, "room_full"
    yield "rule", client.post(ROOMS, {"name": "  "}, format="json"), 422, "invalid_room"
    yield (
        "too many events",
        client.post(EVENTS, {"events": [{}] * 501}, format="json"),
        413,
        "batch_too_large",
    )
    yield (
        "too large",
        client.post(
            EVENTS, "[" + " " * settings.API_MAX_BODY_BYTES + "]", content_type="application/json"
        ),
        413,
        "payload_too_large",
    )
    yield (
        "form body",
        client.post(ROOMS, "name=Ride", content_type="application/x-www-form-urlencoded"),
        415,
        "unsupported_media_type",
    )
    yield (
        "html only",
        client.get(ROOMS, HTTP_ACCEPT="text/html"),
        406,
        "not_acceptable",
    )


def test_every_error_has_the_one_shape(api_client, auth_client, rider, other_rider):
    seen = set()
    failures = _requests(api_client, auth_client, rider, other_rider)
    for description, response, status, code in failures:
        assert response.status_code == status, (description, response.content[:300])
        error = assert_error_shape(response.json())
        assert error["code"] == code, description
        seen.add(status)

    assert seen == {400, 401, 403, 404, 405, 406, 409, 413, 415, 422}


@override_settings(
    API_THROTTLE_RATES={"rider": "1/min", "credentials_ip": "1/min", "credentials_account": "1/min"}
)
def test_rate_limited_error_has_the_one_shape(auth_client, rider):
    client = auth_client(rider)
    client.get(ROOMS)

    response = client.get(ROOMS)

    error = api_error(response, 429, "rate_limited")
    assert set(error) == {"code", "message", "retry_after_seconds"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/auth/login/"),
        ("put", "/api/v1/auth/register/"),
        ("delete", "/api/v1/riders/me/"),
        ("patch", "/api/v1/telemetry/stats/"),
        ("put", "/api/v1/rooms/"),
    ],
)
def test_method_not_allowed(auth_client, rider, method, path):
    response = getattr(auth_client(rider), method)(path, {}, format="json")

    error = api_error(response, 405, "method_not_allowed")
    assert set(error) == {"code", "message"}


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing-here/", "/api/v1/rooms/ABCDEF/nothing/", "/api/v2/rooms/"]
)
def test_unknown_url_is_404(auth_client, rider, path):
    assert auth_client(rider).get(path).status_code == 404


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("username=a&password=b", "application/x-www-form-urlencoded"),
        ("username: a", "text/plain"),
        ("<rider/>", "application/xml"),
        ("--x\r\n\r\n--x--", "multipart/form-data; boundary=x"),
    ],
)
def test_non_json_body_is_415(api_client, body, content_type):
    response = api_client.post(REGISTER, body, content_type=content_type)

    error = api_error(response, 415, "unsupported_media_type")
    assert set(error) == {"code", "message"}


@pytest.mark.parametrize(
    "body", [b"{", b"{'single': 'quotes'}", b"\xff\xfe{}", b'{"a": 1} trailing', b"NaN"]
)
def test_malformed_json_is_400(api_client, body):
    response = api_client.post(REGISTER, body, content_type="application/json")

    api_error(response, 400, "malformed_request")


def test_validation_error_lists_every_bad_field(api_client):
    response = api_client.post(REGISTER, {"username": ["x"]}, format="json")

    error = api_error(response, 400, "invalid_request")
    assert set(error["fields"]) == {"username", "email", "password"}
    assert all(
        isinstance(messages, list) and all(isinstance(m, str) for m in messages)
        for messages in error["fields"].values()
    )


def test_unknown_fields_are_reported_before_anything_else(api_client):
    response = api_client.post(REGISTER, {"username": ["x"], "extra": 1}, format="json")

    error = api_error(response, 400, "invalid_request")
    assert error["fields"] == {"extra": ["Unknown field."]}


@pytest.mark.parametrize("module", ["config.api.exceptions", "config.api.parsers"])
def test_api_plumbing_modules_import_on_their_own(module):
    code = f"import django; django.setup(); import {module}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}

    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=settings.BASE_DIR,
    )

    assert "circular import" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("path", [REGISTER, "/api/v1/auth/login/", ROOMS, EVENTS])
def test_deeply_nested_json_is_a_clean_400(auth_client, rider, path):
    body = "[" * 100_000 + "]" * 100_000

    response = auth_client(rider).post(path, body, content_type="application/json")

    api_error(response, 400, "malformed_request")


# A JSON "\ud800" escape decodes to a lone surrogate, which no response can encode as UTF-8.
LONE_SURROGATE_BODIES = {
    "unknown field": (REGISTER, '{"\\ud800": 1}'),
    "unknown room field": (ROOMS, '{"name": "Ride", "\\ud800": 1}'),
    "unknown event field": (EVENTS, '{"events": [{"\\ud800": 1}]}'),
    "unknown metric": (
        EVENTS,
        '{"events": [{"event_type": "connected", "occurred_at": "<now>", '
        '"client_event_id": "a", "metrics": {"\\ud800": 1}}]}',
    ),
}


@pytest.mark.parametrize("case", list(LONE_SURROGATE_BODIES))
def test_lone_surrogate_in_a_key_gets_a_clean_answer(auth_client, rider, case):
    path, body = LONE_SURROGATE_BODIES[case]
    body = body.replace("<now>", timezone.now().isoformat())

    response = auth_client(rider).post(path, body, content_type="application/json")

    assert response.status_code in {200, 400, 422}, response.content[:300]
    if response.status_code == 200:
        assert response.json()["results"][0]["status"] == "rejected"
    else:
        assert_error_shape(response.json())


def test_lone_surrogate_username_at_log_in_is_a_clean_400(api_client):
    body = '{"username": "rider\\ud800", "password": "whatever-2026"}'

    response = api_client.post("/api/v1/auth/login/", body, content_type="application/json")

    api_error(response, 400, "malformed_request")
