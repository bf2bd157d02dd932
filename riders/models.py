import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import MinLengthValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

USERNAME_MIN_LENGTH = 3
USERNAME_MAX_LENGTH = 32
# ASCII letters, digits, dot, dash and underscore only: a Cyrillic or Greek look-alike
# letter can never pose as a Latin one, so two riders cannot hold names that look the same.
USERNAME_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
USERNAME_PATTERN_MESSAGE = (
    "Username may contain only Latin letters, digits, '.', '-' and '_', "
    "and must start and end with a letter or digit."
)
DISPLAY_NAME_MAX_LENGTH = 64
APP_VERSION_MAX_LENGTH = 32


class RiderManager(BaseUserManager):
    def get_by_natural_key(self, username):
        # Log-in is case-insensitive, like the unique index that guards usernames.
        return self.alias(username_lower=Lower("username")).get(username_lower=username.lower())

    def create_user(self, username, email, password=None, **extra_fields):
        """Store a new rider; a password of None makes an account that cannot log in yet.

        It checks nothing: riders.services.rider_create checks and normalises what is typed,
        then calls this, as Django's createsuperuser does through create_superuser.
        """
        rider = self.model(
            username=self.model.normalize_username(username),
            email=self.normalize_email(email),
            **extra_fields,
        )
        if password is None:
            rider.set_unusable_password()
        else:
            rider.set_password(password)
        rider.save(force_insert=True, using=self._db)
        return rider

    def create_superuser(self, username, email, password=None, **extra_fields):
        return self.create_user(
            username, email, password, is_staff=True, is_superuser=True, **extra_fields
        )


class Rider(AbstractBaseUser, PermissionsMixin):
    """A person who rides with Convoy, and the account the app and the admin log in with."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The validators hold the rule for every form that cleans the field, Django's
    # createsuperuser included; riders.validation applies the same rule to the API.
    username = models.CharField(
        max_length=USERNAME_MAX_LENGTH,
        validators=[
            MinLengthValidator(USERNAME_MIN_LENGTH),
            RegexValidator(f"^{USERNAME_PATTERN}\\Z", USERNAME_PATTERN_MESSAGE),
        ],
    )
    email = models.EmailField(max_length=254)
    # When the rider proved they read mail at ``email`` (opened the link mailed to it); None
    # until then, and again once the address changes.
    email_verified_at = models.DateTimeField(null=True, blank=True)
    display_name = models.CharField(max_length=DISPLAY_NAME_MAX_LENGTH, blank=True)
    # What the rider's presence shares with the riders of their ride: when off, the live state
    # never keeps the value (battery percentage, network type), so no event, snapshot or
    # presence answer carries it. Applied at once to the ride the rider is live in. The
    # database default lets a server still running the previous release insert riders.
    share_battery = models.BooleanField(default=True, db_default=True)
    share_network = models.BooleanField(default=True, db_default=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when the person deleted the account (or a moderator did): the row stays, as a
    # tombstone with no personal data, so the audit trail keeps pointing at something.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # An account no person holds: it takes over a deleted account's rides and connection
    # logs, so ride histories and statistics stay whole (docs/privacy.md).
    is_stand_in = models.BooleanField(default=False)

    objects = RiderManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["username"]
        permissions = [("deactivate_rider", "Can deactivate a rider")]
        constraints = [
            # Unique regardless of case; the expression index also serves lower() lookups.
            models.UniqueConstraint(Lower("username"), name="rider_username_ci_unique"),
            models.UniqueConstraint(Lower("email"), name="rider_email_ci_unique"),
            models.CheckConstraint(
                condition=~models.Q(username=""), name="rider_username_not_empty"
            ),
            # Neither a deleted account nor a stand-in can log in, and none is both.
            models.CheckConstraint(
                condition=models.Q(deleted_at__isnull=True, is_stand_in=False)
                | models.Q(is_active=False, is_staff=False, is_superuser=False),
                name="rider_deleted_or_stand_in_is_inactive",
            ),
            models.CheckConstraint(
                condition=models.Q(deleted_at__isnull=True) | models.Q(is_stand_in=False),
                name="rider_not_deleted_and_stand_in",
            ),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def public_name(self) -> str:
        return self.display_name or self.username

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class AuthToken(models.Model):
    """A per-device API token. Only its SHA-256 digest is stored; the rider's phone keeps the key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(Rider, on_delete=models.CASCADE, related_name="auth_tokens")
    # Unique digest: its index is the one lookup every authenticated request makes.
    key_digest = models.CharField(max_length=64, unique=True, editable=False)
    # The key's first characters, so a rider and support can tell devices apart safely.
    key_prefix = models.CharField(max_length=12, editable=False)
    device_name = models.CharField(max_length=64, blank=True)
    # The app's version as it said at log-in (e.g. "2.4.1"); blank when it did not say.
    app_version = models.CharField(max_length=APP_VERSION_MAX_LENGTH, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")),
                name="token_expires_after_creation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key_prefix}… ({self.device_name or 'device'})"


class EmailTokenPurpose(models.TextChoices):
    VERIFY_EMAIL = "verify_email", "Confirm an email address"
    RESET_PASSWORD = "reset_password", "Reset the password"


class EmailToken(models.Model):
    """A single-use key mailed to a rider in a link. Only its SHA-256 digest is stored.

    Spent once: ``used_at`` when its link was opened, or ``revoked_at`` when something made
    it moot first (a newer link of the same purpose, a password change, a reset).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rider = models.ForeignKey(Rider, on_delete=models.CASCADE, related_name="email_tokens")
    purpose = models.CharField(max_length=16, choices=EmailTokenPurpose.choices)
    key_digest = models.CharField(max_length=64, unique=True, editable=False)
    # The address the link went to: it is good only while that is still the rider's.
    email = models.EmailField(max_length=254)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(purpose__in=EmailTokenPurpose.values),
                name="email_token_purpose_known",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")),
                name="email_token_expires_after_creation",
            ),
            models.CheckConstraint(
                condition=models.Q(used_at__isnull=True) | models.Q(revoked_at__isnull=True),
                name="email_token_spent_once",
            ),
        ]
        indexes = [
            # A rider's unspent links of one purpose, which a newer one revokes.
            models.Index(
                fields=["rider", "purpose"],
                condition=models.Q(used_at__isnull=True, revoked_at__isnull=True),
                name="email_token_unspent_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} link for {self.email}"


class AuditAction(models.TextChoices):
    ROOM_CREATED = "room_created", "Ride opened"
    ROOM_DEACTIVATED = "room_deactivated", "Ride ended"
    PARTICIPANT_REMOVED = "participant_removed", "Rider removed from a ride"
    PARTICIPANT_READMITTED = "participant_readmitted", "Removed rider let back into a ride"
    RIDER_DEACTIVATED = "rider_deactivated", "Rider deactivated"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    STAFF_ROLE_CHANGED = "staff_role_changed", "Staff role changed"
    PASSWORD_RESET = "password_reset", "Password reset through a mailed link"
    RIDER_DELETED = "rider_deleted", "Account deleted"
    ALERT_ACKNOWLEDGED = "alert_acknowledged", "Ride alert acknowledged"
    ALERT_RESOLVED = "alert_resolved", "Ride alert resolved"


class AuditEntry(models.Model):
    """One change made to Convoy, by whom and to what; written in the change's transaction."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A deleted account keeps its trail; the entry then reads "actor unknown".
    actor = models.ForeignKey(
        Rider,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_entries",
        db_index=False,
    )
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    # What was changed: "rooms.room" and the room's id, with a label readable without a join.
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    target_label = models.CharField(max_length=200)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit trail"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=AuditAction.values), name="audit_action_known"
            ),
        ]
        indexes = [
            # The trail, newest first.
            models.Index(fields=["-created_at"], name="audit_recent_idx"),
            # "Everything that happened to this ride / rider", newest first.
            models.Index(
                fields=["target_type", "target_id", "-created_at"], name="audit_target_idx"
            ),
            # "Everything this staff member did".
            models.Index(fields=["actor", "-created_at"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.target_label}"


# --- The outbox -----------------------------------------------------------------------------
# What Convoy has to deliver outside its database, kept in it until delivered. Each kind of
# delivery is a model of its own on ``OutboxItem`` (today only ``Mail``; push notifications or
# webhooks would be siblings with their own columns and their own deliverer), so every kind
# shares the delivery bookkeeping and the loop in ``riders.outbox``: written in the
# transaction of the change that causes it, claimed with ``FOR UPDATE SKIP LOCKED``, sent
# outside any transaction, then marked sent or scheduled for another try. Living in the lowest
# app, it is there for every app above riders too.


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
        Rider,
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


CONTACT_NAME_MAX_LENGTH = 100
CONTACTS_PER_RIDER = 5


class EmergencyContact(models.Model):
    """Someone to tell when the rider may be in trouble in a ride and nobody there answers.
    Kept only with the rider's word that the contact agreed (``consent_recorded_at``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rider = models.ForeignKey(
        Rider, on_delete=models.CASCADE, related_name="emergency_contacts", db_index=False
    )
    name = models.CharField(max_length=CONTACT_NAME_MAX_LENGTH)
    # E.164 ("+41791234567"), checked with the phonenumbers library; "" for none.
    phone = models.CharField(max_length=16, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    consent_recorded_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(phone="", email=""), name="contact_phone_or_email"
            ),
            models.CheckConstraint(condition=~models.Q(name=""), name="contact_name_not_empty"),
            models.CheckConstraint(
                condition=models.Q(phone="") | models.Q(phone__regex=r"^\+[1-9][0-9]{6,14}$"),
                name="contact_phone_e164",
            ),
        ]
        indexes = [
            # A rider's contacts in the order they were added: the list, the count, escalation.
            models.Index(fields=["rider", "created_at"], name="contact_rider_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (contact of {self.rider_id})"
