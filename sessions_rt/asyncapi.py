"""The ride socket's AsyncAPI 3.0 document, generated from the registry of messages
(sessions_rt.messages) and the settings that bound the socket.

Served at /api/asyncapi/ beside the OpenAPI schema, written by ``manage.py asyncapi``, checked
in CI against the official AsyncAPI 3.0.0 JSON Schema (vendored in docs/asyncapi/), and the
schema the test suite checks every frame the server sends against.

The document describes the server: ``receive`` operations are what the phone sends, ``send``
operations what the server sends.
"""

import json
from functools import cache
from pathlib import Path

from django.conf import settings
from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

from sessions_rt.messages import PHONE_MESSAGES, SERVER_MESSAGES, SOCKET_ERRORS, MessageSpec
from sessions_rt.protocol import BEARER_PREFIX, PROTOCOL, CloseCode
from sessions_rt.schemas import SHARED_SCHEMAS
from sessions_rt.sockets import CLOSE_AFTER_DROPPED

ASYNCAPI_VERSION = "3.0.0"
# The official JSON Schema of AsyncAPI 3.0.0 documents; docs/asyncapi/README.md says whence.
ASYNCAPI_SCHEMA = Path("docs") / "asyncapi" / "asyncapi-3.0.0.schema.json"
CHANNEL = "ride"
DOCUMENT_VERSION = "1.0.0"


def asyncapi_document(*, host: str = "localhost:8000", secure: bool = False) -> dict:
    """The AsyncAPI 3.0 document of the ride socket on ``host`` (wss when ``secure``)."""
    specs = [*PHONE_MESSAGES.values(), *SERVER_MESSAGES.values()]
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Convoy ride socket",
            "version": DOCUMENT_VERSION,
            "description": _overview(),
        },
        "defaultContentType": "application/json",
        "servers": {
            "convoy": {
                "host": host,
                "protocol": "wss" if secure else "ws",
                "description": "The Convoy server that answers the REST API.",
                "security": [{"$ref": "#/components/securitySchemes/subprotocolToken"}],
            }
        },
        "channels": {
            CHANNEL: {
                "address": "/ws/rooms/{code}/",
                "title": "A ride",
                "description": _channel_description(),
                "parameters": {"code": {"description": "The ride's 6-character join code."}},
                "messages": {
                    spec.id: {"$ref": f"#/components/messages/{spec.id}"} for spec in specs
                },
                "bindings": {"ws": _websocket_binding()},
            }
        },
        "operations": {_operation_id(spec): _operation(spec) for spec in specs},
        "components": {
            "schemas": {**SHARED_SCHEMAS, **{spec.id: spec.schema for spec in specs}},
            "messages": {spec.id: _message(spec) for spec in specs},
            "securitySchemes": {
                "subprotocolToken": {
                    "type": "httpApiKey",
                    "in": "header",
                    "name": "Sec-WebSocket-Protocol",
                    "description": (
                        f"Offer `{PROTOCOL}, {BEARER_PREFIX}<token>`; the server answers "
                        f"`{PROTOCOL}`. Or send no token in the handshake and authenticate "
                        "with the first message, `auth`. Never put the token in the URL: "
                        "proxies log URLs."
                    ),
                }
            },
        },
    }


def asyncapi_problems(document: dict) -> list[str]:
    """What makes ``document`` an invalid AsyncAPI 3.0.0 document, one line each (none: valid)."""
    problems = []
    for error in _asyncapi_validator().iter_errors(document):
        # "not valid under any of the given schemas": the branch that came closest says why.
        cause = best_match(error.context) if error.context else error
        where = "/".join(str(part) for part in cause.absolute_path) or "(document)"
        problems.append(f"{where}: {cause.message[:300]}")
    return problems


@cache
def _asyncapi_validator() -> Draft7Validator:
    return Draft7Validator(json.loads((Path(settings.BASE_DIR) / ASYNCAPI_SCHEMA).read_text()))


def asyncapi_json(document: dict) -> str:
    """The document as the file ``manage.py asyncapi`` writes and CI keeps."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --- Parts -------------------------------------------------------------------------------------


def _operation_id(spec: MessageSpec) -> str:
    return f"{'receive' if spec.sender == 'phone' else 'send'}.{spec.name}"


def _message_ref(spec: MessageSpec) -> dict:
    return {"$ref": f"#/channels/{CHANNEL}/messages/{spec.id}"}


def _operation(spec: MessageSpec) -> dict:
    operation: dict = {
        "action": "receive" if spec.sender == "phone" else "send",
        "channel": {"$ref": f"#/channels/{CHANNEL}"},
        "summary": spec.summary,
        "messages": [_message_ref(spec)],
    }
    if spec.answers:
        operation["reply"] = {
            "channel": {"$ref": f"#/channels/{CHANNEL}"},
            "messages": [_message_ref(SERVER_MESSAGES[name]) for name in spec.answers],
        }
    return operation


def _message(spec: MessageSpec) -> dict:
    sender = "The phone sends" if spec.sender == "phone" else "The server sends"
    return {
        "name": spec.name,
        "title": f"{sender} {spec.name}",
        "summary": spec.summary,
        "description": spec.description,
        "payload": {"$ref": f"#/components/schemas/{spec.id}"},
    }


def _websocket_binding() -> dict:
    hello = PHONE_MESSAGES["auth"].schema["properties"]
    return {
        "method": "GET",
        "query": {
            "type": "object",
            "description": (
                "With the token in the handshake, the hello fields an `auth` message would "
                "carry (none of them secret); since_seq in decimal digits. A malformed one is "
                "named in an `invalid_realtime_data` error and ignored, as in `auth`."
            ),
            "properties": {
                name: hello[name]
                for name in ("device", "app_version", "transport", "since_seq", "session_id")
            },
        },
        "headers": {
            "type": "object",
            "properties": {
                "Sec-WebSocket-Protocol": {
                    "type": "string",
                    "description": f"`{PROTOCOL}`, and `{BEARER_PREFIX}<token>` to authenticate.",
                }
            },
        },
        "bindingVersion": "0.1.0",
    }


def _overview() -> str:
    return (
        "While riding, each phone keeps one WebSocket to its ride: presence, positions, the "
        "state of each WebRTC link, and WebRTC signalling between two riders. Every frame is "
        "one JSON text object with a `type`; times are ISO 8601 in UTC. docs/realtime.md "
        "explains the protocol; this document is generated from the registry the server "
        "checks every phone message against (sessions_rt/messages.py), so it cannot drift "
        "from what the server does."
    )


def _channel_description() -> str:
    rate, burst = settings.WS_MESSAGES_PER_SECOND, settings.WS_MESSAGE_BURST
    errors = "\n".join(f"| `{error.code}` | {when} |" for error, when in SOCKET_ERRORS.items())
    closes = "\n".join(f"| {int(code)} | {meaning} |" for code, meaning in _CLOSE_CODES.items())
    return f"""Only an active participant of an active ride may connect: join over REST first.

**Authenticate** with the rider's token in the handshake (`Sec-WebSocket-Protocol: {PROTOCOL},
{BEARER_PREFIX}<token>`, hello fields in the query string) or in a first `auth` message within
{settings.WS_AUTH_TIMEOUT_SECONDS} s.

**The first message** is a `snapshot`, or, for a phone that sends the since_seq and
session_id of its last snapshot or event, exactly the `events` it missed (a snapshot when
those are older than the {settings.REALTIME_EVENT_LOG_LENGTH} events kept, ahead of the
ride's, or of another session). Ride events carry a per-ride increasing `seq` and reach every
socket in seq order; a socket never sends an event at or below the seq its phone holds from
it (its own `member_joined` after its snapshot, its own return after a resume).

**Limits.** A frame is at most {settings.WS_MAX_MESSAGE_BYTES} bytes of UTF-8; a larger one
closes the socket with 1009. A socket may send {rate} messages a second with bursts of
{burst}: every frame counts (binary and malformed ones too), a frame that finds the allowance
spent is dropped unread and answered `rate_limited`, and the {CLOSE_AFTER_DROPPED}th frame
dropped in a row, with none taken in between, closes the socket with 4008. After 1009 or 4008
the rider leaves the live ride at once (`member_left`, reason protocol_error): those are bugs
of the app, not tunnels.

**Errors**: an `error` frame always carries `code`, `message` and `fields`, and the `ref` of
the message it is about when that had a valid one.

| code | when |
|---|---|
{errors}

**Close codes**

| code | meaning |
|---|---|
{closes}
"""


_CLOSE_CODES = {
    CloseCode.CLIENT_CLOSED: "Closed by the phone: the rider leaves the live ride at once.",
    CloseCode.SERVER_SHUTDOWN: (
        "The server is shutting down; the ride sees the rider reconnecting. Reconnect after "
        "the reason's retry_after_ms (`server shutdown; retry_after_ms=4213`), drawn per socket "
        "over WS_RESTART_RECONNECT_WINDOW_SECONDS."
    ),
    CloseCode.MESSAGE_TOO_BIG: (
        "A frame over the byte limit. The rider leaves the ride (protocol_error): fix the app."
    ),
    CloseCode.TRY_AGAIN: (
        "Live state (Redis) unavailable. Reconnect after the reason's retry_after_ms "
        "(`live state unavailable; retry_after_ms=17544`), drawn per socket over "
        "WS_UNAVAILABLE_RECONNECT_WINDOW_SECONDS; double the wait after another 1013."
    ),
    CloseCode.UNAUTHENTICATED: "No token, a wrong or expired one, or no `auth` in time. Log in again.",
    CloseCode.NOT_PARTICIPANT: (
        "Not an active participant of this ride. Join over REST first "
        "(`GET rooms/{code}/presence/` refuses the same riders, 403 not_room_member)."
    ),
    CloseCode.ROOM_NOT_FOUND: "No ride has this code.",
    CloseCode.RATE_LIMITED: (
        "A flood (the rule above). The rider leaves the ride (protocol_error): back off, "
        "reconnect later."
    ),
    CloseCode.DUPLICATE_SESSION: "The same rider connected another socket. Stay on the new one.",
    CloseCode.KICKED: (
        "Removed by the leader or support: to a socket open at the removal, after `removed`; "
        "to any socket of the rider afterwards, at connect. Leave the ride screen: the rider "
        "cannot join it again (REST 403 removed_from_ride) until readmitted."
    ),
    CloseCode.ROOM_CLOSED: "The ride ended. Leave the ride screen.",
    CloseCode.LEFT_ROOM: "The rider left this ride (over REST, or by joining another).",
    CloseCode.DEACTIVATED: (
        "A moderator deactivated the rider's account, after `removed` (deactivated). The "
        "account's tokens no longer work: a new socket gets 4001. Tell the rider their account "
        "was deactivated and sign out."
    ),
    CloseCode.TIMED_OUT: (
        "Not heard from for PRESENCE_TTL_SECONDS with the socket still open: after its own "
        "`member_left` (timed_out) the rider is out of the live ride but still a participant. "
        "Connect again; no REST join is needed."
    ),
}
