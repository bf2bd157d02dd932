"""Through a real server and a real build_exports run: a long history is asked for, built in
the background, and streamed to the phone once."""

import io
import json
import zipfile

import httpx
import pytest

from riders.auth_tokens import token_issue
from tests.ops.processes import run_manage, server_environment
from tests.riders.factories import RiderFactory
from tests.telemetry.test_exports import _insert_logs

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_long_history_is_built_in_the_background_and_streamed_once(live_server_url):
    rider = RiderFactory()
    _insert_logs(rider, 30_000)
    headers = {"Authorization": f"Bearer {token_issue(rider=rider, device_name='phone').key}"}
    api = f"{live_server_url}/api/v1/riders/me/export"

    with httpx.Client(timeout=30, headers=headers) as http:
        asked = http.post(f"{api}/")
        waiting = http.get(f"{api}/download/")
        # The server's own EXPORT_DIR (its default), since it is the one that serves it.
        built = run_manage(
            "build_exports",
            env=server_environment(DJANGO_SETTINGS_MODULE="config.settings.test"),
            timeout=120,
        )
        ready = http.get(f"{api}/")
        pieces = []
        with http.stream("GET", f"{api}/download/") as download:
            for piece in download.iter_raw():
                pieces.append(piece)
        again = http.get(f"{api}/download/")

    assert asked.status_code == 202, asked.text
    assert asked.json()["state"] == "pending"
    assert waiting.status_code == 409
    assert built.returncode == 0, built.stderr
    assert "Built 1," in built.stdout
    assert ready.json()["state"] == "ready"
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    body = b"".join(pieces)
    assert int(download.headers["content-length"]) == len(body) == ready.json()["size_bytes"]
    assert len(pieces) > 1
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        readme = json.loads(archive.read("README.json"))
    records = {entry["name"]: entry["records"] for entry in readme["files"]}
    assert records["connection_logs.jsonl"] == 30_000
    assert again.status_code == 410
    assert again.json()["error"]["code"] == "export_gone"
