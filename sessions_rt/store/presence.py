"""Rider presence: status, battery and network as the app reports them, and heartbeats.

A rider's presence expires when nothing has been heard from the phone for
PRESENCE_TTL_SECONDS; the cleanup then takes them out of the room (reason timed_out).
"""

import uuid
from datetime import datetime

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from sessions_rt import protocol
from sessions_rt.protocol import (
    CLIENT_STATUSES,
    NetworkType,
    PresenceStatus,
    canonical_id,
    choice,
)
from sessions_rt.store.client import async_redis_client, redis_client, to_ms
from sessions_rt.store.events import Event, event_or_none
from sessions_rt.store.scripts import (
    raise_unless_member,
    run_room_script,
    run_room_script_async,
)


def presence_update(
    room_id: uuid.UUID | str,
    rider_id: uuid.UUID | str,
    *,
    status: str,
    battery_pct: int | None = None,
    network_type: str | None = None,
    now: datetime | None = None,
    client: Redis | None = None,
) -> Event | None:
    """What the app says about its rider: online, riding, paused or offline, and battery and
    network type when it sends them (None keeps the last value). Counts as a heartbeat.
    Battery and network type are not kept if the rider does not share them (member_join,
    sharing_apply).

    Returns presence_changed, or None when nothing changed (apps repeat themselves).
    "reconnecting" is the server's to set (member_mark_reconnecting), not the app's.
    """
    room = canonical_id(room_id, field="room_id")
    rider = canonical_id(rider_id, field="rider_id")
    new_status = choice(PresenceStatus, status, field="status", allowed=CLIENT_STATUSES)
    battery = protocol.battery_pct(battery_pct) if battery_pct is not None else ""
    network = (
        choice(NetworkType, network_type, field="network_type").value
        if network_type is not None
        else ""
    )
    reply = run_room_script(
        "presence",
        client=redis_client(client),
        room_id=room,
        now_ms=to_ms(now),
        args=(rider, new_status.value, battery, network),
    )
    raise_unless_member(reply)
    return event_or_none(room, reply[1])


def sharing_apply(
    room_id: uuid.UUID | str,
    rider_id: uuid.UUID | str,
    *,
    share_battery: bool,
    share_network: bool,
    now: datetime | None = None,
    client: Redis | None = None,
) -> Event | None:
    """The rider changed what their presence shares while live: from now on a value not
    shared is not kept, and one kept is dropped at once. Returns presence_changed (without the
    dropped values), or None when nothing the ride sees changed.

    Raises NotLiveMember when the rider is not live in the room.
    """
    room = canonical_id(room_id, field="room_id")
    rider = canonical_id(rider_id, field="rider_id")
    reply = run_room_script(
        "sharing",
        client=redis_client(client),
        room_id=room,
        now_ms=to_ms(now),
        args=(rider, "0" if share_battery else "1", "0" if share_network else "1"),
    )
    raise_unless_member(reply)
    return event_or_none(room, reply[1])


def heartbeat(
    room_id: uuid.UUID | str,
    rider_id: uuid.UUID | str,
    *,
    now: datetime | None = None,
    client: Redis | None = None,
) -> None:
    """The phone is still there: refresh its last seen time and the room's TTLs. No event.

    Raises NotLiveMember when the rider is no longer live (e.g. timed out): the phone rejoins.
    """
    raise_unless_member(
        run_room_script(client=redis_client(client), **_heartbeat(room_id, rider_id, now))
    )


async def heartbeat_async(
    room_id: uuid.UUID | str,
    rider_id: uuid.UUID | str,
    *,
    now: datetime | None = None,
    client: AsyncRedis | None = None,
) -> None:
    """heartbeat on the event loop, for the ride socket."""
    reply = await run_room_script_async(
        client=async_redis_client(client), **_heartbeat(room_id, rider_id, now)
    )
    raise_unless_member(reply)


def _heartbeat(room_id, rider_id, now: datetime | None) -> dict:
    room = canonical_id(room_id, field="room_id")
    rider = canonical_id(rider_id, field="rider_id")
    return {
        "name": "heartbeat",
        "room_id": room,
        "now_ms": to_ms(now),
        "args": (rider,),
        "index": "periodic",
    }
