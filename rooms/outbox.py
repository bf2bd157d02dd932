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

import contextlib
import uuid
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from procrastinate.contrib.django import app as procrastinate_app
from procrastinate.exceptions import AlreadyEnqueued
from psycopg.types.json import Jsonb

from riders.models import Rider
from rooms.models import Room

RIDE_OPENED = "ride.opened"
RIDE_ENDED = "ride.ended"
RIDER_JOINED = "rider.joined"
RIDER_LEFT = "rider.left"
RIDER_REMOVED = "rider.removed"
ALERT_RAISED = "alert.raised"
ALERT_ACKNOWLEDGED = "alert.acknowledged"
ALERT_RESOLVED = "alert.resolved"
# An SOS or a silent rider nobody in the ride answered: one per emergency contact, carrying
# what an operator's SMS gateway needs to text them.
CONTACT_NOTICE = "alert.contact_notice"
EVENT_TYPES = (
    RIDE_OPENED,
    RIDE_ENDED,
    RIDER_JOINED,
    RIDER_LEFT,
    RIDER_REMOVED,
    ALERT_RAISED,
    ALERT_ACKNOWLEDGED,
    ALERT_RESOLVED,
    CONTACT_NOTICE,
)

# The delivery worker's queue and the job that drains one (endpoint, ride) (rooms/tasks.py).
QUEUE = "deliveries"
DELIVER_TASK = "rooms.deliver_webhooks"


# The outbox's two inserts, as CTEs of a statement whose own CTE ``changed`` yields the
# ride's id (``room_id``): the event, for each row of ``changed``, and its deliveries. So a
# change made by one statement records its event in that same statement.
OUTBOX_CTES = """
    event AS (
        INSERT INTO rooms_outboxevent (event_id, type, room_id, payload, created_at)
        SELECT %(event_id)s, %(type)s, changed.room_id,
               jsonb_set(%(payload)s, '{data,ride,id}', to_jsonb(changed.room_id::text)),
               %(at)s
        FROM changed
        RETURNING id, room_id
    ), deliveries AS (
        INSERT INTO rooms_webhookdelivery
            (endpoint_id, event_id, room_id, status, attempts, created_at)
        SELECT endpoint.id, event.id, event.room_id, 'pending', 0, %(at)s
        FROM rooms_webhookendpoint endpoint, event
        WHERE endpoint.is_active AND %(type)s = ANY (endpoint.event_types)
        RETURNING endpoint_id, room_id
    )
"""


def outbox_params(*, type: str, data: dict, at: datetime) -> dict:
    """The parameters of ``OUTBOX_CTES``; ``data`` must hold a "ride" object, whose id the
    statement fills in."""
    payload = {"type": type, "timestamp": at.isoformat(), "data": data}
    return {"event_id": uuid.uuid4(), "type": type, "payload": Jsonb(payload), "at": at}


def outbox_deliveries_start(endpoints: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
    """Defer a drain for each (endpoint, ride) the statement made a delivery for. In the
    caller's transaction when there is one; a statement run in autocommit may lose these to
    a crash between the two, and the periodic sweep (rooms/tasks.py) starts them then."""
    for endpoint_id, room_id in endpoints:
        defer_drain(endpoint_id=endpoint_id, room_id=room_id)


# How many of one endpoint's rides drain at once: a slow receiver holds at most this many of
# the workers' slots, and the other endpoints keep theirs.
DRAINS_PER_ENDPOINT = 4


def drain_lock(endpoint_id: uuid.UUID | str, room_id: uuid.UUID | str) -> str:
    """The job lock of a ride's queue for an endpoint: a ride always maps to the same one
    of the endpoint's DRAINS_PER_ENDPOINT locks, so its events keep their order, and no more
    than that many of the endpoint's jobs run at once."""
    shard = uuid.UUID(str(room_id)).int % DRAINS_PER_ENDPOINT
    return f"webhook:{endpoint_id}:{shard}"


def defer_drain(
    *,
    endpoint_id: uuid.UUID | str,
    room_id: uuid.UUID | str,
    at: datetime | None = None,
    force: bool = False,
) -> None:
    """A job draining (endpoint, ride), now or at ``at`` (a retry).

    At most one such job waits per pair (its queueing lock): an event committed while one
    waits is drained by it, so a busy ride costs one job, not one per event. A job already
    running does not count: the next one waits behind it on the pair's lock (drain_lock).
    ``force`` adds one even if another waits (staff resuming an endpoint: its waiting job may
    be a retry scheduled an hour away). Deferred in a savepoint, so the refusal of a second
    waiting job leaves the caller's transaction intact.
    """
    options: dict = {"lock": drain_lock(endpoint_id, room_id)}
    if not force:
        options["queueing_lock"] = f"drain:{endpoint_id}:{room_id}"
    if at is not None:
        options["schedule_at"] = at
    # By name: rooms.tasks imports the modules that defer its jobs.
    deferrer = procrastinate_app.configure_task(DELIVER_TASK, **options)
    with contextlib.suppress(AlreadyEnqueued), transaction.atomic():
        deferrer.defer(endpoint_id=str(endpoint_id), room_id=str(room_id))


_CHANGED_RIDE = "WITH changed AS (SELECT %(room_id)s::uuid AS room_id), "
_THEIR_DELIVERIES = " SELECT endpoint_id, room_id FROM deliveries"

_RECORD_SQL = _CHANGED_RIDE + OUTBOX_CTES + _THEIR_DELIVERIES


def outbox_record(*, type: str, room_id: uuid.UUID, data: dict, at: datetime | None = None) -> None:
    """Record ``type`` for the ride ``room_id`` in the caller's transaction, with ``data``
    as the payload's ``data`` (its "ride" gets the ride's id); the deliveries it makes start
    once that commits."""
    params = outbox_params(type=type, data={"ride": {}, **data}, at=at or timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_SQL, {**params, "room_id": room_id})
        endpoints = cursor.fetchall()
    outbox_deliveries_start(endpoints)


def ride_data(room: Room) -> dict:
    return {"id": str(room.pk), "code": room.code, "name": room.name}


def rider_data(rider: Rider) -> dict:
    return {"id": str(rider.pk), "username": rider.username}
