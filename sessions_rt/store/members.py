"""Who is live in a room: joining, dropping to "reconnecting", leaving, closing, ride roles.

PostgreSQL (RoomParticipant) decides who may be in a room; these functions track which of
those riders have a phone connected right now. Callers check membership first.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from redis import Redis

from sessions_rt.errors import InvalidSweep, NotLiveMember, NotRideLeader
from sessions_rt.protocol import (
    APP_VERSION_MAX_LENGTH,
    DEVICE_MAX_LENGTH,
    LeaveReason,
    Transport,
    canonical_id,
    choice,
    short_text,
)
from sessions_rt.store import keys
from sessions_rt.store.client import from_ms, realtime_available, redis_client, to_ms
from sessions_rt.store.events import Event, event_from_json, event_or_none
from sessions_rt.store.scripts import raise_unless_member, run_room_script


def member_join(
    room_id: uuid.UUID | str,
    rider_id: uuid.UUID | str,
    *,
    leader_id: uuid.UUID | str | None,
    device: str | None = None,
    app_version: str | None = None,
    transport: str | None = None,
    channel: str | None = None,
    share_battery: bool = True,
    share_network: bool = True,
    now: datetime | None = None,
    client: Redis | None = None,
) -> Event | None:
    """A rider's phone connected to the room; the first one opens the room's live session.

    Returns member_joined for a new live member. A rider who is already live (a reconnect
    within the grace period, or a second socket) gets no member_joined: the result is the
    presence_changed back from "reconnecting", or None when nothing changed.
    ``leader_id`` is the room's creator (None if their account is gone). Each call records
    the new connection (device, app version, transport, connected at, and the socket's
    ``channel`` on the channel layer, which tells the rider's current socket from older ones).
    ``share_battery`` and ``share_network`` are the rider's choice (their profile): a value
    not shared is never kept, and one kept from an earlier socket is dropped (the ride then
    gets presence_changed without it).
    """
    room = canonical_id(room_id, field="room_id")
    rider = canonical_id(rider_id, field="rider_id")
    leader = canonical_id(leader_id, field="leader_id") if leader_id is not None else ""
    now_ms = to_ms(now)
    connection_session = _connection_session_json(
        device=device, app_version=app_version, transport=transport, channel=channel, now_ms=now_ms
    )
    _, raw_event = run_room_script(
        "join",
        client=redis_client(client),
        room_id=room,
        now_ms=now_ms,
        args=(
            rider,
            leader,
            connection_session,
            uuid.uuid4().hex,
            _hidden(share_battery),
            _hidden(share_network),
        ),
    )
    return event_or_none(room, raw_event)


@dataclass(frozen=True)
class ConnectionSession:
    """What a rider's current connection told us about itself."""

    device: str | None
    app_version: str | None
    transport: str | None
    connected_at: datetime
    channel: str | None = None  # the socket's channel-layer name; None if recorded without


def connection_session_get(
    room_id: uuid.UUID | str, rider_id: uuid.UUID | str, *, client: Redis | None = None
) -> ConnectionSession | None:
    """The record of the rider's current connection, or None if they are not live."""
    room = canonical_id(room_id, field="room_id")
    rider = canonical_id(rider_id, field="rider_id")
    with realtime_available():
        raw = redis_client(client).hget(keys.room_keys(room).connection_sessions, rider)
    if raw is None:
        return None
    record = json.loads(raw)
    return ConnectionSession(
        device=record["device"],
        app_version=record["app_version"],
        transport=record["transport"],
        connected_at=from_ms(record["connected_at"]),
        channel=record.get("channel"),
    )


def member_mark_reconnecting(
    room_id: uuid.UUID | str,
    rider_id: uuid.UUID | str,
    *,
    channel: str | None = None,
    now: datetime | None = None,
    client: Redis | None = None,
) -> Event | None:
    """The rider's socket dropped: status "reconnecting" until they rejoin or the grace period
    runs out. Returns the presence_changed event, or None if they were already reconnecting,
    or if ``channel`` (the socket that dropped) is no longer the rider's current one: the
    phone is already back on another socket. The drop is recorded for the silent-rider rule
    as it happens (trail.DropRecord).
    """
    room = canonical_id(room_id, field="room_id")
    rider = canonical_id(rider_id, field="rider_id")
    reply = run_room_script(
        "reconnecting",
        client=redis_client(client),
        room_id=room,
        now_ms=to_ms(now),
        args=(rider, keys.silent_neighbour_km(), channel or ""),
    )
    raise_unless_member(reply)
    if reply[0] == b"superseded":
        return None
    return event_or_none(room, reply[1])


def member_leave(
    room_id: uuid.UUID | str,
    rider_id: uuid.UUID | str,
    *,
    reason: str,
    channel: str | None = None,
    now: datetime | None = None,
    client: Redis | None = None,
) -> Event | None:
    """Take the rider out of every structure of the room (presence, location, connection
    states, connection record). The last one out deletes the room's keys. Returns member_left,
    or None if the rider was not a live member, or if ``channel`` (the socket that closed) is
    no longer the rider's current one.
    """
    room = canonical_id(room_id, field="room_id")
    rider = canonical_id(rider_id, field="rider_id")
    why = choice(LeaveReason, reason, field="reason")
    redis = redis_client(client)
    status, *rest = run_room_script(
        "leave",
        client=redis,
        room_id=room,
        now_ms=to_ms(now),
        args=(rider, why.value, channel or ""),
    )
    if status == b"not_member":
        return None
    if status == b"closed":
        _forget_room(redis, room)
    return event_from_json(room, rest[0])


def room_close(room_id: uuid.UUID | str, *, client: Redis | None = None) -> list[str]:
    """Delete everything of the room's live session (the ride ended). Returns the riders who
    were live, so the caller can tell them; no events are logged, since the log goes too.
    """
    room = canonical_id(room_id, field="room_id")
    redis = redis_client(client)
    riders = run_room_script("close", client=redis, room_id=room, now_ms=to_ms(None), index="skip")
    _forget_room(redis, room)
    return [rider.decode() for rider in riders]


def sweep_set(
    room_id: uuid.UUID | str,
    *,
    by_rider_id: uuid.UUID | str,
    sweep_id: uuid.UUID | str | None,
    now: datetime | None = None,
    client: Redis | None = None,
) -> Event | None:
    """The leader names the sweep (tail rider), or clears it with None.

    The sweep must be a live member other than the leader. Returns sweep_changed, or None if
    the sweep was already that rider.
    """
    room = canonical_id(room_id, field="room_id")
    by = canonical_id(by_rider_id, field="by_rider_id")
    sweep = canonical_id(sweep_id, field="sweep_id") if sweep_id is not None else ""
    status, *rest = run_room_script(
        "sweep", client=redis_client(client), room_id=room, now_ms=to_ms(now), args=(by, sweep)
    )
    if status == b"no_room":
        raise NotLiveMember("This ride has no connected riders.")
    if status == b"not_leader":
        raise NotRideLeader("Only the ride leader can name the sweep.")
    if status == b"invalid_sweep":
        raise InvalidSweep()
    return event_or_none(room, rest[0])


def expired_reconnecting(
    room_id: uuid.UUID | str, *, now: datetime | None = None, client: Redis | None = None
) -> list[str]:
    """Riders of the room who have been "reconnecting" longer than the grace period: the
    caller takes them out with member_leave(reason="timed_out")."""
    room = canonical_id(room_id, field="room_id")
    cutoff_ms = to_ms(now) - keys.reconnect_grace_seconds() * 1000
    with realtime_available():
        riders = redis_client(client).zrangebyscore(
            keys.room_keys(room).reconnecting, "-inf", cutoff_ms
        )
    return [rider.decode() for rider in cast(list[bytes], riders)]


def _hidden(shared: bool) -> str:
    """How the scripts read a sharing choice: '1' for a value the rider does not share."""
    return "0" if shared else "1"


def _forget_room(redis: Redis, room: str) -> None:
    """Drop a deleted room from the live-rooms index. Should a join recreate the room between
    the script and this call, the room's next activity puts it back."""
    with realtime_available():
        redis.zrem(keys.live_rooms_key(), room)


def _connection_session_json(
    *,
    device: str | None,
    app_version: str | None,
    transport: str | None,
    channel: str | None,
    now_ms: int,
) -> str:
    return json.dumps(
        {
            "device": _optional_text(device, field="device", max_length=DEVICE_MAX_LENGTH),
            "app_version": _optional_text(
                app_version, field="app_version", max_length=APP_VERSION_MAX_LENGTH
            ),
            "transport": (
                choice(Transport, transport, field="transport").value
                if transport is not None
                else None
            ),
            "connected_at": now_ms,
            "channel": channel,
        }
    )


def _optional_text(value: str | None, *, field: str, max_length: int) -> str | None:
    return short_text(value, field=field, max_length=max_length) if value is not None else None


def reconnecting_members(room_id: uuid.UUID | str, *, client: Redis | None = None) -> list[str]:
    """Riders of the room whose socket dropped and who are inside their grace period."""
    room = canonical_id(room_id, field="room_id")
    with realtime_available():
        riders = redis_client(client).zrange(keys.room_keys(room).reconnecting, 0, -1)
    return [rider.decode() for rider in cast(list[bytes], riders)]


def require_live_member(
    room_id: uuid.UUID | str, rider_id: uuid.UUID | str, *, client: Redis | None = None
) -> None:
    """Raise NotLiveMember unless the rider is live in the room (e.g. before relaying to them)."""
    room = canonical_id(room_id, field="room_id")
    rider = canonical_id(rider_id, field="rider_id")
    with realtime_available():
        score = redis_client(client).zscore(keys.room_keys(room).members, rider)
    if score is None:
        raise NotLiveMember("That rider is not connected to this ride.")
