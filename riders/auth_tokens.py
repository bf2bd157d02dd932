"""Per-device API tokens: the one place where a bearer key becomes a rider.

The REST API's authentication class and the WebSocket consumer both call
``token_authenticate``; nothing else reads AuthToken rows to authenticate.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from riders.models import AuthToken, Rider

KEY_PREFIX = "cvy_"
# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
DEVICE_NAME_MAX_LENGTH = 64


@dataclass(frozen=True)
class IssuedToken:
    key: str
    token: AuthToken


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def token_issue(*, rider: Rider, device_name: str = "") -> IssuedToken:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    token = AuthToken.objects.create(
        user=rider,
        key_digest=token_digest(key),
        key_prefix=key[:12],
        device_name=" ".join(str(device_name or "").split())[:DEVICE_NAME_MAX_LENGTH],
        created_at=now,
        expires_at=now + timedelta(days=settings.AUTH_TOKEN_TTL_DAYS),
    )
    return IssuedToken(key=key, token=token)


def token_authenticate(*, key: str) -> tuple[Rider, AuthToken] | None:
    """The rider and token for a live key of an active rider, or None."""
    if not isinstance(key, str) or not key.startswith(KEY_PREFIX) or len(key) > 128:
        return None
    token = (
        AuthToken.objects.select_related("user")
        .filter(key_digest=token_digest(key), expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        AuthToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token.user, token


def token_revoke(*, token: AuthToken) -> None:
    AuthToken.objects.filter(pk=token.pk).delete()


def token_revoke_all(*, rider: Rider) -> int:
    with transaction.atomic():
        deleted, _ = AuthToken.objects.filter(user=rider).delete()
    return deleted


def token_revoke_expired() -> int:
    deleted, _ = AuthToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
