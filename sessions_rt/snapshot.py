"""The full live state of a room, as phones receive it when deltas won't do."""

import json
import uuid

from redis import Redis

from sessions_rt.client import redis_client
from sessions_rt.clock import iso_from_ms, to_ms
from sessions_rt.scripts import run_room_script
from sessions_rt.validation import canonical_id


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
