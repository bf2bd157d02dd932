"""riders/me/export/ from the app: ask, follow the state, download once."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.utils import timezone

from riders.auth_tokens import token_issue
from riders.emergency_contacts import emergency_contact_create
from riders.services import rider_change_password
from rooms.alerts import alert_raise
from telemetry.exports import archive_path
from telemetry.models import ExportJob, ExportState
from tests.riders.factories import TEST_PASSWORD
from tests.telemetry.factories import ride_history

EXPORT = "/api/v1/riders/me/export/"
DOWNLOAD = "/api/v1/riders/me/export/download/"
FILES = [
    "profile.json",
    "devices.json",
    "emergency_contacts.json",
    "rides.jsonl",
    "ride_alerts.jsonl",
    "connection_logs.jsonl",
    "audit_entries.jsonl",
    "README.json",
]


def _error(response) -> str:
    return response.json()["error"]["code"]


def body_of(response) -> bytes:
    """The streamed archive, read as the ASGI server reads it: asynchronously."""

    async def collect():
        return b"".join([piece async for piece in response.streaming_content])

    return async_to_sync(collect)()


def _lines(archive: zipfile.ZipFile, name: str) -> list[dict]:
    return [json.loads(line) for line in archive.read(name).decode().splitlines()]


def test_a_short_history_is_ready_at_once_and_downloaded_once(
    db, auth_client, django_capture_on_commit_callbacks
):
    history = ride_history()
    rider = history.rider
    token_issue(rider=rider, device_name="Ana's tablet")
    emergency_contact_create(
        rider=rider, name="Ana's sister", phone="+41 79 123 45 67", consent=True
    )
    alert_raise(
        room_id=history.current.pk,
        rider_id=rider.pk,
        kind="sos",
        position={"lat": 46.2, "lon": 7.4},
        trail=[],
        details={"countdown_seconds": 0},
    )
    rider_change_password(
        rider=rider, current_password=TEST_PASSWORD, new_password="another-ride-2027"
    )
    client = auth_client(rider)

    asked = client.post(EXPORT)
    state = client.get(EXPORT)
    with django_capture_on_commit_callbacks(execute=True):
        download = client.get(DOWNLOAD)
    # The file is unlinked once the download is committed; the open handle reads it whole.
    assert not archive_path(asked.json()["id"]).exists()
    archive_bytes = body_of(download)
    again = client.get(DOWNLOAD)
    after = client.get(EXPORT)

    assert asked.status_code == 202, asked.content
    job = asked.json()
    assert job["state"] == "ready"
    assert job["download_url"] == DOWNLOAD
    assert job["size_bytes"] == len(archive_bytes)
    assert state.json() == job
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    assert download["Content-Length"] == str(len(archive_bytes))
    assert download["Content-Disposition"].startswith('attachment; filename="convoy-export-')
    assert download["Cache-Control"] == "no-store"
    # Streamed without holding the file: Django's ASGI handler iterates it as it goes.
    assert download.is_async
    assert again.status_code == 410
    assert _error(again) == "export_gone"
    assert after.json()["state"] == "downloaded"
    assert after.json()["download_url"] is None

    archive = zipfile.ZipFile(io.BytesIO(archive_bytes))
    assert archive.namelist() == FILES
    readme = json.loads(archive.read("README.json"))
    assert (readme["format"], readme["version"], readme["rider_id"]) == (
        "convoy-data-export",
        1,
        str(rider.pk),
    )
    records = {entry["name"]: entry["records"] for entry in readme["files"]}
    assert records == {
        "profile.json": 1,
        "devices.json": 2,
        "emergency_contacts.json": 1,
        "rides.jsonl": 2,
        "ride_alerts.jsonl": 1,
        "connection_logs.jsonl": 4,
        "audit_entries.jsonl": 2,
    }
    profile = json.loads(archive.read("profile.json"))
    assert (profile["username"], profile["email"]) == (rider.username, rider.email)
    assert (profile["share_battery"], profile["share_network"]) == (True, True)
    assert "email_verified_at" in profile
    devices = json.loads(archive.read("devices.json"))
    assert {device["device_name"] for device in devices} == {"Ana's tablet", "test phone"}
    assert all(
        set(device)
        == {"device_name", "app_version", "key_prefix", "created_at", "last_used_at", "expires_at"}
        for device in devices
    )
    contacts = json.loads(archive.read("emergency_contacts.json"))
    assert [(c["name"], c["phone"], c["email"]) for c in contacts] == [
        ("Ana's sister", "+41791234567", None)
    ]
    assert contacts[0]["consent_recorded_at"] is not None
    alerts = _lines(archive, "ride_alerts.jsonl")
    assert [(a["kind"], a["status"], a["position"]["lat"]) for a in alerts] == [
        ("sos", "open", 46.2)
    ]
    rides = _lines(archive, "rides.jsonl")
    assert [(ride["code"], ride["opened_by_you"], ride["in_the_ride_now"]) for ride in rides] == [
        (history.opened.code, True, False),
        (history.current.code, False, True),
    ]
    logs = _lines(archive, "connection_logs.jsonl")
    assert [log["event_type"] for log in logs] == [
        "quality_report",
        "reconnecting",
        "reconnected",
        "quality_report",
    ]
    assert logs[0]["metrics"] == {"rtt_ms": 80, "jitter_ms": 4, "packet_loss_pct": 1}
    assert logs[0]["room_code"] == history.opened.code
    entries = _lines(archive, "audit_entries.jsonl")
    assert [(entry["action"], entry["done_by_you"]) for entry in entries] == [
        ("room_created", True),
        ("password_changed", True),
    ]
    assert all("actor_id" not in entry for entry in entries)


def test_asking_again_answers_with_the_export_already_there(rider, auth_client):
    client = auth_client(rider)
    first = client.post(EXPORT)
    repeats = [client.post(EXPORT) for _ in range(49)]

    assert first.status_code == 202
    assert {response.status_code for response in repeats} == {200}
    assert {response.json()["id"] for response in repeats} == {first.json()["id"]}
    assert ExportJob.objects.count() == 1
    # Downloaded, it is done: the next request starts a new one.
    body_of(client.get(DOWNLOAD))
    fresh = client.post(EXPORT)
    assert fresh.status_code == 202
    assert fresh.json()["id"] != first.json()["id"]


def test_a_long_history_waits_for_build_exports(db, auth_client, settings):
    settings.EXPORT_INLINE_MAX_ROWS = 3
    history = ride_history()
    client = auth_client(history.rider)

    asked = client.post(EXPORT)
    early = client.get(DOWNLOAD)
    call_command("build_exports", stdout=io.StringIO())
    built = client.get(EXPORT)
    download = client.get(DOWNLOAD)

    assert asked.status_code == 202
    assert (asked.json()["state"], asked.json()["download_url"]) == ("pending", None)
    assert early.status_code == 409
    assert early.json()["error"] == {
        "code": "export_not_ready",
        "message": "The export is still being built; ask for its state again later.",
        "state": "pending",
    }
    assert built.json()["state"] == "ready"
    assert download.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(body_of(download))).namelist() == FILES


def test_an_archive_not_downloaded_in_time_is_gone(
    rider, auth_client, django_capture_on_commit_callbacks
):
    client = auth_client(rider)
    job_id = client.post(EXPORT).json()["id"]
    ExportJob.objects.filter(pk=job_id).update(expires_at=timezone.now() - timedelta(seconds=1))

    state = client.get(EXPORT)
    with django_capture_on_commit_callbacks(execute=True):
        download = client.get(DOWNLOAD)
    fresh = client.post(EXPORT)

    assert state.json()["state"] == "expired"
    assert download.status_code == 410
    assert "expired" in download.json()["error"]["message"]
    assert not archive_path(job_id).exists()
    assert fresh.status_code == 202
    assert ExportJob.objects.get(pk=job_id).state == ExportState.EXPIRED


def test_nothing_asked_for_yet(rider, auth_client):
    client = auth_client(rider)
    for url in (EXPORT, DOWNLOAD):
        response = client.get(url)
        assert response.status_code == 404
        assert _error(response) == "export_not_found"


def test_the_download_accepts_a_zip_and_still_explains_refusals_in_json(rider, auth_client):
    client = auth_client(rider)
    refused = client.get(DOWNLOAD, HTTP_ACCEPT="application/zip")
    client.post(EXPORT)
    download = client.get(DOWNLOAD, HTTP_ACCEPT="application/zip")

    assert refused.status_code == 404
    assert refused["Content-Type"] == "application/json"
    assert download.status_code == 200
    assert body_of(download).startswith(b"PK")


def test_another_riders_archive_is_never_handed_out(rider, other_rider, auth_client):
    auth_client(rider).post(EXPORT)
    response = auth_client(other_rider).get(DOWNLOAD)
    assert response.status_code == 404
    assert ExportJob.objects.get(rider=rider).state == ExportState.READY


def test_asking_takes_no_body(rider, auth_client):
    response = auth_client(rider).post(EXPORT, {"format": "csv"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"format": ["Unknown field."]}
    assert not ExportJob.objects.exists()


@pytest.mark.parametrize(("method", "url"), [("get", EXPORT), ("post", EXPORT), ("get", DOWNLOAD)])
def test_every_export_operation_wants_the_token(api_client, method, url):
    response = getattr(api_client, method)(url)
    assert response.status_code == 401


def test_the_export_state_is_two_queries(rider, auth_client, exact_queries):
    client = auth_client(rider)
    client.post(EXPORT)
    client.get(EXPORT)
    # The token, then the latest export.
    with exact_queries(2):
        response = client.get(EXPORT)
    assert response.status_code == 200
