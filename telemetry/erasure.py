"""The connection logs' part of deleting an account: they pass to the account's stand-in,
so ride statistics keep every event without any being tied to the person."""

from riders.erasure import Erasure
from telemetry.models import ConnectionLog
from telemetry.services import rider_logs_lock


def connection_logs_hand_over(*, erasure: Erasure) -> int:
    """In the caller's transaction: give every connection log of the account to the stand-in;
    returns how many. The rider's upload lock is held first, so an upload in flight is
    either stored before (and handed over with the rest) or refused after (the account is
    closed by then)."""
    rider_logs_lock(erasure.tombstone.pk)
    return ConnectionLog.objects.filter(user=erasure.tombstone).update(user=erasure.stand_in)
