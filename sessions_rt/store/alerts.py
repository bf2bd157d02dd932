"""Ride alerts in the ride's event sequence: the record is PostgreSQL's (rooms.alerts); what
the live state keeps of it is the event that told the ride, logged and published with the next
seq like every other, so a phone back from a tunnel catches up on it."""

import json
import uuid
from typing import Literal

from redis import Redis

from sessions_rt.protocol import canonical_id
from sessions_rt.store.client import redis_client, to_ms
from sessions_rt.store.events import Event, event_from_json
from sessions_rt.store.scripts import run_room_script

AlertEventType = Literal["alert_raised", "alert_acknowledged", "alert_resolved"]


def alert_event_emit(
    room_id: uuid.UUID | str,
    rider_id: uuid.UUID | str,
    *,
    event_type: AlertEventType,
    payload: dict,
    alarm_first: bool = False,
    client: Redis | None = None,
) -> Event | None:
    """Log and publish one alert event about ``rider_id`` with ``payload`` (a JSON object of
    at least one field). With ``alarm_first`` the script adds the riders whose phones alarm
    first, read with the event's seq: the leader and the sweep, but the rider in trouble.
    None when the ride has no live session (nobody to tell)."""
    room = canonical_id(room_id, field="room_id")
    rider = canonical_id(rider_id, field="rider_id")
    reply = run_room_script(
        "alert",
        client=redis_client(client),
        room_id=room,
        now_ms=to_ms(None),
        args=(
            event_type,
            rider,
            json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False),
            "1" if alarm_first else "0",
        ),
        index="skip",
    )
    if reply[0] == b"no_session":
        return None
    return event_from_json(room, reply[1])
