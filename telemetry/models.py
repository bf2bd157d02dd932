import os
import time
import uuid

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import Func
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast
from django.db.models.lookups import Exact
from django.utils import timezone
from uuid6 import uuid7

CLIENT_EVENT_ID_MAX_LENGTH = 64


class EventType(models.TextChoices):
    CONNECTED = "connected", "Connected"
    DISCONNECTED = "disconnected", "Disconnected"
    RECONNECTING = "reconnecting", "Reconnecting"
    RECONNECTED = "reconnected", "Reconnected"
    ICE_FAILED = "ice_failed", "ICE failed"
    ICE_RESTART = "ice_restart", "ICE restart"
    QUALITY_REPORT = "quality_report", "Quality report"
    JOINED = "joined", "Joined room"
    LEFT = "left", "Left room"
    KICKED = "kicked", "Removed from room"
    NETWORK_CHANGED = "network_changed", "Network changed"


def new_log_id():
    # UUIDv7 is time-ordered, so new rows append to the right edge of the primary key index.
    return uuid7()


def new_log_ids_hex(count: int) -> list[str]:
    """``count`` UUIDv7 of the current millisecond as 32 hex digits, for bulk inserts.

    The same layout as :func:`new_log_id` (48-bit Unix milliseconds, version 7, 74 random
    bits with the RFC 4122 variant) at a fraction of its cost per id.
    """
    head = (time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | 0b10 << 62
    noise = os.urandom(10 * count)
    ids = []
    for n in range(count):
        rand = int.from_bytes(noise[10 * n : 10 * n + 10]) & ((1 << 74) - 1)
        ids.append(f"{head | (rand >> 62) << 64 | (rand & ((1 << 62) - 1)):032x}")
    return ids


_STATS_COLUMNS = ("rtt_ms", "jitter_ms", "packet_loss_pct", "bitrate_kbps")


def _metric_column(key: str) -> models.GeneratedField:
    # NULL unless the value is a JSON number: a row written around the ingest's validation
    # (a console fix, a script) with "rtt_ms": "fast" is still stored, and counts as missing.
    is_number = Exact(
        Func(
            KeyTransform(key, "metrics"), function="jsonb_typeof", output_field=models.CharField()
        ),
        "number",
    )
    return models.GeneratedField(
        expression=models.Case(
            models.When(is_number, then=Cast(KeyTextTransform(key, "metrics"), models.FloatField()))
        ),
        output_field=models.FloatField(),
        db_persist=True,
    )


class ConnectionLog(models.Model):
    """One connection event reported by a rider's phone (or recorded by the server for it).

    Stored in a table partitioned by day of occurred_at (telemetry/partitions.py).
    """

    id = models.UUIDField(primary_key=True, default=new_log_id, editable=False)
    # Erasing a rider erases their telemetry; a deleted room leaves its riders' logs in place.
    # FK indexes are off: the composite (rider/room, time) indexes below lead with them.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="connection_logs",
        db_index=False,
    )
    room = models.ForeignKey(
        "rooms.Room",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="connection_logs",
        db_index=False,
    )
    event_type = models.CharField(max_length=32, choices=EventType.choices)
    metrics = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    client_event_id = models.CharField(max_length=CLIENT_EVENT_ID_MAX_LENGTH, null=True, blank=True)
    # The quality figures as typed columns, computed by PostgreSQL from metrics on write: the
    # statistics read them from the covering indexes below instead of parsing every row's JSON.
    rtt_ms = _metric_column("rtt_ms")
    jitter_ms = _metric_column("jitter_ms")
    packet_loss_pct = _metric_column("packet_loss_pct")
    bitrate_kbps = _metric_column("bitrate_kbps")

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            # A phone re-sending a batch after a tunnel stores each event once. The table is
            # partitioned by occurred_at, so PostgreSQL's unique keys must hold it: a client
            # id reused for another time is caught by the ingest service instead (see
            # docs/telemetry.md). The database's primary key is likewise (id, occurred_at).
            models.UniqueConstraint(
                fields=["user", "client_event_id", "occurred_at"],
                name="log_client_event_time_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(event_type__in=EventType.values), name="log_event_type_known"
            ),
            models.CheckConstraint(
                condition=~models.Q(client_event_id=""), name="log_client_event_id_not_empty"
            ),
        ]
        indexes = [
            # "Logs of a room by time" (support timeline, room statistics). It carries what the
            # statistics read, so they are index-only scans of one contiguous range per day
            # instead of one heap page per event (a ride's events are spread over the day's
            # pages among every other ride's).
            models.Index(
                fields=["room", "occurred_at"],
                include=["event_type", "user", *_STATS_COLUMNS],
                name="log_room_time_stats_idx",
            ),
            # "Logs of a rider by time" (rider statistics, the rider's page), likewise.
            models.Index(
                fields=["user", "occurred_at"],
                include=["event_type", *_STATS_COLUMNS],
                name="log_user_time_stats_idx",
            ),
            # The support console's log list, newest first (ORDER BY occurred_at DESC, id DESC
            # LIMIT n): each day's partition is read from its top, no table is sorted.
            models.Index(fields=["-occurred_at", "-id"], name="log_recent_idx"),
            # The log list filtered by an event type other than the quality report (which
            # log_recent_idx answers, being most rows): kicked or ice_failed are one row in a
            # thousand, which log_recent_idx would scan past by the hundred thousand. Partial:
            # a few percent of the rows, so uploads pay little for it (docs/benchmarks.md).
            models.Index(
                fields=["event_type", "-occurred_at", "-id"],
                condition=~models.Q(event_type="quality_report"),
                name="log_rare_type_recent_idx",
            ),
            # The log list of one ride, newest first with the id tie-breaker, without sorting
            # the ride's rows (log_room_time_stats_idx orders by time alone).
            models.Index(fields=["room", "-occurred_at", "-id"], name="log_room_recent_idx"),
            # Time-range scans and retention cleanup: tiny, since rows arrive roughly in time order.
            BrinIndex(fields=["occurred_at"], name="log_occurred_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} by {self.user_id} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


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
