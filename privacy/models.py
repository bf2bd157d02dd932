import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ExportState(models.TextChoices):
    PENDING = "pending", "Waiting to be built"
    BUILDING = "building", "Being built"
    READY = "ready", "Ready to download"
    DOWNLOADED = "downloaded", "Downloaded"
    EXPIRED = "expired", "Expired before it was downloaded"
    FAILED = "failed", "Could not be built"


# A rider has at most one export in these states: asking again answers with it.
OPEN_STATES = (ExportState.PENDING, ExportState.BUILDING, ExportState.READY)


class ExportJob(models.Model):
    """A rider's request for a copy of their data, and the archive built for it.

    The archive lives in EXPORT_DIR as ``<id>.zip`` while the job is ready; the row keeps
    only times and a size, never any of the data.
    """

    # Random, so a job's id (and its file's name) cannot be guessed from another's.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The (rider, requested_at) index below leads with the rider.
    rider = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="export_jobs",
        db_index=False,
    )
    state = models.CharField(
        max_length=16, choices=ExportState.choices, default=ExportState.PENDING
    )
    requested_at = models.DateTimeField(default=timezone.now)
    # The current build: when it began, and when another builder may take it over (the
    # first one died or hung). Each build counts one attempt.
    started_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # When it was downloaded, expired or failed.
    finished_at = models.DateTimeField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    failure = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            # One export at a time per rider: fifty requests at once make one job.
            models.UniqueConstraint(
                fields=["rider"],
                condition=models.Q(state__in=OPEN_STATES),
                name="export_one_open_per_rider",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=ExportState.values), name="export_state_known"
            ),
            models.CheckConstraint(
                condition=~models.Q(state=ExportState.BUILDING)
                | models.Q(started_at__isnull=False, lease_expires_at__isnull=False),
                name="export_building_has_lease",
            ),
            models.CheckConstraint(
                condition=~models.Q(state=ExportState.READY)
                | models.Q(
                    ready_at__isnull=False, expires_at__isnull=False, size_bytes__isnull=False
                ),
                name="export_ready_has_archive",
            ),
        ]
        indexes = [
            # "The rider's latest export".
            models.Index(fields=["rider", "-requested_at"], name="export_rider_recent_idx"),
            # The builders' queue, oldest first.
            models.Index(
                fields=["requested_at"],
                condition=models.Q(state__in=[ExportState.PENDING, ExportState.BUILDING]),
                name="export_queue_idx",
            ),
            # Archives to delete once their time is up.
            models.Index(
                fields=["expires_at"],
                condition=models.Q(state=ExportState.READY),
                name="export_ready_expiry_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.state})"

    def state_at(self, moment) -> str:
        """The state as the rider sees it: a ready archive past its time is expired, even
        before build_exports has deleted it."""
        expired = self.expires_at is not None and self.expires_at <= moment
        if self.state == ExportState.READY and expired:
            return ExportState.EXPIRED
        return self.state
