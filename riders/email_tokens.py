"""Single-use keys mailed in links: confirming an address, resetting a password.

A key is 32 random bytes (43 URL-safe characters); only its SHA-256 digest is stored, so the
table cannot be replayed even if it leaks. Redeeming one locks the rider's row first, then
the token's, and checks the token again under those locks: of two requests presenting the
same key (or two keys of the same rider and purpose) at once, exactly one gets through and
the other finds the token spent.
"""

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from riders.errors import (
    EmailTokenExpired,
    EmailTokenInvalid,
    EmailTokenSuperseded,
    EmailTokenUsed,
)
from riders.models import EmailToken, EmailTokenPurpose, Rider

KEY_LENGTH = 43
KEY_PATTERN = f"[A-Za-z0-9_-]{{{KEY_LENGTH}}}"
_KEY = re.compile(KEY_PATTERN)


@dataclass(frozen=True)
class IssuedEmailToken:
    key: str
    token: EmailToken


def email_token_issue(
    *, rider: Rider, purpose: EmailTokenPurpose, lifetime: timedelta
) -> IssuedEmailToken:
    """A new key for the rider's current address, in the caller's transaction; the rider's
    unspent keys of the same purpose are revoked, so only the newest link works."""
    email_tokens_revoke(rider=rider, purpose=purpose)
    key = secrets.token_urlsafe(32)
    now = timezone.now()
    token = EmailToken.objects.create(
        rider=rider,
        purpose=purpose,
        key_digest=_digest(key),
        email=rider.email,
        created_at=now,
        expires_at=now + lifetime,
    )
    return IssuedEmailToken(key=key, token=token)


def email_tokens_purge_spent(*, older_than: timedelta) -> int:
    """Delete the keys spent (used, revoked) or expired longer ago than ``older_than``: each
    names the address it went to, which nothing needs once the link cannot work."""
    cutoff = timezone.now() - older_than
    deleted, _ = EmailToken.objects.filter(
        Q(used_at__lt=cutoff) | Q(revoked_at__lt=cutoff) | Q(expires_at__lt=cutoff)
    ).delete()
    return deleted


def email_tokens_revoke(*, rider: Rider, purpose: EmailTokenPurpose) -> int:
    return EmailToken.objects.filter(
        rider=rider, purpose=purpose, used_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())


def email_token_redeem(*, key: object, purpose: EmailTokenPurpose) -> tuple[Rider, EmailToken]:
    """Spend the key: the rider (locked) and the token, now used. Inside the caller's
    transaction, so whatever the caller then refuses (a weak password) rolls the use back.

    EmailTokenInvalid for a key Convoy never issued for this purpose, or for a closed
    account; EmailTokenExpired, EmailTokenUsed or EmailTokenSuperseded for a spent one.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("email_token_redeem runs inside the transaction that acts on it.")
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise EmailTokenInvalid()
    digest = _digest(key)
    found = (
        EmailToken.objects.filter(key_digest=digest, purpose=purpose)
        .values_list("rider_id", flat=True)
        .first()
    )
    if found is None:
        raise EmailTokenInvalid()
    # The order every account change locks in: the rider, then what belongs to them.
    rider = Rider.objects.select_for_update(no_key=True).get(pk=found)
    token = EmailToken.objects.select_for_update().get(key_digest=digest)
    now = timezone.now()
    if token.used_at is not None:
        raise EmailTokenUsed()
    if token.revoked_at is not None or token.email.lower() != rider.email.lower():
        raise EmailTokenSuperseded()
    if token.expires_at <= now:
        raise EmailTokenExpired()
    if not rider.is_active:
        raise EmailTokenInvalid()
    token.used_at = now
    token.save(update_fields=["used_at"])
    return rider, token


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()
