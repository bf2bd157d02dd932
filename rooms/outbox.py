"""The outbox: what happened to a ride, recorded in the transaction that changed it.

Every change worth telling an operator about (a ride opened or ended, a rider joined, left or
was removed) calls ``outbox_record`` inside its own transaction. One statement writes the
event and one pending delivery for every active endpoint that wants its type; a delivery job
per such endpoint is deferred in the same transaction (procrastinate keeps its jobs in this
same PostgreSQL). So nothing is delivered that did not commit, and nothing that committed is
lost, even if the process dies the next instant: the rows are there for a worker to find.

The jobs carry only (endpoint, ride); a job delivers whatever that pair has pending, in event
order (rooms/webhooks.py), so a job that finds its event already delivered by an earlier one
simply ends.
"""

import uuid
from datetime import datetime

from django.db import connection
from django.utils import timezone
from psycopg.types.json import Jsonb

from riders.models import Rider
from rooms.models import Room

RIDE_OPENED = "ride.opened"
RIDE_ENDED = "ride.ended"
RIDER_JOINED = "rider.joined"
RIDER_LEFT = "rider.left"
RIDER_REMOVED = "rider.removed"
EVENT_TYPES = (RIDE_OPENED, RIDE_ENDED, RIDER_JOINED, RIDER_LEFT, RIDER_REMOVED)

_RECORD_SQL = """
    WITH event AS (
        INSERT INTO rooms_outboxevent (event_id, type, room_id, payload, created_at)
        VALUES (%(event_id)s, %(type)s, %(room_id)s, %(payload)s, %(at)s)
        RETURNING id, room_id
    ), deliveries AS (
        INSERT INTO rooms_webhookdelivery
            (endpoint_id, event_id, room_id, status, attempts, created_at)
        SELECT endpoint.id, event.id, event.room_id, 'pending', 0, %(at)s
        FROM rooms_webhookendpoint endpoint, event
        WHERE endpoint.is_active AND %(type)s = ANY (endpoint.event_types)
        RETURNING endpoint_id
    )
    SELECT endpoint_id FROM deliveries
"""


def outbox_record(*, type: str, room_id: uuid.UUID, data: dict, at: datetime | None = None) -> None:
    """Record ``type`` for the ride ``room_id`` in the caller's transaction, with ``data``
    as the payload's ``data``; the deliveries it makes start once that commits."""
    at = at or timezone.now()
    event_id = uuid.uuid4()
    payload = {"type": type, "timestamp": at.isoformat(), "data": data}
    with connection.cursor() as cursor:
        cursor.execute(
            _RECORD_SQL,
            {
                "event_id": event_id,
                "type": type,
                "room_id": room_id,
                "payload": Jsonb(payload),
                "at": at,
            },
        )
        endpoints = [row[0] for row in cursor.fetchall()]
    if endpoints:
        # Imported here: the tasks module needs the procrastinate app, which is only ready
        # once every Django app is.
        from rooms.tasks import defer_drain

        for endpoint_id in endpoints:
            defer_drain(endpoint_id=endpoint_id, room_id=room_id)


def ride_data(room: Room) -> dict:
    return {"id": str(room.pk), "code": room.code, "name": room.name}


def rider_data(rider: Rider) -> dict:
    return {"id": str(rider.pk), "username": rider.username}
