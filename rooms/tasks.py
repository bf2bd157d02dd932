"""The delivery worker's jobs (procrastinate, on Convoy's own PostgreSQL).

``manage.py procrastinate worker`` runs them; docs/deployment.md says how many workers to run.
Procrastinate was chosen because its jobs live in the PostgreSQL Convoy already runs, so a
job is deferred in the very transaction of the change it delivers (the outbox's promise), and
its job locks give the per-(endpoint, ride) ordering without a server of its own.
"""

import uuid

from django.conf import settings
from procrastinate.contrib.django import app

from rooms import webhooks
from rooms.outbox import DELIVER_TASK, QUEUE


@app.task(queue=QUEUE, name=DELIVER_TASK)
def deliver_webhooks(*, endpoint_id: str, room_id: str) -> None:
    # The contrib app's task middleware closes each job's database connections around it, as
    # Django does around a request: a job needs no cleanup of its own.
    webhooks.webhook_drain(endpoint_id=uuid.UUID(endpoint_id), room_id=uuid.UUID(room_id))


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


@app.periodic(cron="* * * * * */30", periodic_id="start_forgotten_deliveries")
@app.task(queue=QUEUE, name="rooms.start_forgotten_deliveries", queueing_lock="forgotten")
def start_forgotten_deliveries(timestamp: int) -> int:
    """A delivery whose job was lost (a leave commits in one statement and defers its job
    after it; a crash between the two) is found here and started, a little late."""
    return webhooks.webhook_start_forgotten()


@app.periodic(cron="17 * * * *", periodic_id="prune_outbox")
@app.task(queue=QUEUE, name="rooms.prune_outbox", queueing_lock="prune_outbox")
def prune_outbox(timestamp: int) -> int:
    """Every hour: events past OUTBOX_RETENTION_DAYS that were delivered everywhere go."""
    return webhooks.webhook_outbox_prune()
