import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

USERNAME_MAX_LENGTH = 32
DISPLAY_NAME_MAX_LENGTH = 64


class RiderManager(BaseUserManager):
    def get_by_natural_key(self, username):
        # Log-in is case-insensitive, like the unique index that guards usernames.
        return self.alias(username_lower=Lower("username")).get(username_lower=username.lower())

    def create_user(self, username, email, password=None, **extra_fields):
        from riders.services import rider_create

        return rider_create(username=username, email=email, password=password, **extra_fields)

    def create_superuser(self, username, email, password=None, **extra_fields):
        from riders.services import rider_create

        return rider_create(
            username=username,
            email=email,
            password=password,
            is_staff=True,
            is_superuser=True,
            **extra_fields,
        )


class Rider(AbstractBaseUser, PermissionsMixin):
    """A person who rides with Convoy, and the account the app and the admin log in with."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    username = models.CharField(max_length=USERNAME_MAX_LENGTH)
    email = models.EmailField(max_length=254)
    display_name = models.CharField(max_length=DISPLAY_NAME_MAX_LENGTH, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RiderManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["username"]
        constraints = [
            # Unique regardless of case; the expression index also serves lower() lookups.
            models.UniqueConstraint(Lower("username"), name="rider_username_ci_unique"),
            models.UniqueConstraint(Lower("email"), name="rider_email_ci_unique"),
            models.CheckConstraint(
                condition=~models.Q(username=""), name="rider_username_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def public_name(self) -> str:
        return self.display_name or self.username
