"""The delivery worker's jobs (procrastinate, on Convoy's own PostgreSQL).

``manage.py procrastinate worker`` runs them; docs/deployment.md says how many workers to run.
Procrastinate was chosen because its jobs live in the PostgreSQL Convoy already runs, so a
job is deferred in the very transaction of the change it delivers (the outbox's promise), and
its job locks give the per-(endpoint, ride) ordering without a server of its own.
"""

import contextlib
import uuid
from datetime import datetime

from django.conf import settings
from django.db import connections
from procrastinate import exceptions as procrastinate_exceptions
from procrastinate.contrib.django import app

from rooms import webhooks

QUEUE = "deliveries"


def drain_lock(endpoint_id: uuid.UUID | str, room_id: uuid.UUID | str) -> str:
    return f"webhook:{endpoint_id}:{room_id}"


@app.task(queue=QUEUE, name="rooms.deliver_webhooks")
def deliver_webhooks(*, endpoint_id: str, room_id: str) -> None:
    try:
        webhooks.webhook_drain(endpoint_id=uuid.UUID(endpoint_id), room_id=uuid.UUID(room_id))
    finally:
        # Each job runs in a worker thread of its own: give its connection back to the pool.
        connections.close_all()


def defer_drain(
    *, endpoint_id: uuid.UUID | str, room_id: uuid.UUID | str, at: datetime | None = None
) -> None:
    """A job draining (endpoint, ride), now or at ``at``. One scheduled retry per pair is
    enough: a second one is refused by its queueing lock, and that is fine."""
    lock = drain_lock(endpoint_id, room_id)
    options: dict = {"lock": lock}
    if at is not None:
        options |= {"schedule_at": at, "queueing_lock": f"retry:{lock}"}
    with contextlib.suppress(procrastinate_exceptions.AlreadyEnqueued):
        deliver_webhooks.configure(**options).defer(
            endpoint_id=str(endpoint_id), room_id=str(room_id)
        )


@app.periodic(cron="* * * * * */10", periodic_id="retry_stalled_jobs")
@app.task(queue=QUEUE, name="rooms.retry_stalled_jobs", queueing_lock="retry_stalled_jobs")
async def retry_stalled_jobs(timestamp: int) -> int:
    """A worker killed mid-delivery leaves its job "doing" for ever: put it back, so the
    delivery it held is attempted again (at least once), still first in its ride's queue."""
    stalled = await app.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=settings.DELIVERY_STALLED_JOB_SECONDS
    )
    count = 0
    for job in stalled:
        await app.job_manager.retry_job(job)
        count += 1
    return count
