"""Every message of the ride socket, both ways, in one registry: its JSON Schema and, for what
the phone sends, the consumer method that handles it and what the server answers.

The schemas are built from sessions_rt.schemas, so the values the socket refuses, the words
of each field's error and the published document (sessions_rt.asyncapi, served at
/api/asyncapi/) come from one place. The consumer checks each phone message against its schema
before any handler runs; the tests check each frame the server sends against the document.

- Phone messages are open: fields a schema does not name are ignored, so a newer app works
  with an older server. Each may carry a ``ref``, echoed in its answer and in any error.
- Server messages are closed (``additionalProperties: false``): the document lists every field
  the server sends, and the tests hold the server to it.
"""

import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from jsonschema.protocols import Validator

from config.errors import DomainError
from rooms.alerts import MAX_COUNTDOWN_SECONDS
from rooms.errors import NoSosToCancel, NotInRoom, RoomInactive
from rooms.models import AlertStatus
from sessions_rt import protocol
from sessions_rt.errors import (
    AlreadyAuthenticated,
    BinaryNotSupported,
    InvalidJson,
    InvalidMessage,
    InvalidRealtimeData,
    InvalidSweep,
    MessageDropped,
    NoReferencePosition,
    NotAuthenticated,
    NotLiveMember,
    NotRideLeader,
    UnknownMessageType,
)
from sessions_rt.protocol import (
    CLIENT_STATUSES,
    DistanceReference,
    IceConnectionState,
    LeaveReason,
    NetworkType,
    PeerConnectionState,
    PresenceStatus,
    RemovalReason,
    RideRole,
    SignalKind,
    Transport,
)
from sessions_rt.schemas import (
    ALERT_DETAILS,
    ALERT_KIND,
    ALERT_POSITION,
    ALERT_RESOLUTION,
    BATTERY,
    DISTANCE,
    ECHOED_REF,
    HEADING,
    LATITUDE,
    LONGITUDE,
    PAUSED,
    PAUSED_NOW,
    POSITION_FIELDS,
    REF,
    RIDERS,
    SEQ,
    SIGNAL_PAYLOAD,
    SNAPSHOT_FIELDS,
    SPEED,
    array_of,
    component,
    identifier,
    label,
    moment,
    nullable,
    strict_validator,
    text,
    whole_number,
    words,
)

Sender = Literal["phone", "server"]

# --- The registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageSpec:
    """One message type one side sends: its fields' schemas, which of them it must carry,
    and, for the phone's, the consumer method that handles it and what the server answers."""

    sender: Sender
    name: str
    summary: str
    description: str
    properties: dict[str, dict] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    handler: str = ""
    answers: tuple[str, ...] = ()
    # Phone messages only: refused before the socket is authenticated (all but auth).
    needs_auth: bool = True
    # Phone messages only: a field that breaks its schema is reported and dropped, and the
    # message is taken without it, instead of refused (auth: see docs/realtime.md).
    lenient: bool = False

    @property
    def id(self) -> str:
        """Its name in the AsyncAPI document: phone and server both send a ``location``."""
        return f"{self.sender}.{self.name}"

    @cached_property
    def schema(self) -> dict:
        own = dict(self.properties)
        if self.sender == "phone":
            own.setdefault("ref", REF)
        return {
            "type": "object",
            "title": self.id,
            "description": self.summary,
            "properties": {"type": {"type": "string", "const": self.name}, **own},
            "required": ["type", *self.required],
            "additionalProperties": self.sender == "phone",
        }

    @cached_property
    def _validator(self) -> Validator:
        return strict_validator(self.schema)

    def problems(self, message: dict) -> dict[str, str]:
        """Each field of ``message`` that breaks this schema, with the rule it breaks."""
        if self._validator.is_valid(message):
            return {}
        found: dict[str, str] = {}
        for error in self._validator.iter_errors(message):
            if error.path:
                name = str(error.path[0])
                found.setdefault(name, self._rule(name))
            elif error.validator == "required":
                for name in error.validator_value:
                    if name not in message:
                        found.setdefault(name, f"Required. {self._rule(name)}")
        return dict(sorted(found.items()))

    def _rule(self, name: str) -> str:
        return self.schema["properties"].get(name, {}).get("description", "Not valid.")


@dataclass(frozen=True)
class PhoneMessage:
    """A phone message as the consumer takes it: its spec, its fields (any dropped by a lenient
    spec removed), and the dropped ones with the rule each broke."""

    spec: MessageSpec
    fields: dict
    ignored: dict[str, str]

    @property
    def ref(self):
        return self.fields.get("ref")


def phone_message(frame: object, *, authenticated: bool) -> PhoneMessage:
    """The decoded frame as a message of the phone's, or the error the phone gets: not a
    message at all (invalid_message), anything but auth on a socket not yet authenticated
    (not_authenticated), of no type it may send (unknown_type), or with fields that break its
    schema (invalid_realtime_data, each field named)."""
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise InvalidMessage(fields={"type": _TYPE_RULE})
    spec = PHONE_MESSAGES.get(frame["type"])
    if not authenticated and (spec is None or spec.needs_auth):
        raise NotAuthenticated()
    if spec is None:
        raise UnknownMessageType(
            f"Unknown message type {frame['type'][:40]!r}.", fields={"type": _TYPE_RULE}
        )
    problems = spec.problems(frame)
    if not problems:
        return PhoneMessage(spec=spec, fields=frame, ignored={})
    if not spec.lenient:
        raise InvalidRealtimeData(
            f"The {spec.name} message has fields that are not valid: {', '.join(problems)}.",
            fields=problems,
        )
    kept = {name: value for name, value in frame.items() if name not in problems}
    return PhoneMessage(spec=spec, fields=kept, ignored=problems)


def handshake_hello(query_string: bytes) -> PhoneMessage:
    """The hello fields a phone that sends its token in the handshake puts in the URL's query
    (``?since_seq=41&session_id=…``), taken as an ``auth`` message without a token would be.
    Values are text in a URL: a since_seq of ASCII digits is read as a number."""
    query = urllib.parse.parse_qs(query_string.decode("latin-1"), keep_blank_values=True)
    hello: dict = {"type": "auth"}
    for name in HELLO_FIELDS:
        if name in query:
            # Given twice, the list of both: a schema error like any other.
            hello[name] = query[name][0] if len(query[name]) == 1 else query[name]
    since_seq = hello.get("since_seq")
    if isinstance(since_seq, str) and since_seq.isascii() and since_seq.isdigit():
        hello["since_seq"] = int(since_seq)
    spec = PHONE_MESSAGES["auth"]
    problems = {name: rule for name, rule in spec.problems(hello).items() if name != "token"}
    kept = {name: value for name, value in hello.items() if name not in problems}
    return PhoneMessage(spec=spec, fields=kept, ignored=problems)


_REF_VALIDATOR = strict_validator(REF)


def echoable_ref(frame: object):
    """The frame's ref, if it has a valid one: an error about the frame echoes it."""
    if isinstance(frame, dict) and _REF_VALIDATOR.is_valid(frame.get("ref")):
        return frame.get("ref")
    return None


def _registry(specs: Iterable[MessageSpec]) -> dict[str, MessageSpec]:
    return {spec.name: spec for spec in specs}


SINCE_SEQ = whole_number(
    "The seq of the last snapshot or event the phone holds (with session_id, only the events "
    "since are sent)",
    low=0,
)
SESSION_ID = text(
    "The session_id of the snapshot that seq belongs to", max_length=protocol.SESSION_ID_MAX_LENGTH
)

PHONE_MESSAGES = _registry(
    [
        MessageSpec(
            sender="phone",
            name="auth",
            summary="Authenticate, if the token was not in the handshake, and say hello.",
            description=(
                "The first message, within WS_AUTH_TIMEOUT_SECONDS of connecting, when the "
                "handshake carried no `bearer.<token>` subprotocol. A missing, wrong or "
                "expired token closes the socket with 4001. Any other field that breaks its "
                "schema is named in one `invalid_realtime_data` error and ignored: the rider "
                "joins without it (no device recorded, a snapshot instead of a resume)."
            ),
            properties={
                "token": text(
                    "The rider's API token, as the log-in answered it",
                    max_length=protocol.TOKEN_MAX_LENGTH,
                ),
                "device": label("The phone's model", max_length=protocol.DEVICE_MAX_LENGTH),
                "app_version": label(
                    "The app's version", max_length=protocol.APP_VERSION_MAX_LENGTH
                ),
                "transport": words("How the phone carries the ride's audio", Transport),
                "since_seq": SINCE_SEQ,
                "session_id": SESSION_ID,
            },
            required=("token",),
            handler="on_auth",
            answers=("snapshot", "events"),
            needs_auth=False,
            lenient=True,
        ),
        MessageSpec(
            sender="phone",
            name="heartbeat",
            summary="Keep the rider present; send about one a second.",
            description=(
                "Answered by `heartbeat_ack`. Only one that comes WS_HEARTBEAT_REFRESH_SECONDS "
                "or more after the rider was last marked seen (by a heartbeat, a location or a "
                "status) writes to Redis."
            ),
            handler="on_heartbeat",
            answers=("heartbeat_ack",),
        ),
        MessageSpec(
            sender="phone",
            name="status",
            summary="The rider's status, battery and network.",
            description=(
                "Every socket of the ride, the sender's included, gets `presence_changed` "
                "when anything changed. Counts as a heartbeat."
            ),
            properties={
                "status": words("What the rider is doing", CLIENT_STATUSES),
                "battery_pct": nullable(BATTERY, meaning="keep the last value"),
                "network_type": nullable(
                    words("The phone's network", NetworkType), meaning="keep the last value"
                ),
            },
            required=("status",),
            handler="on_status",
        ),
        MessageSpec(
            sender="phone",
            name="location",
            summary="The rider's position; send about one a second.",
            description=(
                "Stored and sent to every other socket of the ride as `location`; the sender "
                "gets no copy (its phone knows where it is). Counts as a heartbeat."
            ),
            properties={
                "lat": LATITUDE,
                "lon": LONGITUDE,
                "speed_kmh": nullable(SPEED, meaning="unknown"),
                "heading_deg": nullable(HEADING, meaning="unknown"),
            },
            required=("lat", "lon"),
            handler="on_location",
        ),
        MessageSpec(
            sender="phone",
            name="location_sharing",
            summary="Pause sharing the rider's position with the ride, or share it again.",
            description=(
                "When it changes, every socket of the ride, the sender's included, gets "
                "`location_sharing_changed`, with a seq like every ride event. Paused, the "
                "rider's position leaves the ride's live state at once: snapshots and "
                "presence show `location_paused` true and no location, `nearby` and `behind` "
                "leave the rider out, and `location` messages are dropped without an answer "
                "(neither stored nor relayed) until sharing resumes, from the next `location`. "
                "The leader and the sweep see the pause like everyone. It lasts through a "
                "reconnect within the grace period and ends with the rider's live membership. "
                "Counts as a heartbeat."
            ),
            properties={"paused": PAUSED},
            required=("paused",),
            handler="on_location_sharing",
        ),
        MessageSpec(
            sender="phone",
            name="connection_state",
            summary="The state of this rider's WebRTC link to another rider.",
            description=(
                "Every socket of the ride gets `connection_changed` when the state changed; "
                "failures are logged for support."
            ),
            properties={
                "peer_id": identifier("The other end of the link, another live rider of the ride"),
                "state": words("RTCPeerConnection.connectionState", PeerConnectionState),
                "ice_state": nullable(
                    words("RTCPeerConnection.iceConnectionState", IceConnectionState),
                    meaning="keep the last value",
                ),
            },
            required=("peer_id", "state"),
            handler="on_connection_state",
        ),
        MessageSpec(
            sender="phone",
            name="signal",
            summary="WebRTC signalling for one other rider of the ride.",
            description=(
                "Relayed as `signal` to that rider only, if they are live in this ride "
                "(`not_live_member` otherwise)."
            ),
            properties={
                "to": identifier("Who it is for, another live rider of the ride"),
                "kind": words("What it carries", SignalKind),
                "payload": SIGNAL_PAYLOAD,
            },
            required=("to", "kind", "payload"),
            handler="on_signal",
        ),
        MessageSpec(
            sender="phone",
            name="sync",
            summary="Ask for what the phone missed, or for a fresh snapshot.",
            description=(
                "With since_seq and session_id: the events since, as `events`, or a `snapshot` "
                "when they are no longer kept, are ahead of the ride's, or belong to another "
                "session. Without them: a snapshot."
            ),
            properties={"since_seq": SINCE_SEQ, "session_id": SESSION_ID},
            handler="on_sync",
            answers=("snapshot", "events"),
        ),
        MessageSpec(
            sender="phone",
            name="set_sweep",
            summary="The leader names the sweep, the tail rider, or clears it.",
            description=(
                "Only the leader (the ride's creator) may (`not_ride_leader`); the sweep is a "
                "live rider other than the leader (`invalid_sweep`). Everyone gets "
                "`sweep_changed`."
            ),
            properties={
                "rider_id": nullable(
                    identifier("The new sweep, a live rider of the ride"), meaning="no sweep"
                )
            },
            required=("rider_id",),
            handler="on_set_sweep",
        ),
        MessageSpec(
            sender="phone",
            name="nearby",
            summary="Who is within a radius of this rider.",
            description=(
                "Answered by `nearby`: the other riders with a known position within "
                "radius_km, nearest first (`no_reference_position` while this rider has none)."
            ),
            properties={"radius_km": {**DISTANCE, "description": "The radius, in km."}},
            required=("radius_km",),
            handler="on_nearby",
            answers=("nearby",),
        ),
        MessageSpec(
            sender="phone",
            name="sos",
            summary="The rider asks for help: pressed SOS, or the phone's crash detection fired.",
            description=(
                "Answered by `sos_ack`. With no countdown (or 0) the ride gets `alert_raised` "
                "(kind sos) at once; with one, the SOS is pending, known only to this rider, "
                "until the countdown ends, and `sos_cancel` before then ends it without a word "
                "to the ride. The countdown is a row in the database: it runs on if the "
                "socket drops, and the server raises it when due. Repeats answer with the same "
                "alert (one SOS per rider and ride until it is resolved); one with no "
                "countdown raises a pending SOS at once. The alert carries the rider's last "
                "position in the ride."
            ),
            properties={
                "countdown_seconds": whole_number(
                    "Seconds before the ride is alarmed, for the rider to cancel (0: at once)",
                    low=0,
                    high=MAX_COUNTDOWN_SECONDS,
                )
            },
            handler="on_sos",
            answers=("sos_ack",),
        ),
        MessageSpec(
            sender="phone",
            name="sos_cancel",
            summary="I'm OK: the rider ends their SOS.",
            description=(
                "Answered by `sos_ack` with status resolved (a false alarm). A pending SOS "
                "ends without a word to the ride; an open one gets `alert_resolved`. "
                "`no_sos` when the rider has no SOS in this ride."
            ),
            handler="on_sos_cancel",
            answers=("sos_ack",),
        ),
        MessageSpec(
            sender="phone",
            name="behind",
            summary="Who has fallen behind.",
            description=(
                "Answered by `behind`; see that message for the order and what each reference "
                "measures from."
            ),
            properties={
                "threshold_km": {**DISTANCE, "description": "How far is too far, in km."},
                "reference": words("What to measure from (leader if absent)", DistanceReference),
            },
            required=("threshold_km",),
            handler="on_behind",
            answers=("behind",),
        ),
    ]
)

HELLO_FIELDS = ("device", "app_version", "transport", "since_seq", "session_id")
_TYPE_RULE = f"The message's type, text: one of {', '.join(sorted(PHONE_MESSAGES))}."


def _event(name: str, summary: str, description: str, payload: dict, actor: str) -> MessageSpec:
    return MessageSpec(
        sender="server",
        name=name,
        summary=summary,
        description=(
            f"{description} Carries the ride's per-ride increasing `seq`: apply it only if it is "
            "above the one you hold. Also an item of `events`."
        ),
        properties={
            "seq": {**SEQ, "minimum": 1},
            "room_id": identifier("The ride"),
            "rider_id": identifier(actor),
            "payload": {
                "type": "object",
                "properties": payload,
                "required": list(payload),
                "additionalProperties": False,
                "description": "What changed.",
            },
            "at": moment("When it happened"),
        },
        required=("seq", "room_id", "rider_id", "payload", "at"),
    )


EVENTS = (
    _event(
        "member_joined",
        "A rider's phone connected to the ride.",
        "A rider back within the reconnect grace period gets `presence_changed` instead.",
        {
            "status": words("The rider's status", [PresenceStatus.ONLINE]),
            "role": words("The rider's role", RideRole),
        },
        "Who joined",
    ),
    _event(
        "member_left",
        "A rider is out of the live ride.",
        "reason: client_closed (the app closed its socket), kicked or left (over REST), "
        "room_closed, duplicate_session, server_shutdown, timed_out (not back within "
        "RECONNECT_GRACE_SECONDS, or not heard from for PRESENCE_TTL_SECONDS: still a "
        "participant, the rider comes back by connecting again), protocol_error (the server "
        "closed the socket with 1009 or 4008).",
        {
            "reason": words("Why", LeaveReason),
            "role": words("The role the rider had", RideRole),
        },
        "Who left",
    ),
    _event(
        "presence_changed",
        "A rider's status, battery or network changed.",
        "`reconnecting` when the rider's socket dropped without a clean close (a tunnel); "
        "back to their status when they reconnect within the grace period.",
        {
            "status": words("The rider's status now", PresenceStatus),
            "previous_status": nullable(words("The status before", PresenceStatus)),
            "battery_pct": nullable(BATTERY, meaning="not reported"),
            "network_type": nullable(words("The network", NetworkType), meaning="not reported"),
        },
        "Whose presence",
    ),
    _event(
        "location_sharing_changed",
        "A rider paused sharing their position, or shares it again.",
        "Paused: the rider's last position is gone from the live state (drop it from the map "
        'and show "location paused"), and no `location` of theirs comes until they share '
        "again. The leader and the sweep see it like everyone.",
        {"location_paused": PAUSED_NOW},
        "Whose position",
    ),
    _event(
        "connection_changed",
        "A WebRTC link between two riders changed state.",
        "As the rider at one end reported it.",
        {
            "peer_id": identifier("The other end"),
            "state": words("RTCPeerConnection.connectionState", PeerConnectionState),
            "ice_state": nullable(
                words("RTCPeerConnection.iceConnectionState", IceConnectionState),
                meaning="not reported",
            ),
            "previous_state": nullable(
                words("The state before", PeerConnectionState), meaning="a new link"
            ),
        },
        "Who reported it",
    ),
    _event(
        "alert_raised",
        "A rider of the ride may be in trouble: the server's watch or the rider's SOS raised "
        "an alert.",
        "rider_id is the rider it is about. Every socket of the ride gets it at once; the "
        "phones of the riders in alarm_first (the leader and the sweep, but never the rider "
        "in trouble) alarm first: sound and full screen, the others a notice. One alert per "
        "rider and kind until it is resolved: a condition that lasts raises nothing more. "
        "An SOS with a countdown is raised when the countdown ends, unless its rider "
        "cancelled it. Apply alert events by alert_id: one can come after a snapshot that "
        "already lists it.",
        {
            "alert_id": identifier("The alert"),
            "kind": ALERT_KIND,
            "raised_at": moment("When it was raised (for an SOS, when the rider pressed it)"),
            "opened_at": moment("When the ride was told: the end of an SOS countdown"),
            "position": ALERT_POSITION,
            "details": ALERT_DETAILS,
            "alarm_first": array_of(
                "The riders whose phones alarm first: the leader, then the sweep, when the "
                "ride has them and they are not the rider in trouble",
                identifier("A rider"),
            ),
        },
        "The rider it is about",
    ),
    _event(
        "alert_acknowledged",
        "Someone in the ride (or support) is on an alert.",
        "Only the first acknowledgment of an alert is announced.",
        {
            "alert_id": identifier("The alert"),
            "kind": ALERT_KIND,
            "by_id": identifier("Who acknowledged it"),
            "acknowledged_at": moment("When"),
        },
        "The rider it is about",
    ),
    _event(
        "alert_resolved",
        "An alert is over.",
        "by_id null: the server ended it because its condition ended (the rider is back, "
        "the group rejoined, the rider moves again).",
        {
            "alert_id": identifier("The alert"),
            "kind": ALERT_KIND,
            "resolution": ALERT_RESOLUTION,
            "by_id": nullable(identifier("Who resolved it"), meaning="the server"),
            "resolved_at": moment("When"),
        },
        "The rider it is about",
    ),
    _event(
        "sweep_changed",
        "The leader named a sweep, or cleared it.",
        "A sweep who leaves is cleared with their member_left, without this event.",
        {
            "sweep_id": nullable(identifier("The sweep now"), meaning="none"),
            "previous_sweep_id": nullable(identifier("The sweep before"), meaning="none"),
        },
        "The leader",
    ),
)

# Which error each mistake gets. Every error frame carries fields, {} when no one field is at
# fault, and the ref of the message it is about when that had a valid one.
SOCKET_ERRORS: dict[type[DomainError], str] = {
    InvalidJson: (
        "The frame is not JSON a phone's parser reads back: not JSON, NaN or Infinity, a "
        "number out of range, nesting deeper than the server follows. fields {}."
    ),
    BinaryNotSupported: "A binary frame. fields {}.",
    MessageDropped: (
        "The frame found the socket's message allowance spent: dropped unread, so no ref. "
        "fields {}."
    ),
    InvalidMessage: "JSON, but not an object with a text type. fields: type.",
    UnknownMessageType: "A type the phone does not send. fields: type.",
    NotAuthenticated: (
        "Any message but auth, of any type, before the socket is authenticated: nothing else "
        "is read. fields {}."
    ),
    AlreadyAuthenticated: "auth on an authenticated socket. fields {}.",
    InvalidRealtimeData: (
        "A message whose fields break its schema (missing, of the wrong type, out of range, "
        "not one of the words), or that names this rider where another is meant (peer_id, "
        "to); for auth, the fields ignored. fields: each field at fault."
    ),
    NotLiveMember: (
        "The rider named (fields: to or peer_id) is not live in this ride; or this rider no "
        "longer is (fields {}): connect again."
    ),
    NotRideLeader: "set_sweep from anyone but the leader. fields {}.",
    InvalidSweep: "set_sweep naming the leader, or a rider not live in the ride. fields: rider_id.",
    NoSosToCancel: "sos_cancel from a rider with no SOS in this ride. fields {}.",
    NotInRoom: (
        "sos from a rider whose membership of the ride ended a moment ago (the socket is "
        "closing). fields {}."
    ),
    RoomInactive: "sos in a ride that ended a moment ago (the socket is closing). fields {}.",
    NoReferencePosition: (
        "nearby or behind before the position measured from is known (or the ride has no "
        "leader, or no sweep). fields {}."
    ),
}

SERVER_MESSAGES = _registry(
    [
        MessageSpec(
            sender="server",
            name="snapshot",
            summary="The ride's whole live state, and the seq it is current to.",
            description=(
                "The first message of a socket, and the answer to `sync` when the events "
                "asked for are not kept. Apply events with a seq above its seq on top of it. "
                "Events the snapshot already holds are not sent again on this socket."
            ),
            properties={
                **SNAPSHOT_FIELDS,
                "alerts": array_of(
                    "The ride's alerts that are not over, open first, then acknowledged, "
                    "each newest first (read from the database after the live state)",
                    component("Alert"),
                ),
            },
            required=(*SNAPSHOT_FIELDS, "alerts"),
        ),
        MessageSpec(
            sender="server",
            name="events",
            summary="Exactly the events a phone missed since its since_seq, in seq order.",
            description=(
                "The first message of a socket resuming with since_seq and session_id, and "
                "the answer to `sync`. Events it holds are not sent again on this socket."
            ),
            properties={
                "events": array_of(
                    "The missed events, oldest first",
                    {"oneOf": [component(event.id) for event in EVENTS]},
                )
            },
            required=("events",),
        ),
        *EVENTS,
        MessageSpec(
            sender="server",
            name="location",
            summary="Another rider's new position.",
            description=(
                "Sent to every socket of the ride but the sender's. Positions carry no seq: "
                "the snapshot always has the latest one."
            ),
            properties={"rider_id": identifier("Whose position"), **POSITION_FIELDS},
            required=("rider_id", *POSITION_FIELDS),
        ),
        MessageSpec(
            sender="server",
            name="signal",
            summary="WebRTC signalling another rider sent to this one.",
            description="Relayed unchanged.",
            properties={
                "from": identifier("Who sent it"),
                "kind": words("What it carries", SignalKind),
                "payload": SIGNAL_PAYLOAD,
            },
            required=("from", "kind", "payload"),
        ),
        MessageSpec(
            sender="server",
            name="removed",
            summary="This rider was taken out of the ride over REST; the socket then closes.",
            description=(
                "kicked: by the leader or support, and the socket closes with 4010; the rider "
                "cannot join again (REST 403 removed_from_ride, a socket 4010) until readmitted. "
                "left: the rider left the ride over REST or joined another; 4012. "
                "account_deleted: the rider deleted their account; 4012, and the token no "
                "longer works (a new socket gets 4001)."
            ),
            properties={"reason": words("Why", RemovalReason)},
            required=("reason",),
        ),
        MessageSpec(
            sender="server",
            name="room_closed",
            summary="The ride ended; the socket then closes with 4011.",
            description="Every socket of the ride gets it.",
        ),
        MessageSpec(
            sender="server",
            name="session_replaced",
            summary="The same rider connected another socket; this one then closes with 4009.",
            description="Only the socket that opened last stays.",
        ),
        MessageSpec(
            sender="server",
            name="heartbeat_ack",
            summary="The answer to a heartbeat.",
            description="Every heartbeat is acknowledged.",
            properties={"ref": ECHOED_REF},
            required=("ref",),
        ),
        MessageSpec(
            sender="server",
            name="nearby",
            summary="The answer to `nearby`.",
            description=(
                "The other riders with a known position within radius_km of this rider, "
                "nearest first."
            ),
            properties={"ref": ECHOED_REF, "riders": RIDERS},
            required=("ref", "riders"),
        ),
        MessageSpec(
            sender="server",
            name="behind",
            summary="The answer to `behind`: riders farther than threshold_km from the reference.",
            description=(
                "Distances are great-circle (haversine, on Redis's Earth radius), in any "
                "direction: positions carry no route. Riders without a known position are left "
                "out. Farthest first; equal distances in rider id order. "
                "leader: every rider but the leader, measured from the leader. "
                "median: every rider, the leader too, measured from the group's median point: "
                "the median of the known latitudes and the median of the known longitudes, "
                "each the middle value, or the mean of the two middle values for an even "
                "count (it need not be any rider's position). "
                "sweep: riders farther from the leader than the sweep is, measured from the "
                "sweep. `no_reference_position` when the reference has no position yet (or "
                "the ride no leader or sweep)."
            ),
            properties={"ref": ECHOED_REF, "riders": RIDERS},
            required=("ref", "riders"),
        ),
        MessageSpec(
            sender="server",
            name="sos_ack",
            summary="The answer to `sos` and `sos_cancel`: the rider's SOS as it stands.",
            description=(
                "pending: counting down to due_at, when the ride is alarmed; open or "
                "acknowledged: the ride has been alarmed; resolved: cancelled."
            ),
            properties={
                "ref": ECHOED_REF,
                "alert_id": identifier("The SOS alert"),
                "status": words("Where it stands", AlertStatus),
                "due_at": nullable(
                    moment("When the countdown ends"), meaning="no countdown was asked for"
                ),
            },
            required=("ref", "alert_id", "status", "due_at"),
        ),
        MessageSpec(
            sender="server",
            name="error",
            summary="A message was refused or dropped; the socket stays open.",
            description=(
                "fields names each field at fault with the rule it breaks; it is {} when no "
                "one field is. ref is the refused message's, when it had a valid one."
            ),
            properties={
                "code": {
                    "type": "string",
                    "enum": sorted(error.code for error in SOCKET_ERRORS),
                    "description": "What went wrong: see the table in the channel's description.",
                },
                "message": text("A sentence for developers"),
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Each field at fault, with the rule it breaks.",
                },
                "ref": REF,
            },
            required=("code", "message", "fields"),
        ),
    ]
)
