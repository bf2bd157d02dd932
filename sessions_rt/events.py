"""Room events: what changed, numbered per room so a phone can ask for what it missed."""

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from redis import Redis

from sessions_rt.client import redis_client
from sessions_rt.clock import from_ms, iso, to_ms
from sessions_rt.errors import InvalidRealtimeData
from sessions_rt.scripts import run_room_script
from sessions_rt.snapshot import snapshot_from_dump
from sessions_rt.validation import canonical_id

# Event types: member_joined, member_left, presence_changed, connection_changed, sweep_changed.


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    room_id: str
    rider_id: str
    payload: dict
    at: datetime

    def as_dict(self) -> dict:
        """The event as JSON-ready data, as phones receive it."""
        return {
            "seq": self.seq,
            "type": self.type,
            "room_id": self.room_id,
            "rider_id": self.rider_id,
            "payload": self.payload,
            "at": iso(self.at),
        }


@dataclass(frozen=True)
class EventsSince:
    """Either exactly the events after the phone's seq, or a snapshot to start over from."""

    events: list[Event] = field(default_factory=list)
    snapshot: dict | None = None


def event_from_json(room_id: str, raw: bytes | str) -> Event:
    data = json.loads(raw)
    return Event(
        seq=data["seq"],
        type=data["type"],
        room_id=room_id,
        rider_id=data["rider_id"],
        payload=data["payload"],
        at=from_ms(data["at"]),
    )


def event_or_none(room_id: str, raw: bytes | str) -> Event | None:
    """Scripts answer '' when a call changed nothing worth an event."""
    return event_from_json(room_id, raw) if raw else None


def events_since(
    room_id: uuid.UUID | str,
    *,
    seq: int,
    session_id: str,
    client: Redis | None = None,
) -> EventsSince:
    """What a phone missed since ``seq`` of the live session ``session_id`` (both from its last
    snapshot or event). A seq from another session, ahead of the room's, or older than the kept
    log gets a snapshot instead; a room with no live session gets an empty snapshot.
    """
    room = canonical_id(room_id, field="room_id")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise InvalidRealtimeData(
            "seq must be a whole number of at least 0.", fields={"seq": "At least 0."}
        )
    if not isinstance(session_id, str):
        raise InvalidRealtimeData(
            "session_id must be text.", fields={"session_id": "The id from the snapshot."}
        )
    kind, content = run_room_script(
        "events_since",
        client=redis_client(client),
        room_id=room,
        now_ms=to_ms(None),
        args=(seq, session_id),
        index="skip",
    )
    if kind == b"events":
        return EventsSince(events=[event_from_json(room, raw) for raw in content])
    return EventsSince(snapshot=snapshot_from_dump(room, content))
