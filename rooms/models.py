import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

# Six characters from 32 symbols that cannot be misread over a crackling intercom or on a
# glance at a phone: no 0/O and no 1/I.
ROOM_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
ROOM_CODE_LENGTH = 6
ROOM_NAME_MAX_LENGTH = 80
MIN_PARTICIPANTS = 2
MAX_PARTICIPANTS = 50
DEFAULT_MAX_PARTICIPANTS = 10

# Per-ride thresholds of the safety watch: (default, lowest, highest).
SPLIT_DISTANCE_M = (1000, 200, 20000)  # the group's spread along its direction of travel
STOPPED_SECONDS = (90, 30, 900)  # a rider at walking speed while the group moves on
SILENT_SPEED_KMH = (20, 5, 200)  # a dropped socket at this speed or faster may be a crash


class Room(models.Model):
    """A group ride: riders join it with its code and talk while riding."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=ROOM_NAME_MAX_LENGTH)
    code = models.CharField(max_length=ROOM_CODE_LENGTH)
    # A rider's account deletion keeps the ride for the others.
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="created_rooms",
    )
    max_participants = models.PositiveSmallIntegerField(default=DEFAULT_MAX_PARTICIPANTS)
    split_distance_m = models.PositiveIntegerField(
        default=SPLIT_DISTANCE_M[0], db_default=SPLIT_DISTANCE_M[0]
    )
    stopped_seconds = models.PositiveIntegerField(
        default=STOPPED_SECONDS[0], db_default=STOPPED_SECONDS[0]
    )
    silent_speed_kmh = models.PositiveSmallIntegerField(
        default=SILENT_SPEED_KMH[0], db_default=SILENT_SPEED_KMH[0]
    )
    is_active = models.BooleanField(default=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("deactivate_room", "Can end a ride"),
            ("remove_participant", "Can remove a rider from a ride"),
        ]
        constraints = [
            # Its index serves every join-by-code lookup.
            models.UniqueConstraint(fields=["code"], name="room_code_unique"),
            models.CheckConstraint(
                condition=models.Q(
                    max_participants__gte=MIN_PARTICIPANTS,
                    max_participants__lte=MAX_PARTICIPANTS,
                ),
                name="room_max_participants_range",
            ),
            models.CheckConstraint(
                condition=models.Q(is_active=True, deactivated_at__isnull=True)
                | models.Q(is_active=False, deactivated_at__isnull=False),
                name="room_deactivated_at_matches_flag",
            ),
            models.CheckConstraint(
                condition=models.Q(code__regex=r"^[A-HJ-NP-Z2-9]{6}$"),
                name="room_code_format",
            ),
            models.CheckConstraint(condition=~models.Q(name=""), name="room_name_not_empty"),
            models.CheckConstraint(
                condition=models.Q(
                    split_distance_m__gte=SPLIT_DISTANCE_M[1],
                    split_distance_m__lte=SPLIT_DISTANCE_M[2],
                ),
                name="room_split_distance_range",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    stopped_seconds__gte=STOPPED_SECONDS[1],
                    stopped_seconds__lte=STOPPED_SECONDS[2],
                ),
                name="room_stopped_seconds_range",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    silent_speed_kmh__gte=SILENT_SPEED_KMH[1],
                    silent_speed_kmh__lte=SILENT_SPEED_KMH[2],
                ),
                name="room_silent_speed_range",
            ),
        ]
        indexes = [
            # "List active rooms", newest first, touches only live rows.
            models.Index(
                fields=["-created_at"],
                condition=models.Q(is_active=True),
                name="room_active_recent_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class RoomParticipant(models.Model):
    """A rider's membership of a room; left rows stay for history and are reactivated on rejoin."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No single-column FK indexes: the (room, user) unique index and the (user, joined_at)
    # index below lead with these columns and serve the same lookups.
    room = models.ForeignKey(
        Room, on_delete=models.CASCADE, related_name="participants", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="participations",
        db_index=False,
    )
    joined_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    # Set when the ride's leader or staff removed the rider: until one of them readmits the
    # rider, neither a join by code nor a rejoin lets them back in.
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["joined_at"]
        constraints = [
            # One row per rider and room; its index also serves "is this rider in this room".
            models.UniqueConstraint(fields=["room", "user"], name="participant_room_user_unique"),
            # A rider talks in one room at a time: the database, not Python, guarantees it.
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(is_active=True),
                name="participant_one_active_room_per_rider",
            ),
            models.CheckConstraint(
                condition=models.Q(is_active=True, left_at__isnull=True)
                | models.Q(is_active=False, left_at__isnull=False),
                name="participant_left_at_matches_flag",
            ),
            models.CheckConstraint(
                condition=models.Q(removed_at__isnull=True) | models.Q(is_active=False),
                name="participant_removed_is_not_active",
            ),
        ]
        indexes = [
            # "Active participants of a room" in join order, and their count.
            models.Index(
                fields=["room", "joined_at"],
                condition=models.Q(is_active=True),
                name="participant_room_active_idx",
            ),
            # "Rooms of a rider", most recent first.
            models.Index(fields=["user", "-joined_at"], name="participant_user_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.room_id}"


# Where a position may be: the live layer keeps the same bounds (Redis tracks no position
# nearer the poles than its geo limit, so nothing stored here is outside it either).
MAX_LATITUDE = 85.05112878
MAX_SPEED_KMH = 400.0


class AlertKind(models.TextChoices):
    SPLIT = "split", "Cut off from the group"
    STOPPED = "stopped", "Stopped while the group rode on"
    SILENT = "silent", "Went silent at speed"
    SOS = "sos", "SOS"


class AlertStatus(models.TextChoices):
    # An SOS whose countdown runs: only its rider knows of it until due_at.
    PENDING = "pending", "Countdown running"
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class AlertResolution(models.TextChoices):
    RIDER_BACK = "rider_back", "Rider back"
    FALSE_ALARM = "false_alarm", "False alarm"
    HANDLED = "handled", "Handled"
    CONDITION_CLEARED = "condition_cleared", "Condition cleared"


class RideAlert(models.Model):
    """A rider of a ride may be in trouble: raised by the server's watch or the rider's SOS,
    acknowledged by someone who is on it, resolved when it is over. One row per incident: a
    condition that persists is the same alert until it is resolved."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No single-column FK indexes: the indexes below lead with room and rider.
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="alerts", db_index=False)
    rider = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="ride_alerts",
        db_index=False,
    )
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    status = models.CharField(max_length=16, choices=AlertStatus.choices)
    raised_at = models.DateTimeField(default=timezone.now)
    # The end of an SOS countdown: the alert opens then unless its rider cancelled it.
    due_at = models.DateTimeField(null=True, blank=True)
    # The rider's last known position when the alert was raised.
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    speed_kmh = models.FloatField(null=True, blank=True)
    heading_deg = models.FloatField(null=True, blank=True)
    position_at = models.DateTimeField(null=True, blank=True)
    # Their recent positions before it, oldest first: {lat, lon, speed_kmh, heading_deg, at}.
    trail = models.JSONField(default=list, blank=True)
    # What the rule saw: metres behind, the dead-zone hint, the countdown ...
    details = models.JSONField(default=dict, blank=True)
    # Accounts are tombstoned, never deleted, so SET_NULL only guards a manual deletion.
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(
        max_length=24, choices=AlertResolution.choices, null=True, blank=True
    )
    # None: the server resolved it (its condition ended), or nobody if resolved_at is None.
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )

    class Meta:
        ordering = ["-raised_at"]
        permissions = [("handle_alert", "Can acknowledge and resolve ride alerts")]
        constraints = [
            # A persisting condition is one alert, whoever raises it and however often: the
            # watchers of two servers racing on the same ride included.
            models.UniqueConstraint(
                fields=["room", "rider", "kind"],
                condition=~models.Q(status=AlertStatus.RESOLVED),
                name="ride_alert_one_unresolved",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=AlertKind.values), name="ride_alert_kind_known"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=AlertStatus.values), name="ride_alert_status_known"
            ),
            models.CheckConstraint(
                condition=models.Q(status=AlertStatus.RESOLVED, resolved_at__isnull=False)
                & models.Q(resolution__in=AlertResolution.values)
                | ~models.Q(status=AlertStatus.RESOLVED)
                & models.Q(resolved_at__isnull=True, resolution__isnull=True),
                name="ride_alert_resolution_matches_status",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=AlertStatus.ACKNOWLEDGED)
                | models.Q(acknowledged_at__isnull=False),
                name="ride_alert_acknowledged_has_time",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=AlertStatus.PENDING)
                | models.Q(due_at__isnull=False, kind=AlertKind.SOS),
                name="ride_alert_pending_is_sos_countdown",
            ),
            models.CheckConstraint(
                condition=models.Q(lat__isnull=True, lon__isnull=True)
                | models.Q(
                    # Both or neither: a comparison with NULL alone would let one through.
                    lat__isnull=False,
                    lon__isnull=False,
                    lat__gte=-MAX_LATITUDE,
                    lat__lte=MAX_LATITUDE,
                    lon__gte=-180,
                    lon__lte=180,
                ),
                name="ride_alert_position_range",
            ),
            models.CheckConstraint(
                condition=models.Q(speed_kmh__isnull=True)
                | models.Q(speed_kmh__gte=0, speed_kmh__lte=MAX_SPEED_KMH),
                name="ride_alert_speed_range",
            ),
            models.CheckConstraint(
                condition=models.Q(heading_deg__isnull=True)
                | models.Q(heading_deg__gte=0, heading_deg__lte=360),
                name="ride_alert_heading_range",
            ),
        ]
        indexes = [
            # A ride's alerts, newest first (the REST list, the ride page).
            models.Index(fields=["room", "-raised_at"], name="ride_alert_room_recent_idx"),
            # A rider's alerts: the account export and its deletion.
            models.Index(fields=["rider", "-raised_at"], name="ride_alert_rider_recent_idx"),
            # SOS countdowns coming due: alerts_raise_due reads only the pending rows.
            models.Index(
                fields=["due_at"],
                condition=models.Q(status=AlertStatus.PENDING),
                name="ride_alert_pending_due_idx",
            ),
            # Alerts nobody has taken on yet, oldest first: escalation and the console.
            models.Index(
                fields=["raised_at"],
                condition=models.Q(status=AlertStatus.OPEN),
                name="ride_alert_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.rider_id} in {self.room_id} ({self.status})"


class NoticeStatus(models.TextChoices):
    # Written here; the delivery work (mail, SMS) takes it from there.
    PENDING = "pending", "To be delivered"


class AlertContactNotice(models.Model):
    """An emergency contact must be told of an alert nobody in the ride answered: a durable
    "to be delivered" record, one per alert and contact, for the delivery work to pick up."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    alert = models.ForeignKey(
        RideAlert, on_delete=models.CASCADE, related_name="contact_notices", db_index=False
    )
    # The contact's deletion (by the rider, or with the account) takes what is owed them too.
    contact = models.ForeignKey(
        "riders.EmergencyContact", on_delete=models.CASCADE, related_name="alert_notices"
    )
    status = models.CharField(
        max_length=16, choices=NoticeStatus.choices, default=NoticeStatus.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # Exactly once per alert and contact, however many escalation runs see the alert.
            models.UniqueConstraint(
                fields=["alert", "contact"], name="notice_alert_contact_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=NoticeStatus.values), name="notice_status_known"
            ),
        ]
        indexes = [
            # What is still to be delivered, oldest first.
            models.Index(
                fields=["created_at"],
                condition=models.Q(status=NoticeStatus.PENDING),
                name="notice_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"notice of {self.alert_id} for {self.contact_id} ({self.status})"
