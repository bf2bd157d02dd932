"""The account's part of deleting an account: its personal data erased, a stand-in made.

telemetry.account_deletion calls rider_erase first, inside its transaction, then hands the
rider's rides (rooms.erasure) and connection logs (telemetry.erasure) to the stand-in this
returns. docs/privacy.md says what is kept, what is erased, and why.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q

from config.integrity import violated_constraint
from riders.audit import audit_rewrite_names
from riders.errors import (
    AccountAlreadyDeleted,
    RiderNotFound,
    StandInNotDeletable,
    SuperuserDeletionProtected,
)
from riders.models import AuditEntry, AuthToken, EmailToken, EmergencyContact, Mail, Rider

# Both fit the username rule, so the console and createsuperuser's validators accept them;
# ".invalid" is reserved (RFC 2606) and never delivers mail.
TOMBSTONE_PREFIX = "deleted-"
STAND_IN_PREFIX = "anonymous-"
TOMBSTONE_EMAIL_DOMAIN = "deleted.invalid"
STAND_IN_EMAIL_DOMAIN = "anonymous.invalid"
_NAME_ATTEMPTS = 5


@dataclass(frozen=True)
class Erasure:
    """What rider_erase did. ``stand_in_names`` maps the username, email and id the account
    had to the stand-in's, for the entries about its rides to be rewritten in the same
    transaction; the old names live only in memory, never in a row.
    """

    tombstone: Rider
    stand_in: Rider
    tokens_revoked: int
    stand_in_names: dict[str, str]


def rider_erase(
    *, rider: Rider, actor: Rider, now: datetime, history_since: datetime | None
) -> Erasure:
    """Erase the account's personal data, in the caller's transaction.

    The rider row is locked first, the order every membership change locks in. The row stays
    as a tombstone (a random ``deleted-…`` username and ``…@deleted.invalid`` email, so the
    real ones are free for anyone to register again; no display name, no usable password,
    inactive, no staff role), every device is signed out, and the audit trail's entries
    about the account or by it have the old names replaced by the tombstone's.

    The stand-in is a new rider no one holds, dated from ``history_since`` (the start of
    the history it takes over) rather than from this moment, so its row does not point at
    the deletion's time.
    """
    locked = Rider.objects.select_for_update(no_key=True).filter(pk=rider.pk).first()
    if locked is None:
        raise RiderNotFound()
    if locked.deleted_at is not None:
        raise AccountAlreadyDeleted()
    if locked.is_stand_in:
        raise StandInNotDeletable()
    if locked.is_superuser and not actor.is_superuser:
        raise SuperuserDeletionProtected()
    former = {"username": locked.username, "email": locked.email}
    stand_in = _create_stand_in(created_at=min(history_since or now, now))
    tokens_revoked, _ = AuthToken.objects.filter(user=locked).delete()
    # Mailed links and the mails themselves (pending or sent) name the address being erased.
    EmailToken.objects.filter(rider=locked).delete()
    Mail.objects.filter(rider=locked).delete()
    # The people to tell in an emergency, and what was still to be delivered to them.
    EmergencyContact.objects.filter(rider=locked).delete()
    locked.groups.clear()
    locked.user_permissions.clear()
    _make_tombstone(locked, now=now)
    audit_rewrite_names(
        entries=AuditEntry.objects.filter(
            Q(target_type=Rider._meta.label_lower, target_id=str(locked.pk)) | Q(actor=locked)
        ),
        replacements={former["username"]: locked.username, former["email"]: locked.email},
    )
    return Erasure(
        tombstone=locked,
        stand_in=stand_in,
        tokens_revoked=tokens_revoked,
        stand_in_names={
            former["username"]: stand_in.username,
            former["email"]: stand_in.email,
            str(locked.pk): str(stand_in.pk),
        },
    )


def _create_stand_in(*, created_at: datetime) -> Rider:
    for _ in range(_NAME_ATTEMPTS):
        name = f"{STAND_IN_PREFIX}{secrets.token_hex(6)}"
        stand_in = Rider(
            username=name,
            email=f"{name}@{STAND_IN_EMAIL_DOMAIN}",
            is_active=False,
            is_stand_in=True,
            created_at=created_at,
        )
        stand_in.set_unusable_password()
        try:
            with transaction.atomic():
                stand_in.save(force_insert=True)
        except IntegrityError as exc:
            _raise_unless_name_taken(exc)
            continue  # a 48-bit name already taken: draw another
        return stand_in
    raise RuntimeError("No free stand-in name after several draws.")


def _make_tombstone(rider: Rider, *, now: datetime) -> None:
    rider.set_unusable_password()
    for _ in range(_NAME_ATTEMPTS):
        name = f"{TOMBSTONE_PREFIX}{secrets.token_hex(6)}"
        values = {
            "username": name,
            "email": f"{name}@{TOMBSTONE_EMAIL_DOMAIN}",
            "display_name": "",
            "email_verified_at": None,
            "password": rider.password,
            "is_active": False,
            "is_staff": False,
            "is_superuser": False,
            "last_login": None,
            "deleted_at": now,
            "updated_at": now,
        }
        try:
            with transaction.atomic():
                Rider.objects.filter(pk=rider.pk).update(**values)
        except IntegrityError as exc:
            _raise_unless_name_taken(exc)
            continue
        for field, value in values.items():
            setattr(rider, field, value)
        return
    raise RuntimeError("No free tombstone name after several draws.")


def _raise_unless_name_taken(exc: IntegrityError) -> None:
    if violated_constraint(exc) not in _NAME_CONSTRAINTS:
        raise exc


_NAME_CONSTRAINTS = frozenset({"rider_username_ci_unique", "rider_email_ci_unique"})
