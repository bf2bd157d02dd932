"""Room events, numbered per room so a phone can ask for what it missed, and the full
live state of a room (the snapshot) that phones receive when deltas won't do."""

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from redis import Redis

from sessions_rt.errors import InvalidRealtimeData
from sessions_rt.protocol import canonical_id
from sessions_rt.store.client import from_ms, iso, iso_from_ms, redis_client, to_ms
from sessions_rt.store.scripts import run_room_script

# Event types: member_joined, member_left, presence_changed, location_sharing_changed,
# connection_changed, sweep_changed.


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


def snapshot(room_id: uuid.UUID | str, *, client: Redis | None = None) -> dict:
    """The room's live state and the seq it is current to, JSON-ready.

    A phone applies events with a higher seq of the same ``session_id`` on top of it. A room
    with no live session has ``session_id`` None, seq 0 and no members.
    """
    room = canonical_id(room_id, field="room_id")
    dump = run_room_script(
        "read", client=redis_client(client), room_id=room, now_ms=to_ms(None), index="skip"
    )
    return snapshot_from_dump(room, dump)


def snapshot_from_dump(room_id: str, dump: list) -> dict:
    """Shape the raw reply of common.lua's dump_room."""
    session_raw, members_raw, presence_raw, last_seen_raw, locations_raw, links_raw, seq = dump
    session = _text_pairs(session_raw)
    leader_id = session.get("leader_id") or None
    sweep_id = session.get("sweep_id") or None
    presence = {rider: json.loads(raw) for rider, raw in _text_pairs(presence_raw).items()}
    last_seen = _text_pairs(last_seen_raw)
    locations = {rider: json.loads(raw) for rider, raw in _text_pairs(locations_raw).items()}
    members = []
    # ZRANGE returns members in score order: join order.
    for rider, joined_at in _text_pairs(members_raw).items():
        record = presence.get(rider, {})
        members.append(
            {
                "rider_id": rider,
                "joined_at": iso_from_ms(joined_at),
                "role": _role(rider, leader_id=leader_id, sweep_id=sweep_id),
                "status": record.get("status"),
                "last_seen": iso_from_ms(last_seen[rider]) if rider in last_seen else None,
                "battery_pct": record.get("battery_pct"),
                "network_type": record.get("network_type"),
                "location_paused": record.get("location_paused") is True,
                "location": _location(locations.get(rider)),
            }
        )
    connections = []
    for field_name, raw in sorted(_text_pairs(links_raw).items()):
        rider, _, peer = field_name.partition(">")
        link = json.loads(raw)
        connections.append(
            {
                "rider_id": rider,
                "peer_id": peer,
                "state": link["state"],
                "ice_state": link.get("ice_state"),
                "changed_at": iso_from_ms(link["changed_at"]),
            }
        )
    return {
        "room_id": room_id,
        "session_id": session.get("session_id"),
        "seq": int(seq),
        "created_at": iso_from_ms(session["created_at"]) if "created_at" in session else None,
        "last_activity": (
            iso_from_ms(session["last_activity"]) if "last_activity" in session else None
        ),
        "leader_id": leader_id,
        "sweep_id": sweep_id,
        "member_count": len(members),
        "members": members,
        "connections": connections,
    }


def _location(details: dict | None) -> dict | None:
    if details is None:
        return None
    return {
        "lat": details["lat"],
        "lon": details["lon"],
        "speed_kmh": details["speed_kmh"],
        "heading_deg": details["heading_deg"],
        "at": iso_from_ms(details["at"]),
    }


def _role(rider: str, *, leader_id: str | None, sweep_id: str | None) -> str:
    if rider == leader_id:
        return "leader"
    if rider == sweep_id:
        return "sweep"
    return "rider"


def _text_pairs(flat: list) -> dict[str, str]:
    """A flat [key, value, key, value, ...] reply of bytes as an ordered dict of text."""
    texts = [item.decode() for item in flat]
    return dict(zip(texts[::2], texts[1::2], strict=True))
