import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
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


class OutboxEvent(models.Model):
    """Something that happened to a ride, written in the transaction of the change itself:
    what is here committed, and what committed is here. Webhook deliveries are made from
    these rows, never from memory.

    ``id`` orders a ride's events: every change to a ride holds its room's row lock, so its
    events are numbered in the order they commit. ``event_id`` is the stable id a receiver
    sees (``webhook-id``), the same for every attempt and every endpoint.
    """

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    type = models.CharField(max_length=40)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="outbox_events")
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["room", "id"], name="outbox_room_order_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class WebhookEndpoint(models.Model):
    """An operator's receiver: the URL, the event types it wants and the secret its
    deliveries are signed with (Standard Webhooks). Paused after failing for too long."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = ArrayField(models.CharField(max_length=40))
    secret = models.CharField(max_length=100, editable=False)
    is_active = models.BooleanField(default=True)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    paused_at = models.DateTimeField(null=True, blank=True, editable=False)
    pause_reason = models.CharField(max_length=300, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The fan-out of every event reads the active endpoints only.
            models.Index(
                fields=["created_at"], condition=models.Q(is_active=True), name="webhook_active_idx"
            )
        ]

    def __str__(self) -> str:
        return self.description or self.url

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None


class WebhookDelivery(models.Model):
    """One event for one endpoint: pending until a receiver answered 2xx."""

    PENDING = "pending"
    DELIVERED = "delivered"
    STATUSES = [(PENDING, "Pending"), (DELIVERED, "Delivered")]

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once"),
        ]
        indexes = [
            # A drain reads the head of one (endpoint, ride) queue, in event order.
            models.Index(
                fields=["endpoint", "room", "event"],
                condition=models.Q(status="pending"),
                name="webhook_pending_queue_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint}"


class WebhookAttempt(models.Model):
    """One POST of a delivery, as the receiver answered it (or did not)."""

    DELIVERED = "delivered"
    HTTP_ERROR = "http_error"
    REDIRECT_REFUSED = "redirect_refused"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    ADDRESS_REFUSED = "address_refused"
    RESPONSE_TOO_LARGE = "response_too_large"
    OUTCOMES = [
        (DELIVERED, "Delivered"),
        (HTTP_ERROR, "Receiver answered with an error"),
        (REDIRECT_REFUSED, "Redirect refused"),
        (TIMEOUT, "Timed out"),
        (CONNECTION_ERROR, "Could not connect"),
        (ADDRESS_REFUSED, "Address refused (private or loopback)"),
        (RESPONSE_TOO_LARGE, "Response too large"),
    ]

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="tries")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=OUTCOMES)
    response_excerpt = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_once"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
