"""Exporting a copy of a rider's data (docs/privacy.md).

An export is a job row and an archive on disk. A small history is built during the request
that asks for it; a large one by ``manage.py build_exports``, whose runs share the queue
through SELECT ... FOR UPDATE SKIP LOCKED and a lease on each job being built.
"""

import contextlib
import logging
import secrets
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from config.integrity import violated_constraint
from riders.models import Rider
from telemetry.archive import archive_write, export_history_size
from telemetry.errors import ExportGone, ExportNotFound, ExportNotReady
from telemetry.models import OPEN_STATES, ExportJob, ExportState

logger = logging.getLogger(__name__)

# A build is tried this many times (a builder that dies mid-way costs one) before it fails.
MAX_BUILD_ATTEMPTS = 3
# Finished jobs (downloaded, expired, failed) are forgotten after this long.
FINISHED_JOB_RETENTION = timedelta(days=30)


def export_latest(*, rider: Rider) -> ExportJob | None:
    """The rider's most recent export, whatever its state (at most one is open)."""
    return ExportJob.objects.filter(rider=rider).order_by("-requested_at").first()


def export_request(*, rider: Rider) -> tuple[ExportJob, bool]:
    """The rider's open export (pending, building or ready) if there is one, else a new
    one, built at once when the history is small. Returns the job and whether it is new.

    Asking fifty times makes one job: the partial unique index on open jobs settles
    simultaneous requests, and the losers answer with the winner's job.
    """
    now = timezone.now()
    with transaction.atomic():
        _expire_ready(ExportJob.objects.filter(rider=rider), now=now)
        job = ExportJob.objects.filter(rider=rider, state__in=OPEN_STATES).first()
        if job is not None:
            return job, False
        try:
            with transaction.atomic():
                job = ExportJob.objects.create(rider=rider, requested_at=now)
        except IntegrityError as exc:
            if violated_constraint(exc) != "export_one_open_per_rider":
                raise
            return ExportJob.objects.get(rider=rider, state__in=OPEN_STATES), False
    limit = settings.EXPORT_INLINE_MAX_ROWS
    if export_history_size(rider=rider, limit=limit) <= limit:
        claimed = _claim(ExportJob.objects.filter(pk=job.pk), now=timezone.now())
        if claimed is not None:
            return export_build(job=claimed), True
    return job, True


def export_claim_next() -> ExportJob | None:
    """Take the oldest job waiting to be built (or whose builder's lease ran out) for this
    process, or None. Concurrent builders skip each other's jobs."""
    now = timezone.now()
    waiting = ExportJob.objects.filter(
        Q(state=ExportState.PENDING) | Q(state=ExportState.BUILDING, lease_expires_at__lt=now)
    ).order_by("requested_at")
    with transaction.atomic():
        for job in waiting.filter(attempts__gte=MAX_BUILD_ATTEMPTS).select_for_update(
            skip_locked=True
        ):
            _finish(job, ExportState.FAILED, now=now, failure="Building it failed repeatedly.")
    return _claim(waiting.filter(attempts__lt=MAX_BUILD_ATTEMPTS), now=now)


def _claim(candidates, *, now: datetime) -> ExportJob | None:
    with transaction.atomic():
        job = candidates.select_for_update(skip_locked=True).first()
        if job is None or job.state not in (ExportState.PENDING, ExportState.BUILDING):
            return None
        job.state = ExportState.BUILDING
        job.started_at = now
        job.lease_expires_at = now + timedelta(seconds=settings.EXPORT_BUILD_TIMEOUT_SECONDS)
        job.attempts += 1
        job.save(update_fields=["state", "started_at", "lease_expires_at", "attempts"])
    return job


def export_build(*, job: ExportJob) -> ExportJob:
    """Build the archive of a job this process claimed, and offer it. If the job was taken
    from us meanwhile (the account deleted, the lease run out and claimed again), the
    archive is thrown away. A disk that refuses the archive fails the job."""
    directory = export_directory()
    partial = directory / f"{job.pk}.{secrets.token_hex(4)}.partial"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        size = archive_write(rider_id=job.rider_id, destination=partial)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        logger.warning("export %s could not be written: %s", job.pk, exc)
        with transaction.atomic():
            current = _still_ours(job)
            if current is not None:
                _finish(
                    current,
                    ExportState.FAILED,
                    now=timezone.now(),
                    failure="The archive could not be written.",
                )
                return current
        return job
    with transaction.atomic():
        current = _still_ours(job)
        if current is None:
            partial.unlink(missing_ok=True)
            return job
        # Under the row lock, so no other builder of this job renames over it.
        partial.replace(archive_path(job.pk))
        now = timezone.now()
        current.state = ExportState.READY
        current.ready_at = now
        current.expires_at = now + timedelta(hours=settings.EXPORT_EXPIRY_HOURS)
        current.size_bytes = size
        current.lease_expires_at = None
        current.save(
            update_fields=["state", "ready_at", "expires_at", "size_bytes", "lease_expires_at"]
        )
    return current


def _still_ours(job: ExportJob) -> ExportJob | None:
    """The job, locked, if it is still the build this process started."""
    current = ExportJob.objects.select_for_update().filter(pk=job.pk).first()
    if current is None or current.state != ExportState.BUILDING:
        return None
    if current.started_at != job.started_at:
        return None
    return current


def export_download_open(*, rider: Rider) -> tuple[ExportJob, BinaryIO]:
    """Hand out the rider's ready archive, once: the job becomes downloaded and its file is
    unlinked as soon as this commits (the open handle still reads it to the end). A
    download cut short is not offered again; the rider asks for a new export."""
    now = timezone.now()
    refusal: Exception | None = None
    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update()
            .filter(rider=rider)
            .order_by("-requested_at")
            .first()
        )
        if job is None:
            raise ExportNotFound()
        if job.state in (ExportState.PENDING, ExportState.BUILDING):
            raise ExportNotReady(state=job.state)
        if job.state != ExportState.READY:
            raise ExportGone(_GONE_MESSAGES[job.state], state=job.state)
        if job.state_at(now) == ExportState.EXPIRED:
            _finish(job, ExportState.EXPIRED, now=now)
            refusal = ExportGone(_GONE_MESSAGES[ExportState.EXPIRED], state=job.state)
        else:
            try:
                handle = archive_path(job.pk).open("rb")
            except FileNotFoundError:
                _finish(job, ExportState.FAILED, now=now, failure="The archive went missing.")
                refusal = ExportGone(_GONE_MESSAGES[ExportState.FAILED], state=job.state)
            else:
                _finish(job, ExportState.DOWNLOADED, now=now)
    # The refusal is raised once its state change is committed.
    if refusal is not None:
        raise refusal
    return job, handle


_GONE_MESSAGES: dict[str, str] = {
    ExportState.DOWNLOADED: "That export was already downloaded; ask for a new one.",
    ExportState.EXPIRED: "That export expired before it was downloaded; ask for a new one.",
    ExportState.FAILED: "That export could not be built; ask for a new one.",
}


def exports_expire() -> int:
    """Expire ready archives whose time is up (their files deleted) and forget finished jobs
    older than FINISHED_JOB_RETENTION; returns how many archives expired."""
    now = timezone.now()
    with transaction.atomic():
        expired = _expire_ready(ExportJob.objects.all(), now=now)
        ExportJob.objects.filter(
            state__in=[ExportState.DOWNLOADED, ExportState.EXPIRED, ExportState.FAILED],
            finished_at__lt=now - FINISHED_JOB_RETENTION,
        ).delete()
    return expired


def exports_sweep_orphans() -> int:
    """Delete archive files no job offers: left by a deletion whose file removal failed, or
    by a builder that died mid-way. Only files older than a build's lease are considered,
    so an archive being written, or renamed into place a moment ago, is never touched.
    Returns how many were deleted."""
    directory = export_directory()
    if not directory.is_dir():
        return 0
    cutoff = time.time() - settings.EXPORT_BUILD_TIMEOUT_SECONDS
    candidates = []
    for path in directory.iterdir():
        job_id, _, kind = path.name.partition(".")
        ours = _is_uuid(job_id) and (kind == "zip" or kind.endswith(".partial"))
        if ours and path.stat().st_mtime < cutoff:
            candidates.append((path, job_id, kind))
    offered = {
        str(pk)
        for pk in ExportJob.objects.filter(
            state=ExportState.READY, pk__in=[job_id for _, job_id, _ in candidates]
        ).values_list("pk", flat=True)
    }
    removed = 0
    for path, job_id, kind in candidates:
        if kind == "zip" and job_id in offered:
            continue
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def exports_discard(*, rider: Rider) -> int:
    """In the caller's transaction (an account's deletion): delete every export of the
    rider; their files go once it commits. Returns how many."""
    job_ids = list(ExportJob.objects.filter(rider=rider).values_list("pk", flat=True))
    if job_ids:
        ExportJob.objects.filter(pk__in=job_ids).delete()
        # Files go once the rows are gone for good; build_exports sweeps any left behind.
        transaction.on_commit(lambda: _remove_archive_files(*job_ids))
    return len(job_ids)


def _expire_ready(jobs, *, now: datetime) -> int:
    expiring = list(jobs.select_for_update().filter(state=ExportState.READY, expires_at__lte=now))
    for job in expiring:
        _finish(job, ExportState.EXPIRED, now=now)
    return len(expiring)


def _finish(job: ExportJob, state: ExportState, *, now: datetime, failure: str = "") -> None:
    job.state = state
    job.finished_at = now
    job.failure = failure
    job.lease_expires_at = None
    job.save(update_fields=["state", "finished_at", "failure", "lease_expires_at"])
    transaction.on_commit(lambda: _remove_archive_files(job.pk))


def export_directory() -> Path:
    return Path(settings.EXPORT_DIR)


def archive_path(job_id) -> Path:
    return export_directory() / f"{job_id}.zip"


def _remove_archive_files(*job_ids) -> None:
    for job_id in job_ids:
        archive_path(job_id).unlink(missing_ok=True)
        for partial in export_directory().glob(f"{job_id}.*.partial"):
            partial.unlink(missing_ok=True)


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False
