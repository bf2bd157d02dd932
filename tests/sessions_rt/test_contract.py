"""The ride socket's contract: the registry of messages, the AsyncAPI document generated from
it (valid AsyncAPI 3.0.0, served at /api/asyncapi/, written by ``manage.py asyncapi``), the
check every server frame of the suite goes through, and the schemas agreeing with the checks
the live state makes itself."""

import io
import json

import pytest
from django.core.management import call_command

from sessions_rt import protocol
from sessions_rt.asyncapi import asyncapi_document, asyncapi_json, asyncapi_problems
from sessions_rt.consumers import RideConsumer
from sessions_rt.errors import InvalidRealtimeData
from sessions_rt.messages import (
    PHONE_MESSAGES,
    SERVER_MESSAGES,
    SOCKET_ERRORS,
    handshake_hello,
    phone_message,
)
from sessions_rt.protocol import CLIENT_STATUSES, PresenceStatus, Transport, choice
from tests.sessions_rt.contract import frame_problems

RIDER = "0b8a6c1e-58f1-4c5e-9d4a-7f6f4b1d2c3e"


# --- The registry ------------------------------------------------------------------------------


def test_every_phone_message_names_a_handler_of_the_consumer():
    for spec in PHONE_MESSAGES.values():
        assert callable(getattr(RideConsumer, spec.handler, None)), spec.name


def test_every_answer_is_a_server_message():
    for spec in PHONE_MESSAGES.values():
        assert set(spec.answers) <= set(SERVER_MESSAGES), spec.name


def test_phone_schemas_stand_alone_so_the_consumer_checks_them_without_the_document():
    for spec in PHONE_MESSAGES.values():
        assert "$ref" not in json.dumps(spec.schema), spec.name


def test_each_error_code_is_listed_once():
    codes = [error.code for error in SOCKET_ERRORS]
    assert len(codes) == len(set(codes))
    assert SERVER_MESSAGES["error"].schema["properties"]["code"]["enum"] == sorted(codes)


def test_phone_messages_are_open_and_server_messages_closed():
    """A newer app's extra field is ignored; the server sends no field the document lacks."""
    assert phone_message({"type": "heartbeat", "battery_saver": True}, authenticated=True).fields[
        "battery_saver"
    ]
    assert all(not spec.schema["additionalProperties"] for spec in SERVER_MESSAGES.values())


# --- The schemas say what the live state takes ------------------------------------------------


def _store_takes(check, value) -> bool:
    try:
        check(value)
    except InvalidRealtimeData:
        return False
    return True


AGREEMENT = [
    ("location", "lat", protocol.latitude, [85.05112878, -85.05112878, 85.0512, 90, "45", True]),
    (
        "location",
        "lon",
        lambda v: protocol.number_in_range(v, field="lon", low=-180, high=180),
        [180, -180, 180.0001, 10**400, None],
    ),
    ("status", "battery_pct", protocol.battery_pct, [0, 100, 101, -1, 80.0, True, "80"]),
    (
        "status",
        "status",
        lambda v: choice(PresenceStatus, v, field="status", allowed=CLIENT_STATUSES),
        ["riding", "offline", "reconnecting", "RIDING", 1],
    ),
    (
        "auth",
        "device",
        lambda v: protocol.short_text(v, field="device", max_length=protocol.DEVICE_MAX_LENGTH),
        ["Pixel 8", "x" * 100, "x" * 101, " ", "", "a\x00b", "a\u202eb", "a\u00a0b", 7],
    ),
    (
        "auth",
        "transport",
        lambda v: choice(Transport, v, field="transport"),
        ["bridged", "wifi", "5g", None],
    ),
    (
        "nearby",
        "radius_km",
        lambda v: protocol.distance_km(v, field="radius_km"),
        [0, 20_038, 20_038.5, -0.1, "3"],
    ),
]


@pytest.mark.parametrize(
    ("message", "name", "check", "values"), AGREEMENT, ids=[f"{m}.{n}" for m, n, *_ in AGREEMENT]
)
def test_a_field_schema_takes_exactly_what_the_live_state_takes(message, name, check, values):
    """The schema is checked at the socket's door, the live state checks again before Redis:
    the two agree at every edge, so the document tells phones the truth."""
    spec = PHONE_MESSAGES[message]
    for value in values:
        in_schema = name not in spec.problems({"type": message, name: value})
        assert in_schema == _store_takes(check, value), (name, value)


def test_a_malformed_field_is_named_with_the_rule_it_breaks():
    with pytest.raises(InvalidRealtimeData) as caught:
        phone_message({"type": "location", "lat": 91}, authenticated=True)

    assert caught.value.fields == {
        "lat": (
            "Latitude in degrees (Redis tracks no position nearer the poles): a number from "
            "-85.05112878 to 85.05112878."
        ),
        "lon": "Required. Longitude in degrees: a number from -180 to 180.",
    }


def test_hello_fields_in_the_query_string_are_read_like_an_auth_message():
    hello = handshake_hello(b"since_seq=41&session_id=abc&device=Pixel%208&transport=wifi")
    assert hello.fields == {
        "type": "auth",
        "since_seq": 41,
        "session_id": "abc",
        "device": "Pixel 8",
        "transport": "wifi",
    }
    assert hello.ignored == {}

    bad = handshake_hello(b"since_seq=-1&since_seq=2&transport=5g&token=cvy_x")
    assert set(bad.ignored) == {"since_seq", "transport"}
    assert bad.fields == {"type": "auth"}  # and a token in the URL is never read


# --- The document ------------------------------------------------------------------------------


def test_the_document_is_valid_asyncapi_3():
    assert asyncapi_problems(asyncapi_document()) == []


def test_an_invalid_document_is_told_apart():
    document = asyncapi_document()
    document["operations"]["send.snapshot"]["action"] = "publish"
    assert any("send.snapshot" in problem for problem in asyncapi_problems(document))


def test_the_document_lists_every_message_both_ways_with_its_operation():
    document = asyncapi_document()
    messages = document["channels"]["ride"]["messages"]
    operations = document["operations"]
    for spec in PHONE_MESSAGES.values():
        assert spec.id in messages
        assert operations[f"receive.{spec.name}"]["action"] == "receive"
    for spec in SERVER_MESSAGES.values():
        assert spec.id in messages
        assert operations[f"send.{spec.name}"]["action"] == "send"
    reply = operations["receive.heartbeat"]["reply"]["messages"]
    assert reply == [{"$ref": "#/channels/ride/messages/server.heartbeat_ack"}]


def test_the_document_states_the_limits_in_force(settings):
    settings.WS_MAX_MESSAGE_BYTES = 4096
    description = asyncapi_document()["channels"]["ride"]["description"]
    assert "at most 4096 bytes of UTF-8" in description
    assert "| 4013 |" in description


def test_frames_the_document_does_not_describe_are_caught():
    good = {"type": "heartbeat_ack", "ref": None}
    assert frame_problems(json.dumps(good)) == []
    assert frame_problems(json.dumps({**good, "extra": 1}))
    assert frame_problems(json.dumps({"type": "teleported"}))
    assert frame_problems(json.dumps({"type": "removed", "reason": "bored"}))
    assert frame_problems(json.dumps({"type": "error", "code": "invalid_json", "message": "x"}))
    location = {
        "type": "location",
        "rider_id": RIDER,
        "lat": 45.0,
        "lon": 7.0,
        "speed_kmh": None,
        "heading_deg": None,
        "at": "2026-12-07T10:00:00.000Z",
    }
    assert frame_problems(json.dumps(location)) == []
    assert frame_problems(json.dumps({**location, "at": "2026-12-07 10:00"}))


async def test_the_suite_checks_what_the_consumer_sends(socket_frames_follow_the_asyncapi_document):
    """The check of tests/conftest.py sits on the consumer's send: a frame the document does
    not describe is recorded (and would fail the test)."""

    async def nowhere(message):
        return None

    consumer = RideConsumer()
    consumer.base_send = nowhere
    await consumer.send(text_data='{"type": "heartbeat_ack", "ref": null, "extra": 1}')

    found = socket_frames_follow_the_asyncapi_document
    assert len(found) == 1
    assert "extra" in found[0]
    found.clear()


# --- Served and written ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_document_is_served_to_anyone_next_to_the_openapi_schema(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer cvy_not-a-token")
    response = api_client.get("/api/asyncapi/")

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    document = response.json()
    assert document == asyncapi_document(host="testserver")
    assert document["servers"]["convoy"] == {
        **document["servers"]["convoy"],
        "host": "testserver",
        "protocol": "ws",
    }


@pytest.mark.django_db
def test_over_tls_the_document_names_wss(api_client):
    document = api_client.get("/api/asyncapi/", secure=True).json()
    assert document["servers"]["convoy"]["protocol"] == "wss"


@pytest.mark.django_db
def test_the_asyncapi_route_is_not_in_the_openapi_schema(api_client):
    assert "asyncapi" not in api_client.get("/api/schema/?format=json").content.decode()


def test_the_command_writes_the_document_and_validates_it(tmp_path):
    target = tmp_path / "asyncapi.json"
    call_command("asyncapi", "--validate", "--file", str(target))
    assert target.read_text() == asyncapi_json(asyncapi_document())

    out = io.StringIO()
    call_command("asyncapi", "--host", "convoy.example", "--secure", stdout=out)
    server = json.loads(out.getvalue())["servers"]["convoy"]
    assert (server["host"], server["protocol"]) == ("convoy.example", "wss")
