"""The history the ride-safety rules read: each rider's recent trail and their last socket drop.

Both are written by the scripts that store positions and drops, in the same step
(lua/common.lua: ``sample_trail`` from location.lua, ``record_drop`` from reconnecting.lua,
``mark_back`` from join.lua and presence.lua), so keeping them costs the position hot path no
round trip. ``ride_live_state`` reads what a rule evaluation needs in one MULTI, and
``ride_trails`` the trails the rules ask for, so the rules (sessions_rt/safety_rules.py) keep
no state of their own and any watcher can take a ride over. What is kept, and for how long: docs/privacy.md.
"""

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from redis import Redis

from sessions_rt.protocol import canonical_id
from sessions_rt.store import keys
from sessions_rt.store.client import iso_from_ms, realtime_available, redis_client, to_ms

# How long after its grace period a drop may still raise a silent-rider alert: a watcher
# that was away for less (a handover takes a lease time) still raises it, and the verdict
# never flips later because the drops it was compared with were forgotten.
DROP_DECISION_SECONDS = 300


def drop_kept_after_back_ms() -> int:
    """How long a drop is kept once its rider is back: past the decision window of every drop
    it can be a neighbour of (those up to a grace period before it), with a minute to spare."""
    return (2 * keys.reconnect_grace_seconds() + DROP_DECISION_SECONDS + 60) * 1000


@dataclass(frozen=True)
class Fix:
    """A position as the phone reported it (speed and heading are optional there)."""

    at_ms: int
    lat: float
    lon: float
    speed_kmh: float | None
    heading_deg: float | None

    def as_dict(self) -> dict:
        """As alerts carry a position (rooms.alerts.alert_raise)."""
        return {
            "lat": self.lat,
            "lon": self.lon,
            "speed_kmh": self.speed_kmh,
            "heading_deg": self.heading_deg,
            "at": iso_from_ms(self.at_ms),
        }


@dataclass(frozen=True)
class DropRecord:
    """A rider's last socket drop: when, their last fix then, who was near, when back."""

    at_ms: int
    fix: Fix | None
    neighbours: tuple[str, ...]
    back_at_ms: int | None


@dataclass(frozen=True)
class RideLiveState:
    """One ride's live state as the safety rules see it, read at one instant."""

    room_id: str
    now_ms: int
    leader_id: str | None
    members: frozenset[str]
    last_seen_ms: dict[str, int]
    reconnecting_since_ms: dict[str, int]
    fixes: dict[str, Fix]
    trails: dict[str, tuple[Fix, ...]]
    drops: dict[str, DropRecord]


def ride_live_state(
    room_id: uuid.UUID | str, *, now: datetime | None = None, client: Redis | None = None
) -> RideLiveState | None:
    """What the rules read of one ride, in one transaction, without the trails (see
    ``ride_trails``); None once the ride has no live state."""
    room = canonical_id(room_id, field="room_id")
    room_keys = keys.room_keys(room)
    with realtime_available():
        pipe = redis_client(client).pipeline(transaction=True)
        pipe.hmget(room_keys.session, "session_id", "leader_id")
        pipe.zrange(room_keys.members, 0, -1)
        pipe.zrange(room_keys.last_seen, 0, -1, withscores=True)
        pipe.zrange(room_keys.reconnecting, 0, -1, withscores=True)
        pipe.hgetall(room_keys.location_details)
        pipe.hgetall(room_keys.drops)
        (session_id, leader), members, seen, reconnecting, details, drops = pipe.execute()
    if session_id is None:
        return None
    return RideLiveState(
        room_id=room,
        now_ms=to_ms(now),
        leader_id=leader.decode() if leader else None,
        members=frozenset(member.decode() for member in members),
        last_seen_ms={rider.decode(): int(ms) for rider, ms in seen},
        reconnecting_since_ms={rider.decode(): int(ms) for rider, ms in reconnecting},
        fixes={rider.decode(): _fix(json.loads(raw)) for rider, raw in details.items()},
        trails={},
        drops={rider.decode(): _drop(json.loads(raw)) for rider, raw in drops.items()},
    )


def ride_trails(
    room_id: uuid.UUID | str, riders: Iterable[str], *, client: Redis | None = None
) -> dict[str, tuple[Fix, ...]]:
    """The trails of these riders, oldest point first (riders without one left out).

    Read only when a rule needs them: a ride's trails are a couple of hundred points per
    rider, a hundred times the rest of its state, and most ticks of most rides need none.
    """
    room = canonical_id(room_id, field="room_id")
    wanted = sorted(riders)
    if not wanted:
        return {}
    with realtime_available():
        found = redis_client(client).hmget(keys.room_keys(room).trail, wanted)
    return {
        rider: tuple(_point(point) for point in json.loads(raw))
        for rider, raw in zip(wanted, found, strict=True)
        if raw is not None
    }


def _fix(details: dict) -> Fix:
    return Fix(
        at_ms=int(details["at"]),
        lat=details["lat"],
        lon=details["lon"],
        speed_kmh=details.get("speed_kmh"),
        heading_deg=details.get("heading_deg"),
    )


def _point(point: list) -> Fix:
    at_ms, lat, lon, speed_kmh, heading_deg = point
    return Fix(at_ms=int(at_ms), lat=lat, lon=lon, speed_kmh=speed_kmh, heading_deg=heading_deg)


def _drop(record: dict) -> DropRecord:
    # Lua's cjson writes an empty list as {}: no neighbours either way.
    return DropRecord(
        at_ms=int(record["at"]),
        fix=_fix(record["fix"]) if record.get("fix") else None,
        neighbours=tuple(record.get("neighbours") or ()),
        back_at_ms=int(record["back_at"]) if record.get("back_at") is not None else None,
    )
