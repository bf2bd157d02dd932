"""Every Redis key name of the live ride state is built here, and nowhere else.

Layout (``P`` is ``settings.CONVOY_KEY_PREFIX``)::

    P:rt:{room:<room_id>}:session              HASH  session_id, created_at, last_activity,
                                                     member_count, leader_id, sweep_id
    P:rt:{room:<room_id>}:members              ZSET  rider -> joined at (ms)
    P:rt:{room:<room_id>}:presence             HASH  rider -> JSON status, battery, network
    P:rt:{room:<room_id>}:last_seen            ZSET  rider -> last heard from (ms)
    P:rt:{room:<room_id>}:reconnecting         ZSET  rider -> lost the socket at (ms)
    P:rt:{room:<room_id>}:locations            GEO   rider -> position
    P:rt:{room:<room_id>}:location_details     HASH  rider -> JSON lat, lon, speed, heading, at
    P:rt:{room:<room_id>}:connections          HASH  "rider>peer" -> JSON WebRTC and ICE state
    P:rt:{room:<room_id>}:connection_sessions  HASH  rider -> JSON device, app version, transport
    P:rt:{room:<room_id>}:seq                  STR   last event sequence number
    P:rt:{room:<room_id>}:events               LIST  the most recent events, as JSON
    P:rt:{room:<room_id>}:trail                HASH  rider -> JSON [[at, lat, lon, speed,
                                                     heading], ...], oldest first
    P:rt:{room:<room_id>}:trail_sampled        ZSET  rider -> time of their last trail point
    P:rt:{room:<room_id>}:drops                HASH  rider -> JSON of their last socket drop
    P:rt:{room:<room_id>}:watch_lease          STR   which watcher evaluates the ride (PX)
    P:rt:live-rooms                            ZSET  room -> last activity (ms)

The ``:rt`` namespace keeps these keys apart from the cache's and the channel layer's, which
share the prefix. The ``{room:<id>}`` hash tag puts all keys of one room in one Redis Cluster
slot, so one Lua script can change them together.

``live-rooms`` is the one key that cannot share a room's slot: it is the index the cleanup
walks to find rooms without scanning the keyspace (SCAN has to visit every node of a cluster
and every key). It is written next to each room update in the same round trip but not in the
same transaction; a lost write heals at the next heartbeat, and the cleanup drops entries of
rooms that no longer exist.

Per-rider state lives in fields of per-room hashes and sorted sets rather than in per-rider
keys, so every script names all the keys it touches in KEYS (which Redis Cluster requires) and
"whose presence expired" is one ZRANGEBYSCORE over ``last_seen`` instead of a lookup per rider.
"""

import uuid
from typing import NamedTuple

from django.conf import settings

NAMESPACE = "rt"
LIVE_ROOMS = "live-rooms"


class RoomKeys(NamedTuple):
    """The keys of one room, in the order the Lua scripts receive them in KEYS."""

    session: str
    members: str
    presence: str
    last_seen: str
    reconnecting: str
    locations: str
    location_details: str
    connections: str
    connection_sessions: str
    seq: str
    events: str
    trail: str
    trail_sampled: str
    drops: str


def key_prefix() -> str:
    """The start of every key this package writes (read at call time: tests override it)."""
    return f"{settings.CONVOY_KEY_PREFIX}:{NAMESPACE}"


def room_hash_tag(room_id: str) -> str:
    return f"{{room:{room_id}}}"


def room_keys(room_id: str) -> RoomKeys:
    base = f"{key_prefix()}:{room_hash_tag(room_id)}"
    return RoomKeys(*(f"{base}:{name}" for name in RoomKeys._fields))


def watch_lease_key(room_id: str) -> str:
    """Not one of RoomKeys: a lease outlives nothing but its own PX, whatever the room does."""
    return f"{key_prefix()}:{room_hash_tag(room_id)}:watch_lease"


def live_rooms_key() -> str:
    return f"{key_prefix()}:{LIVE_ROOMS}"


def connection_field(rider_id: str, peer_id: str) -> str:
    """The field of one rider's link to one peer in the ``connections`` hash.

    Ids are canonical UUIDs, so ``>`` never occurs inside them; common.lua splits on it.
    """
    return f"{rider_id}>{peer_id}"


def room_group(room_id: uuid.UUID | str) -> str:
    """Every live socket of a room: events the whole ride sees."""
    return f"room.{uuid.UUID(str(room_id)).hex}"


def rider_group(rider_id: uuid.UUID | str) -> str:
    """Every socket of one rider: signalling addressed to them, kicks, replaced sessions."""
    return f"rider.{uuid.UUID(str(rider_id)).hex}"


# How long, and how much, live ride state is kept. Each value can be set in Django settings;
# it is read at call time so a deployment (or a test) can change it without a reload.
# A phone heartbeats every few seconds; a minute and a half of silence means it is gone.
PRESENCE_TTL_SECONDS = 90
# How long a dropped socket (a tunnel, a dead zone) may stay "reconnecting" before the rider is
# taken out of the room with reason timed_out.
RECONNECT_GRACE_SECONDS = 30
# Every key of a room lives this long after the room's last activity.
ROOM_SESSION_TTL_SECONDS = 3600
# Events kept per room for "everything since seq N"; older requests get a snapshot.
EVENT_LOG_LENGTH = 500
# A trail point per rider every few seconds, for a quarter of an hour (docs/privacy.md).
TRAIL_SAMPLE_SECONDS = 5
TRAIL_KEEP_SECONDS = 900
SILENT_NEIGHBOUR_KM = 3


def presence_ttl_seconds() -> int:
    return getattr(settings, "PRESENCE_TTL_SECONDS", PRESENCE_TTL_SECONDS)


def reconnect_grace_seconds() -> int:
    return getattr(settings, "RECONNECT_GRACE_SECONDS", RECONNECT_GRACE_SECONDS)


def room_session_ttl_seconds() -> int:
    return getattr(settings, "ROOM_SESSION_TTL_SECONDS", ROOM_SESSION_TTL_SECONDS)


def event_log_length() -> int:
    return getattr(settings, "REALTIME_EVENT_LOG_LENGTH", EVENT_LOG_LENGTH)


def trail_sample_seconds() -> int:
    return getattr(settings, "TRAIL_SAMPLE_SECONDS", TRAIL_SAMPLE_SECONDS)


def trail_keep_seconds() -> int:
    return getattr(settings, "TRAIL_KEEP_SECONDS", TRAIL_KEEP_SECONDS)


def silent_neighbour_km() -> int:
    return getattr(settings, "SILENT_NEIGHBOUR_KM", SILENT_NEIGHBOUR_KM)
