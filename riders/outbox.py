"""Delivering outbox items, whatever their kind: claim, attempt, record.

A run claims due items in one short transaction (``SELECT ... FOR UPDATE SKIP LOCKED``, so
runs side by side never take the same item), counts the attempt and leases the item by moving
its ``next_attempt_at`` past the attempt's longest possible duration. The attempt itself runs
outside any transaction: no lock or connection is held while a remote server answers. Its
outcome is written only if the lease is still this attempt's (same attempt count, still
pending). An attempt that dies half-way leaves the item pending; it is due again when its
lease ends, so nothing is lost (and something may be delivered twice: at least once).
"""

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Generic, TypeVar

import structlog
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from config import metrics
from riders.models import DeliveryStatus, OutboxItem

logger = structlog.get_logger(__name__)

Item = TypeVar("Item", bound=OutboxItem)

# After a failed attempt: 30 s, 1, 2, 4 ... minutes, at most an hour apart, each drawn within
# ±20% so items that failed together (an outage) do not all come back in the same second.
RETRY_FIRST_DELAY_SECONDS = 30
RETRY_MAX_DELAY_SECONDS = 3600
# Ten attempts span about three hours; then the item is given up.
MAX_ATTEMPTS = 10
ERROR_MAX_LENGTH = OutboxItem._meta.get_field("last_error").max_length or 500


class DeliveryFailure(Exception):
    """An attempt failed; retrying later may work."""


class PermanentDeliveryFailure(DeliveryFailure):
    """The other side refused for good (no such mailbox): retrying cannot help."""


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    EXPIRED = "expired"
    # Someone else's attempt finished or took the item over first; nothing recorded.
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class DeliveryKind(Generic[Item]):
    """How to deliver one kind of item: its model, the function that sends one, and how
    long one attempt may take at most (its lease)."""

    model: type[Item]
    send: Callable[[Item], None]
    lease: Callable[[], timedelta]
    name: str

    def rows(self) -> "QuerySet[Item]":
        return self.model.objects.all()


def claim_due(
    kind: DeliveryKind[Item], *, limit: int, ids: Sequence[object] | None = None
) -> list[Item]:
    """Claim up to ``limit`` due items (of ``ids`` only, if given), skipping those another
    run holds; each claim counts an attempt and leases the item."""
    now = timezone.now()
    with transaction.atomic():
        due = (
            kind.rows()
            .select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        )
        if ids is not None:
            due = due.filter(pk__in=ids)
        items = list(due.order_by("next_attempt_at")[:limit])
        leased_until = now + kind.lease()
        for item in items:
            item.attempts += 1
            item.next_attempt_at = leased_until
        kind.rows().bulk_update(items, ["attempts", "next_attempt_at"])
    return items


def attempt(kind: DeliveryKind[Item], item: Item) -> Outcome:
    """Send one claimed item and record what happened."""
    now = timezone.now()
    if item.deliver_by is not None and now >= item.deliver_by:
        return _record(kind, item, Outcome.EXPIRED, error="Not delivered before it expired.")
    try:
        kind.send(item)
    except PermanentDeliveryFailure as exc:
        return _record(kind, item, Outcome.FAILED, error=str(exc))
    except DeliveryFailure as exc:
        if item.attempts >= MAX_ATTEMPTS:
            return _record(
                kind, item, Outcome.FAILED, error=f"{exc} (gave up after {item.attempts} attempts)"
            )
        return _record(kind, item, Outcome.RETRY, error=str(exc))
    return _record(kind, item, Outcome.SENT)


def deliver_due(
    kind: DeliveryKind, *, batch_size: int, limit: int | None = None
) -> dict[Outcome, int]:
    """Deliver what is due, a batch at a time, until nothing is (or ``limit`` attempts)."""
    counts = dict.fromkeys(Outcome, 0)
    done = 0
    while limit is None or done < limit:
        size = batch_size if limit is None else min(batch_size, limit - done)
        items = claim_due(kind, limit=size)
        if not items:
            break
        for item in items:
            counts[attempt(kind, item)] += 1
        done += len(items)
    return counts


def retry_delay(attempts: int) -> timedelta:
    """How long after its ``attempts``-th failed attempt an item is due again."""
    base = min(RETRY_FIRST_DELAY_SECONDS * 2 ** (attempts - 1), RETRY_MAX_DELAY_SECONDS)
    spread = 0.8 + secrets.randbelow(401) / 1000
    return timedelta(seconds=base * spread)


def _record(kind: DeliveryKind[Item], item: Item, outcome: Outcome, error: str = "") -> Outcome:
    now = timezone.now()
    changes: dict[str, object] = {"last_error": error[:ERROR_MAX_LENGTH]}
    if outcome is Outcome.RETRY:
        changes["next_attempt_at"] = now + retry_delay(item.attempts)
    else:
        changes.update(
            status=DeliveryStatus(outcome.value),
            finished_at=now,
            **dict.fromkeys(kind.model.erased_when_finished, ""),
        )
    # Only while the lease is this attempt's: a later attempt may have claimed the item after
    # this one outlived its lease, and its outcome is the one that stands.
    updated = (
        kind.rows()
        .filter(pk=item.pk, status=DeliveryStatus.PENDING, attempts=item.attempts)
        .update(**changes)
    )
    if not updated:
        outcome = Outcome.SUPERSEDED
    for field, value in changes.items():
        setattr(item, field, value)
    metrics.record_outbox_delivery(kind.name, outcome.value)
    log = logger.info if outcome in (Outcome.SENT, Outcome.SUPERSEDED) else logger.warning
    log(
        "outbox delivery attempt",
        kind=kind.name,
        item_id=str(item.pk),
        attempt=item.attempts,
        outcome=outcome.value,
        error=error or None,
    )
    return outcome
