"""What Convoy has to deliver outside its database, kept in it until delivered.

Each kind of delivery is a model of its own on ``OutboxItem`` (today only ``Mail``; push
notifications or webhooks would be siblings with their own columns and their own deliverer),
so every kind shares the delivery bookkeeping and the loop in ``outbox.delivery``: written in
the transaction of the change that causes it, claimed with ``FOR UPDATE SKIP LOCKED``, sent
outside any transaction, then marked sent or scheduled for another try.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be delivered"
    SENT = "sent", "Delivered"
    FAILED = "failed", "Given up: refused, or too many failed attempts"
    EXPIRED = "expired", "Not delivered while it still meant something"


class OutboxItem(models.Model):
    """One delivery: pending until sent, given up on, or past its ``deliver_by``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    # Attempts started: counted when an attempt claims the item, so one that crashed counts.
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the item is next due; while an attempt runs, the end of that attempt's lease.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Past this, delivering would be useless (a link in it has expired): given up instead.
    deliver_by = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = models.Manager()

    # Fields emptied once the item is finished, however: they may carry secrets (a link).
    erased_when_finished: tuple[str, ...] = ()

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=DeliveryStatus.values),
                name="%(app_label)s_%(class)s_status_known",
            ),
            models.CheckConstraint(
                condition=models.Q(status=DeliveryStatus.PENDING, finished_at__isnull=True)
                | (~models.Q(status=DeliveryStatus.PENDING) & models.Q(finished_at__isnull=False)),
                name="%(app_label)s_%(class)s_finished_when_not_pending",
            ),
        ]
        indexes = [
            # What is due, oldest first: the one query every delivery run starts with.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status=DeliveryStatus.PENDING),
                name="%(app_label)s_%(class)s_due_idx",
            ),
            # Finished items by age, for the retention purge.
            models.Index(
                fields=["created_at"],
                condition=~models.Q(status=DeliveryStatus.PENDING),
                name="%(app_label)s_%(class)s_done_idx",
            ),
        ]


class Mail(OutboxItem):
    """A plain-text mail to one address."""

    # The rider the mail is for; their mail goes with their account.
    rider = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="outgoing_mail",
    )
    # What the mail is for, e.g. "verify_email" or "password_reset"; for operators and logs.
    purpose = models.CharField(max_length=32)
    to_address = models.EmailField(max_length=254)
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)

    erased_when_finished = ("body",)

    class Meta(OutboxItem.Meta):
        verbose_name = "outgoing mail"
        verbose_name_plural = "outgoing mail"

    def __str__(self) -> str:
        return f"{self.purpose} mail ({self.get_status_display()})"
