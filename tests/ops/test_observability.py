"""Request ids, structured log lines, /metrics and its access rule, in-process."""

import json
import logging

import pytest
import structlog
from django.db import OperationalError
from django.test import override_settings
from prometheus_client import REGISTRY

from config import logs
from config.api.exceptions import api_exception_handler
from config.env import env_networks

pytestmark = pytest.mark.django_db


def request_records(caplog) -> list[dict]:
    return [
        record.msg
        for record in caplog.records
        if record.name == "convoy.request" and isinstance(record.msg, dict)
    ]


def test_a_sane_request_id_is_kept_and_echoed(api_client):
    response = api_client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a2c91-edge")

    assert response["X-Request-ID"] == "lb-7f3a2c91-edge"


@pytest.mark.parametrize("header", [None, "short", "has space in it", "x" * 200, "line\nbreak1234"])
def test_a_missing_or_odd_request_id_is_replaced(api_client, header):
    extra = {"HTTP_X_REQUEST_ID": header} if header is not None else {}

    response = api_client.get("/healthz", **extra)

    assert response["X-Request-ID"] != header
    assert len(response["X-Request-ID"]) == 32


def test_the_request_line_names_the_route_pattern_the_request_id_and_the_rider(
    auth_client, rider, caplog
):
    caplog.set_level(logging.INFO)
    client = auth_client(rider)

    response = client.get("/api/v1/riders/me/", HTTP_X_REQUEST_ID="trace-0001-abcd")

    [line] = [r for r in request_records(caplog) if r["path"] == "/api/v1/riders/me/"]
    assert response.status_code == 200
    assert line["request_id"] == "trace-0001-abcd"
    assert line["rider_id"] == str(rider.pk)
    assert line["status"] == 200
    assert line["route"] == "api/v1/riders/me/"


def test_a_route_with_an_id_is_logged_as_its_pattern(auth_client, rider, caplog):
    caplog.set_level(logging.INFO)

    auth_client(rider).get("/api/v1/rooms/ABCDEF/")

    [line] = [r for r in request_records(caplog) if r["path"] == "/api/v1/rooms/ABCDEF/"]
    assert line["route"] == "api/v1/rooms/<code>/"


def test_json_lines_carry_the_bound_context_for_every_logger():
    formatter = _formatter("json")
    record = logging.LogRecord(
        "django.db", logging.WARNING, __file__, 1, "pool %s", ("busy",), None
    )
    structlog.contextvars.bind_contextvars(request_id="req-12345678", rider_id="r-1")
    try:
        line = json.loads(formatter.format(record))
    finally:
        structlog.contextvars.clear_contextvars()

    assert line["event"] == "pool busy"
    assert (line["request_id"], line["rider_id"], line["level"]) == (
        "req-12345678",
        "r-1",
        "warning",
    )
    assert line["logger"] == "django.db"
    assert "timestamp" in line


def _formatter(log_format: str) -> logging.Formatter:
    config = logs.logging_config("INFO", log_format)["formatters"]["structured"]
    factory = config.pop("()")
    return factory(**config)


def test_console_lines_are_for_people():
    record = logging.LogRecord("convoy", logging.INFO, __file__, 1, "ride started", (), None)

    line = _formatter("console").format(record)

    assert "ride started" in line
    assert not line.startswith("{")


# --- /metrics --------------------------------------------------------------------------------


def test_metrics_answer_a_scraper_on_an_allowed_network(api_client):
    api_client.get("/healthz")

    response = api_client.get("/metrics", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b'convoy_http_requests_total{method="GET",route="healthz",status="200"}' in (
        response.content
    )
    assert b"convoy_db_pool_connections" in response.content


def test_metrics_refuse_other_networks_without_the_token(api_client):
    response = api_client.get("/metrics", REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


@override_settings(METRICS_TOKEN="scrape-secret-0123456789")
def test_metrics_answer_anyone_with_the_token(api_client):
    allowed = api_client.get(
        "/metrics",
        REMOTE_ADDR="203.0.113.9",
        HTTP_AUTHORIZATION="Bearer scrape-secret-0123456789",
    )
    refused = api_client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong"
    )

    assert allowed.status_code == 200
    assert refused.status_code == 403


def test_uploaded_events_are_counted_by_outcome(auth_client, rider):
    def count(outcome):
        return (
            REGISTRY.get_sample_value("convoy_telemetry_events_total", {"outcome": outcome}) or 0.0
        )

    stored_before, rejected_before = count("stored"), count("rejected")
    event = {
        "client_event_id": "8e9c8c3e-5e43-4a4e-9a53-0a2a4e1c0001",
        "event_type": "connected",
        "occurred_at": "2020-01-01T00:00:00Z",
    }
    client = auth_client(rider)
    client.post("/api/v1/telemetry/events/", {"events": [event]}, format="json")

    assert count("stored") + count("rejected") == stored_before + rejected_before + 1


def test_metrics_networks_accept_addresses_and_networks(monkeypatch):
    monkeypatch.setenv("CONVOY_TEST_NETWORKS", "10.0.0.0/8, 192.168.1.7")

    assert [str(n) for n in env_networks("CONVOY_TEST_NETWORKS", [])] == [
        "10.0.0.0/8",
        "192.168.1.7/32",
    ]


# --- PostgreSQL failures in the API ------------------------------------------------------------


def test_a_database_error_becomes_503_database_unavailable():
    response = api_exception_handler(OperationalError("server closed the connection"), {})

    assert response.status_code == 503
    assert response.data["error"]["code"] == "database_unavailable"
    assert response["Retry-After"] == "5"
