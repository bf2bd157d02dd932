"""JSON Schema fragments of the values the ride socket carries, built from the limits in
sessions_rt.protocol: one source for what the socket refuses, the sentence an error names a
field with (each fragment's description), and the published AsyncAPI document.

Draft 07, the dialect of AsyncAPI 3.0's Schema Object. The registry of messages that uses
these is sessions_rt.messages.
"""

from collections.abc import Iterable
from enum import StrEnum

from jsonschema import Draft7Validator, FormatChecker, validators
from jsonschema.protocols import Validator

from rooms.models import AlertKind, AlertResolution, AlertStatus
from sessions_rt import protocol
from sessions_rt.protocol import (
    IceConnectionState,
    NetworkType,
    PeerConnectionState,
    PresenceStatus,
    RideRole,
)

# A label a support agent reads (protocol.printable_label); JSON Schema has no word for it, so
# it is a format of Convoy's own, which other validators pass over.
PRINTABLE = "printable-text"
FORMATS = FormatChecker()
FORMATS.checks(PRINTABLE)(
    lambda value: not isinstance(value, str) or protocol.printable_label(value)
)


def _json_integer(checker, instance) -> bool:
    # A whole number as written, as the REST API takes it: 80, not 80.0, and never true.
    return isinstance(instance, int) and not isinstance(instance, bool)


_ConvoyDraft7 = validators.extend(
    Draft7Validator,
    type_checker=Draft7Validator.TYPE_CHECKER.redefine("integer", _json_integer),
)


def strict_validator(schema: dict, **options) -> Validator:
    """A draft 07 validator of ``schema`` that checks formats (uuid, date-time, printable-text)
    and takes only integers written without a fraction for "integer"."""
    return _ConvoyDraft7(schema, format_checker=FORMATS, **options)


_HEX = "[0-9a-fA-F]"
_UUID_PATTERN = f"^{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}$"
# Every time the server sends: ISO 8601 in UTC, to the millisecond (store.client.iso).
_MOMENT_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"


# --- Field schemas: each description is also the sentence an error names the field with --------


def _figure(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def nullable(schema: dict, *, meaning: str = "") -> dict:
    """``schema`` or null; ``meaning`` says what null means."""
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    widened = {**schema, "type": [*types, "null"]}
    if "enum" in schema:
        widened["enum"] = [*schema["enum"], None]
    if meaning:
        widened["description"] = f"{schema['description'].rstrip('.')}, or null: {meaning}."
    return widened


def number(meaning: str, *, low: float, high: float) -> dict:
    return {
        "type": "number",
        "minimum": low,
        "maximum": high,
        "description": f"{meaning}: a number from {_figure(low)} to {_figure(high)}.",
    }


def whole_number(meaning: str, *, low: int, high: int = protocol.MAX_JSON_INTEGER) -> dict:
    limits = f"from {low} to {high}" if high < protocol.MAX_JSON_INTEGER else f"of at least {low}"
    return {
        "type": "integer",
        "minimum": low,
        "maximum": high,
        "description": f"{meaning}: a whole number {limits}, written without a fraction.",
    }


def words(meaning: str, values: Iterable[StrEnum | str]) -> dict:
    allowed = sorted(str(value) for value in values)
    return {
        "type": "string",
        "enum": allowed,
        "description": f"{meaning}: one of {', '.join(allowed)}.",
    }


def identifier(meaning: str) -> dict:
    return {
        "type": "string",
        "format": "uuid",
        "pattern": _UUID_PATTERN,
        "description": f"{meaning}: a UUID.",
    }


def label(meaning: str, *, max_length: int) -> dict:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "format": PRINTABLE,
        "description": (
            f"{meaning}: printable text of 1 to {max_length} characters, not blank, without "
            "control or invisible characters."
        ),
    }


def text(meaning: str, *, max_length: int | None = None) -> dict:
    schema: dict = {"type": "string", "description": f"{meaning}."}
    if max_length is not None:
        schema.update(minLength=1, maxLength=max_length)
        schema["description"] = f"{meaning}: text of 1 to {max_length} characters."
    return schema


def moment(meaning: str) -> dict:
    return {
        "type": "string",
        "format": "date-time",
        "pattern": _MOMENT_PATTERN,
        "description": f"{meaning}: ISO 8601 in UTC, to the millisecond.",
    }


def component(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def array_of(meaning: str, items: dict) -> dict:
    return {"type": "array", "items": items, "description": f"{meaning}."}


REF = {
    "type": ["string", "integer"],
    "maxLength": protocol.REF_MAX_LENGTH,
    "minimum": -protocol.MAX_JSON_INTEGER,
    "maximum": protocol.MAX_JSON_INTEGER,
    "description": (
        "The phone's own label for this message, echoed in its answer and in any error about "
        f"it: text of up to {protocol.REF_MAX_LENGTH} characters, or a whole number."
    ),
}
ECHOED_REF = nullable(
    {**REF, "description": "The ref of the message answered."}, meaning="it had none"
)
LATITUDE = number(
    "Latitude in degrees (Redis tracks no position nearer the poles)",
    low=-protocol.GEO_MAX_LATITUDE,
    high=protocol.GEO_MAX_LATITUDE,
)
LONGITUDE = number("Longitude in degrees", low=-180, high=180)
SPEED = number("Speed in km/h", low=0, high=protocol.MAX_SPEED_KMH)
HEADING = number("Heading in degrees from north", low=0, high=360)
BATTERY = whole_number("Battery charge in percent", low=0, high=100)
SEQ = whole_number("A ride event's sequence number", low=0)
DISTANCE = number("A distance in kilometres", low=0, high=protocol.MAX_DISTANCE_KM)
PAUSED = {
    "type": "boolean",
    "description": "true to pause sharing the rider's position, false to share it again.",
}
PAUSED_NOW = {
    "type": "boolean",
    "description": "Whether the rider's position sharing is paused now.",
}
SIGNAL_PAYLOAD = {
    "type": ["object", "null"],
    "description": (
        "The RTCSessionDescription (offer, answer) or RTCIceCandidate (candidate) as its toJSON "
        "gives it, or null for the end of candidates; relayed unchanged. At most "
        f"{protocol.SIGNAL_PAYLOAD_MAX_BYTES} bytes as JSON (UTF-8)."
    ),
}


POSITION_FIELDS = {
    "lat": LATITUDE,
    "lon": LONGITUDE,
    "speed_kmh": nullable(SPEED, meaning="unknown"),
    "heading_deg": nullable(HEADING, meaning="unknown"),
    "at": moment("When the server stored it"),
}


def _closed(properties: dict, description: str) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
        "description": description,
    }


ALERT_KIND = words(
    "What the alert is: split (cut off from the group), stopped (stopped while the group "
    "rode on), silent (went silent at speed), sos (the rider asked for help)",
    AlertKind,
)
ALERT_DETAILS = {
    "type": "object",
    "description": (
        "What the rule saw, for the app to show: for example metres_behind (split), "
        "stopped_seconds (stopped), a dead-zone hint (silent). Keys may be added; ignore "
        "the ones you do not know."
    ),
}
ALERT_RESOLUTION = words(
    "How it ended: rider_back, false_alarm, handled, condition_cleared (the server saw the "
    "condition end)",
    AlertResolution,
)
_ALERT_POSITION_FIELDS = {
    "lat": LATITUDE,
    "lon": LONGITUDE,
    "speed_kmh": nullable(SPEED, meaning="unknown"),
    "heading_deg": nullable(HEADING, meaning="unknown"),
    "at": nullable(moment("When the rider was there"), meaning="unknown"),
}
ALERT_POSITION = {
    "oneOf": [component("AlertPosition"), {"type": "null"}],
    "description": "The rider's last known position when the alert was raised, or null: none.",
}

# Parts of server messages that several share, under components/schemas in the document.
SHARED_SCHEMAS = {
    "AlertPosition": _closed(
        _ALERT_POSITION_FIELDS, "Where a rider was last known to be when an alert was raised."
    ),
    "Alert": _closed(
        {
            "alert_id": identifier("The alert"),
            "rider_id": identifier("The rider it is about"),
            "kind": ALERT_KIND,
            "status": words("Where it stands", [AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]),
            "raised_at": moment("When it was raised"),
            "position": ALERT_POSITION,
            "details": ALERT_DETAILS,
            "acknowledged_by_id": nullable(identifier("Who acknowledged it"), meaning="nobody yet"),
            "acknowledged_at": nullable(moment("When"), meaning="not acknowledged"),
        },
        "A ride alert that is not over, as the snapshot lists it.",
    ),
    "Position": _closed(POSITION_FIELDS, "A rider's latest position."),
    "Member": _closed(
        {
            "rider_id": identifier("The rider"),
            "joined_at": moment("When the rider's phone joined the live ride"),
            "role": words("The rider's role", RideRole),
            "status": nullable(words("The rider's status", PresenceStatus)),
            "last_seen": nullable(moment("When the phone was last heard from")),
            "battery_pct": nullable(BATTERY, meaning="not reported"),
            "network_type": nullable(words("The network", NetworkType), meaning="not reported"),
            "location_paused": {
                "type": "boolean",
                "description": "Whether the rider paused sharing their position (location is "
                "then null).",
            },
            "location": {
                "oneOf": [component("Position"), {"type": "null"}],
                "description": "The latest position, or null: none yet, or sharing paused.",
            },
        },
        "A live rider of the ride, in join order.",
    ),
    "Link": _closed(
        {
            "rider_id": identifier("The rider who reported it"),
            "peer_id": identifier("The other end"),
            "state": words("RTCPeerConnection.connectionState", PeerConnectionState),
            "ice_state": nullable(
                words("RTCPeerConnection.iceConnectionState", IceConnectionState),
                meaning="not reported",
            ),
            "changed_at": moment("When the state last changed"),
        },
        "A WebRTC link as one rider reported it.",
    ),
    "RiderDistance": _closed(
        {
            "rider_id": identifier("The rider"),
            "distance_km": {
                **DISTANCE,
                "description": "Great-circle distance in km, rounded to the metre.",
            },
        },
        "A rider and their distance from the reference.",
    ),
}

SNAPSHOT_FIELDS = {
    "room_id": identifier("The ride"),
    "session_id": nullable(text("The live session the seq belongs to"), meaning="no rider is live"),
    "seq": {**SEQ, "description": "The seq this state is current to."},
    "created_at": nullable(moment("When the live session began"), meaning="none"),
    "last_activity": nullable(moment("The ride's last activity"), meaning="none"),
    "leader_id": nullable(identifier("The leader, the ride's creator"), meaning="account gone"),
    "sweep_id": nullable(identifier("The sweep"), meaning="none"),
    "member_count": whole_number("How many riders are live", low=0),
    "members": array_of("The live riders, in join order", component("Member")),
    "connections": array_of("Their WebRTC links", component("Link")),
}

RIDERS = array_of("The riders found, in the order the answer defines", component("RiderDistance"))
