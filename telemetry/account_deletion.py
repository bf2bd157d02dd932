"""Deleting an account (docs/privacy.md).

It spans every app, so it lives here, in the highest of them: one transaction erases the
account (riders), takes the rider out of their ride and hands their ride history to an
anonymous stand-in (rooms), hands it their connection logs too (telemetry), and discards
their exports. If any step fails, none has happened.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from riders.audit import audit_record, audit_rewrite_names
from riders.erasure import rider_erase
from riders.errors import CannotDeleteSelf
from riders.models import AuditAction, AuditEntry, Rider
from riders.services import rider_check_current_password
from rooms.erasure import rider_history_start, rides_hand_over
from telemetry.erasure import connection_logs_hand_over
from telemetry.exports import exports_discard


@dataclass(frozen=True)
class AccountDeleted:
    tombstone: Rider
    tokens_revoked: int
    left_ride: bool
    participations: int
    rides_opened: int
    connection_logs: int
    exports_discarded: int


def account_delete_own(*, rider: Rider, password: str) -> AccountDeleted:
    """The rider deletes their own account, confirming with their password; wrong
    passwords count against the same limit as a password change's."""
    rider_check_current_password(rider=rider, password=password)
    return _account_delete(rider=rider, actor=rider)


def account_delete_by_staff(*, rider: Rider, actor: Rider, reason: str = "") -> AccountDeleted:
    """A moderator deletes a rider's account from the console; ``reason`` is theirs, for the
    audit trail (with the account's former username and email replaced, like the rest of it)."""
    if rider.pk == actor.pk:
        raise CannotDeleteSelf()
    return _account_delete(rider=rider, actor=actor, reason=reason)


def _account_delete(*, rider: Rider, actor: Rider, reason: str = "") -> AccountDeleted:
    # Read before the erasure, which may rewrite the object passed in.
    former_username, former_email = rider.username, rider.email
    now = timezone.now()
    history_since = rider_history_start(rider=rider)
    with transaction.atomic():
        erasure = rider_erase(rider=rider, actor=actor, now=now, history_since=history_since)
        # The logs, the long step, before the rides: the rides' rows, which other riders'
        # joins lock too, are then held for the short end of the transaction only.
        logs = connection_logs_hand_over(erasure=erasure)
        rides = rides_hand_over(erasure=erasure, now=now)
        exports = exports_discard(rider=erasure.tombstone)
        outcome = AccountDeleted(
            tombstone=erasure.tombstone,
            tokens_revoked=erasure.tokens_revoked,
            left_ride=rides.left_ride,
            participations=rides.participations,
            rides_opened=rides.rides_opened,
            connection_logs=logs,
            exports_discarded=exports,
        )
        # Counts only: no name, no ride, nothing that leads to the stand-in.
        entry = audit_record(
            action=AuditAction.RIDER_DELETED,
            actor=erasure.tombstone if actor.pk == rider.pk else actor,
            target=erasure.tombstone,
            details={
                "by": "the rider" if actor.pk == rider.pk else "staff",
                "tokens_revoked": outcome.tokens_revoked,
                "left_a_ride": outcome.left_ride,
                "ride_memberships_anonymised": outcome.participations,
                "rides_opened_anonymised": outcome.rides_opened,
                "connection_logs_anonymised": outcome.connection_logs,
                "exports_discarded": outcome.exports_discarded,
            },
            reason=reason,
        )
        if reason:
            # A reason may name the rider; the trail keeps no name of a deleted account.
            audit_rewrite_names(
                entries=AuditEntry.objects.filter(pk=entry.pk),
                replacements={
                    former_username: erasure.tombstone.username,
                    former_email: erasure.tombstone.email,
                },
            )
    return outcome
