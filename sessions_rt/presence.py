"""Rider presence: status, battery and network as the app reports them, and heartbeats.

A rider's presence expires when nothing has been heard from the phone for
PRESENCE_TTL_SECONDS; the cleanup then takes them out of the room (reason timed_out).
"""

import uuid
from datetime import datetime

from redis import Redis

from sessions_rt import validation
from sessions_rt.client import redis_client
from sessions_rt.clock import to_ms
from sessions_rt.errors import NotLiveMember
from sessions_rt.events import Event, event_or_none
from sessions_rt.scripts import run_room_script
from sessions_rt.validation import (
    CLIENT_STATUSES,
    NetworkType,
    PresenceStatus,
    canonical_id,
    choice,
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

    Returns presence_changed, or None when nothing changed (apps repeat themselves).
    "reconnecting" is the server's to set (member_mark_reconnecting), not the app's.
    """
    room = canonical_id(room_id, field="room_id")
    rider = canonical_id(rider_id, field="rider_id")
    new_status = choice(PresenceStatus, status, field="status", allowed=CLIENT_STATUSES)
    battery = validation.battery_pct(battery_pct) if battery_pct is not None else ""
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
    if reply[0] == b"not_member":
        raise NotLiveMember()
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
    room = canonical_id(room_id, field="room_id")
    rider = canonical_id(rider_id, field="rider_id")
    reply = run_room_script(
        "heartbeat", client=redis_client(client), room_id=room, now_ms=to_ms(now), args=(rider,)
    )
    if reply[0] == b"not_member":
        raise NotLiveMember()
