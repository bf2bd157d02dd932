"""Request bodies as a real server reads them: chunked, oversized, or sent where none is taken.

These live below Django's test client (which always sends a Content-Length and never streams),
so they go through ``manage.py serve`` on a socket.
"""

import json
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from django.conf import settings

from bench.harness import server_process
from riders.auth_tokens import token_issue
from riders.models import Rider
from rooms.models import RoomParticipant
from tests.ops.processes import server_environment
from tests.riders.factories import RiderFactory
from tests.rooms.factories import RoomFactory, RoomParticipantFactory

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = httpx.Timeout(10.0)


def _headers(rider: Rider) -> dict:
    return {
        "Authorization": f"Bearer {token_issue(rider=rider).key}",
        "Content-Type": "application/json",
    }


def _room_with_creator():
    room = RoomFactory()
    RoomParticipantFactory(room=room, user=room.creator)
    return room


def _raw_request(base: str, head: str, body_part: bytes) -> tuple[int, bytes, float]:
    """Send ``head`` and a little of the body; the status, the raw answer and how long the
    answer took. The server must answer without the rest of the body."""
    address = urlsplit(base)
    started = time.monotonic()
    with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
        sock.sendall(head.encode("latin-1") + body_part)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        elapsed = time.monotonic() - started
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionError):
            pass
    status = int(answer.split(b" ", 2)[1])
    return status, answer, elapsed


def _json_of(answer: bytes) -> dict:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


def test_chunked_patch_changes_the_profile(live_server_url):
    rider = RiderFactory(display_name="Before")

    response = httpx.patch(
        f"{live_server_url}/api/v1/riders/me/",
        content=iter([b'{"display_name": ', b'"Chunk"}']),
        headers=_headers(rider),
        timeout=TIMEOUT,
    )

    assert response.status_code == 200, response.text
    assert response.json()["display_name"] == "Chunk"
    rider.refresh_from_db()
    assert rider.display_name == "Chunk"


def test_chunked_post_is_read(live_server_url):
    rider = RiderFactory()

    response = httpx.post(
        f"{live_server_url}/api/v1/rooms/",
        content=iter([b'{"name": ', b'"Chunked ride"}']),
        headers=_headers(rider),
        timeout=TIMEOUT,
    )

    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Chunked ride"


@pytest.mark.parametrize("action", ["join", "leave", "logout"])
def test_oversized_content_length_is_413_without_reading_the_body(live_server_url, action):
    rider = RiderFactory()
    room = _room_with_creator()
    path = "/api/v1/auth/logout/" if action == "logout" else f"/api/v1/rooms/{room.code}/{action}/"
    token = token_issue(rider=rider).key
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 200000000\r\n\r\n"
    )

    status, answer, elapsed = _raw_request(live_server_url, head, b"x" * 4096)

    assert status == 413, answer
    assert elapsed < 2, "the server waited for the body"
    assert _json_of(answer)["error"]["code"] == "payload_too_large"
    assert not RoomParticipant.objects.filter(room=room, user=rider).exists()
    # logout did not happen either: the token still works.
    me = httpx.get(
        f"{live_server_url}/api/v1/riders/me/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    assert me.status_code == 200


def test_oversized_chunked_body_is_413_once_past_the_limit(live_server_url):
    rider = RiderFactory()
    room = _room_with_creator()
    token = token_issue(rider=rider).key
    head = (
        f"POST /api/v1/rooms/{room.code}/join/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    # A bit more than the limit, in chunks, and the body never ends.
    piece = b"x" * 65536
    chunks = b"".join(
        b"%x\r\n" % len(piece) + piece + b"\r\n"
        for _ in range(settings.API_MAX_BODY_BYTES // len(piece) + 2)
    )

    status, answer, elapsed = _raw_request(live_server_url, head, chunks)

    assert status == 413, answer
    assert elapsed < 5
    assert _json_of(answer)["error"]["code"] == "payload_too_large"
    assert not RoomParticipant.objects.filter(room=room, user=rider).exists()


def _join_with_body(base: str, body: bytes):
    """A new rider joins a new ride over HTTP, sending ``body``."""
    rider = RiderFactory()
    room = _room_with_creator()
    response = httpx.post(
        f"{base}/api/v1/rooms/{room.code}/join/",
        content=body,
        headers=_headers(rider),
        timeout=TIMEOUT,
    )
    return rider, room, response


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{bad", "malformed_request"),
        (b'{"evil": 1}', "invalid_request"),
        (b"[1]", "invalid_request"),
    ],
)
def test_a_body_on_join_is_refused_and_the_rider_does_not_join(live_server_url, body, code):
    rider, room, response = _join_with_body(live_server_url, body)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code
    if body == b'{"evil": 1}':
        assert error["fields"] == {"evil": ["Unknown field."]}
    assert not RoomParticipant.objects.filter(room=room, user=rider).exists()


@pytest.mark.parametrize("body", [b"", b"{}"])
def test_an_empty_body_on_join_joins(live_server_url, body):
    rider, room, response = _join_with_body(live_server_url, body)

    assert response.status_code == 200, response.text
    assert RoomParticipant.objects.filter(room=room, user=rider, is_active=True).exists()


@pytest.mark.parametrize("path", ["/api/nope", "/api/v1/nope/", "/api/v1/rooms/ABC/nope/x/"])
def test_unknown_api_path_is_json_404(live_server_url, path):
    response = httpx.get(f"{live_server_url}{path}", timeout=TIMEOUT)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


@pytest.fixture
def logged_server(django_db_setup, django_db_blocker):
    env = server_environment(
        DJANGO_SETTINGS_MODULE="config.settings.test", LOG_LEVEL="INFO", LOG_FORMAT="json"
    )
    with django_db_blocker.unblock(), server_process(workers=1, extra_env=env) as server:
        yield server


def test_a_bad_host_is_400_and_one_warning_line(logged_server):
    response = httpx.get(
        f"{logged_server.base}/api/v1/riders/me/",
        headers={"Host": "evil.example"},
        timeout=TIMEOUT,
    )

    assert response.status_code == 400
    time.sleep(0.5)  # the log line is written after the answer
    lines = [
        json.loads(line)
        for line in logged_server.log_text().splitlines()
        if "django.security.DisallowedHost" in line
    ]
    assert len(lines) == 1, logged_server.log_text()
    assert lines[0]["level"] == "warning"
    assert "exception" not in lines[0]
    assert "Traceback" not in logged_server.log_text()


def test_a_413_below_django_gets_its_access_line_request_id_and_metric(logged_server):
    head = (
        "POST /api/v1/auth/register/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nContent-Length: 200000000\r\n"
        "X-Request-ID: too-large-0001\r\n\r\n"
    )

    status, answer, _elapsed = _raw_request(logged_server.base, head, b"x" * 1024)
    metrics = httpx.get(f"{logged_server.base}/metrics", timeout=TIMEOUT).text

    assert status == 413, answer
    assert b"x-request-id: too-large-0001" in answer.lower()
    time.sleep(0.5)  # the log line is written after the answer
    lines = [
        json.loads(line)
        for line in logged_server.log_text().splitlines()
        if '"too-large-0001"' in line
    ]
    assert [(line["event"], line["status"], line["reason"]) for line in lines] == [
        ("request", 413, "body_too_large")
    ]
    assert lines[0]["path"] == "/api/v1/auth/register/"
    assert 'convoy_http_requests_total{method="POST",route="unmatched",status="413"}' in metrics
