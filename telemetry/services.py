import json
import math
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from config.errors import DomainError
from config.identifiers import parse_uuid
from config.integrity import violated_constraint
from riders.models import Rider
from rooms.errors import RoomNotFound
from rooms.models import Room
from rooms.selectors import normalize_room_code
from telemetry.errors import (
    BatchTooLarge,
    ClientEventConflict,
    InvalidBatch,
    InvalidCleanupRequest,
    InvalidEvent,
)
from telemetry.models import ConnectionLog, EventType, new_log_id
from telemetry.validation import MetricValue, ValidEvent, clean_event

MAX_BATCH_SIZE = 500
BATCH_EVENT_KEYS = frozenset(
    {"event_type", "occurred_at", "client_event_id", "metrics", "room_code", "room_id"}
)
_CLIENT_EVENT_UNIQUE = "log_client_event_unique_per_rider"

OutcomeStatus = Literal["stored", "duplicate", "rejected", "conflict"]
# Given a batch's room codes and room ids, return (id, code) of the rooms among them that
# exist and may be referenced. The default reads every existing room in one query.
RoomLookup = Callable[[Collection[str], Collection[UUID]], Iterable[tuple[UUID, str]]]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class EventOutcome:
    """What became of the event at ``index`` of an uploaded batch."""

    index: int
    status: OutcomeStatus
    id: UUID | None = None
    code: str | None = None
    message: str | None = None
    fields: dict = field(default_factory=dict)

    @classmethod
    def refused(cls, index: int, status: OutcomeStatus, error: DomainError) -> "EventOutcome":
        return cls(index, status, None, error.code, error.message, error.fields)


@dataclass(frozen=True)
class CleanupResult:
    count: int  # deleted, or that would be deleted on a dry run
    cutoff: datetime
    batches: int
    dry_run: bool


@dataclass(frozen=True)
class _Content:
    """What a client event id stands for: re-sending it with other content is a conflict."""

    event_type: str
    occurred_at: datetime | None
    metrics: dict[str, MetricValue]
    room_id: UUID | None


@dataclass(frozen=True)
class _Pending:
    index: int
    event: ValidEvent
    room_id: UUID | None

    @property
    def content(self) -> _Content:
        return _Content(
            self.event.event_type, self.event.occurred_at, self.event.metrics, self.room_id
        )


def connection_log_record(
    *,
    rider: Rider,
    event_type: str,
    room: Room | None = None,
    metrics: dict | None = None,
    occurred_at: datetime | str | None = None,
    client_event_id: str | None = None,
) -> ConnectionLog:
    """Store one connection event; occurred_at defaults to now.

    Re-recording a client_event_id with the same content returns the row stored first; with
    other content it raises ClientEventConflict. When occurred_at is omitted, the stored time
    is not compared: the caller never said when the event happened.
    """
    now = timezone.now()
    event = clean_event(
        event_type=event_type,
        occurred_at=now if occurred_at is None else occurred_at,
        metrics=metrics,
        client_event_id=client_event_id,
        now=now,
    )
    log = ConnectionLog(
        user=rider,
        room=room,
        event_type=event.event_type,
        metrics=event.metrics,
        occurred_at=event.occurred_at,
        recorded_at=now,
        client_event_id=event.client_event_id,
    )
    try:
        with transaction.atomic():
            log.save(force_insert=True)
    except IntegrityError as exc:
        if violated_constraint(exc) != _CLIENT_EVENT_UNIQUE:
            raise
        return _existing_if_same(log, compare_time=occurred_at is not None)
    return log


def quality_report_record(
    *,
    rider: Rider,
    room: Room | None,
    metrics: dict,
    occurred_at: datetime | str | None = None,
    client_event_id: str | None = None,
) -> ConnectionLog:
    """A quality report needs at least one of rtt_ms, jitter_ms, packet_loss_pct, bitrate_kbps."""
    return connection_log_record(
        rider=rider,
        event_type=EventType.QUALITY_REPORT,
        room=room,
        metrics=metrics,
        occurred_at=occurred_at,
        client_event_id=client_event_id,
    )


def connection_log_ingest_batch(
    *, rider: Rider, events: list[dict], room_lookup: RoomLookup | None = None
) -> list[EventOutcome]:
    """Store a phone's buffered events; answer, per input index, what became of each one.

    Each event is a dict of event_type, occurred_at, client_event_id (all required), metrics
    and room_code or room_id (optional). Events are validated one by one; the valid ones go
    to the database in one ``INSERT ... ON CONFLICT DO NOTHING``, so re-sending a batch after a
    dropped connection stores nothing twice. A client event id already used for other
    content (type, time, metrics or room) is a "conflict" and the first event is kept.
    """
    if not isinstance(events, list | tuple):
        raise InvalidBatch(fields={"events": ["Send a list of events."]})
    if len(events) > MAX_BATCH_SIZE:
        raise BatchTooLarge(
            f"A batch holds at most {MAX_BATCH_SIZE} events; this one holds {len(events)}.",
            limit=MAX_BATCH_SIZE,
            received=len(events),
        )
    now = timezone.now()
    outcomes: dict[int, EventOutcome] = {}
    parsed: list[tuple[int, ValidEvent, str | UUID | None]] = []
    for index, raw in enumerate(events):
        try:
            event, room_ref = _clean_batch_event(raw, now=now)
        except DomainError as exc:
            outcomes[index] = EventOutcome.refused(index, "rejected", exc)
        else:
            parsed.append((index, event, room_ref))

    pending, unknown_rooms = _attach_rooms(parsed, lookup=room_lookup or _rooms_of_rider(rider))
    for outcome in [*unknown_rooms, *_store_pending(rider=rider, pending=pending, now=now)]:
        outcomes[outcome.index] = outcome
    return [outcomes[index] for index in range(len(events))]


def connection_log_cleanup(
    *,
    older_than: timedelta,
    batch_size: int = 5000,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> CleanupResult:
    """Delete logs whose occurred_at is before now - older_than, batch_size rows at a time.

    Each batch is its own short transaction, so the table is never locked for long and an
    interrupted run keeps what it deleted. ``progress(done, total)`` follows every batch.
    """
    if not isinstance(older_than, timedelta) or older_than <= timedelta(0):
        raise InvalidCleanupRequest(fields={"older_than": ["Give a positive age."]})
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidCleanupRequest(fields={"batch_size": ["Give a batch size of at least 1."]})
    cutoff = timezone.now() - older_than
    total = ConnectionLog.objects.filter(occurred_at__lt=cutoff).count()
    if dry_run:
        return CleanupResult(total, cutoff, math.ceil(total / batch_size), dry_run=True)

    table = connection.ops.quote_name(ConnectionLog._meta.db_table)
    sql = (
        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE occurred_at < %s LIMIT %s)"
    )
    deleted = batches = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [cutoff, batch_size])
            removed = cursor.rowcount
        if removed == 0:
            break
        deleted += removed
        batches += 1
        if progress is not None:
            # Rows of the past can still arrive while we delete; never report above 100%.
            progress(deleted, max(total, deleted))
        if removed < batch_size:
            break
    return CleanupResult(deleted, cutoff, batches, dry_run=False)


def _clean_batch_event(raw: object, *, now: datetime) -> tuple[ValidEvent, str | UUID | None]:
    if not isinstance(raw, dict):
        raise InvalidEvent("Each event must be an object.")
    unknown = sorted(str(key) for key in raw if key not in BATCH_EVENT_KEYS)
    if unknown:
        problem = f"Unknown event field(s): {', '.join(unknown)}."
        raise InvalidEvent(problem, fields={key: ["Unknown field."] for key in unknown})
    event = clean_event(
        event_type=raw.get("event_type"),
        occurred_at=raw.get("occurred_at"),
        metrics=raw.get("metrics"),
        client_event_id=raw.get("client_event_id"),
        now=now,
        require_client_event_id=True,
    )
    return event, _room_reference(raw.get("room_code"), raw.get("room_id"))


def _room_reference(room_code: object, room_id: object) -> str | UUID | None:
    if room_code is not None and room_id is not None:
        problem = "Give room_code or room_id, not both."
        raise InvalidEvent(problem, fields={"room_code": [problem], "room_id": [problem]})
    if room_code is not None:
        return normalize_room_code(room_code)
    if room_id is not None:
        return parse_uuid(room_id, what="room_id")
    return None


def _attach_rooms(
    parsed: list[tuple[int, ValidEvent, str | UUID | None]], *, lookup: RoomLookup
) -> tuple[list[_Pending], list[EventOutcome]]:
    """Resolve every room reference of the batch at once; an unknown room rejects its event."""
    room_ids = _resolve_room_references({ref for _, _, ref in parsed if ref is not None}, lookup)
    pending, rejected = [], []
    for index, event, room_ref in parsed:
        if room_ref is None or room_ref in room_ids:
            room_id = room_ids[room_ref] if room_ref is not None else None
            pending.append(_Pending(index, event, room_id))
        else:
            missing = RoomNotFound(
                f"No ride matches the room reference {room_ref}.",
                fields={"room": [f"No ride matches {room_ref}."]},
            )
            rejected.append(EventOutcome.refused(index, "rejected", missing))
    return pending, rejected


def _resolve_room_references(refs: set[str | UUID], lookup: RoomLookup) -> dict[str | UUID, UUID]:
    """Map every reference (code or id) that names an existing room to the room's id."""
    if not refs:
        return {}
    codes = {ref for ref in refs if isinstance(ref, str)}
    ids = {ref for ref in refs if isinstance(ref, UUID)}
    resolved: dict[str | UUID, UUID] = {}
    for room_id, code in lookup(codes, ids):
        resolved[room_id] = room_id
        resolved[code] = room_id
    return {ref: resolved[ref] for ref in refs if ref in resolved}


def _rooms_of_rider(rider: Rider) -> RoomLookup:
    """Rooms the rider has been in: a phone cannot pour events into someone else's ride."""

    def lookup(codes: Collection[str], ids: Collection[UUID]) -> Iterable[tuple[UUID, str]]:
        return (
            Room.objects.filter(Q(code__in=codes) | Q(pk__in=ids), participants__user=rider)
            .values_list("pk", "code")
            .distinct()
        )

    return lookup


def _store_pending(*, rider: Rider, pending: list[_Pending], now: datetime) -> list[EventOutcome]:
    if not pending:
        return []
    # The first valid event of each client id is the one offered to the database; the others
    # are measured against whatever row ends up holding that id.
    offered: dict[str, _Pending] = {}
    for item in pending:
        offered.setdefault(item.event.client_event_id, item)
    with transaction.atomic():
        inserted = _insert_ignoring_known_ids(rider=rider, items=list(offered.values()), now=now)
        kept = _stored_contents(rider=rider, client_ids=[c for c in offered if c not in inserted])
    # Every offered id is now held by a row: ON CONFLICT skipped only ids a committed row has.
    for client_id, item in offered.items():
        if client_id in inserted:
            kept[client_id] = (inserted[client_id], item.content)

    outcomes = []
    for item in pending:
        client_id = item.event.client_event_id
        row_id, content = kept[client_id]
        if client_id in inserted and offered[client_id] is item:
            outcomes.append(EventOutcome(item.index, "stored", row_id))
        elif content == item.content:
            outcomes.append(EventOutcome(item.index, "duplicate", row_id))
        else:
            conflict = ClientEventConflict(
                f"client_event_id {client_id!r} was already used for a different event.",
                fields={"client_event_id": ["Already used for a different event."]},
            )
            outcomes.append(EventOutcome.refused(item.index, "conflict", conflict))
    return outcomes


def _insert_ignoring_known_ids(
    *, rider: Rider, items: list[_Pending], now: datetime
) -> dict[str, UUID]:
    """One multi-row INSERT; returns {client_event_id: id} of the rows it actually stored."""
    quote = connection.ops.quote_name
    columns = (
        "id",
        "user_id",
        "room_id",
        "event_type",
        "metrics",
        "occurred_at",
        "recorded_at",
        "client_event_id",
    )
    row = "(%s, %s, %s, %s, %s::jsonb, %s, %s, %s)"
    sql = (
        f"INSERT INTO {quote(ConnectionLog._meta.db_table)} "
        f"({', '.join(quote(c) for c in columns)}) VALUES {', '.join([row] * len(items))} "
        "ON CONFLICT (user_id, client_event_id) DO NOTHING RETURNING id, client_event_id"
    )
    params: list[object] = []
    for item in items:
        event = item.event
        params += [
            new_log_id(),
            rider.pk,
            item.room_id,
            event.event_type,
            json.dumps(event.metrics, allow_nan=False),
            event.occurred_at,
            now,
            event.client_event_id,
        ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {client_id: row_id for row_id, client_id in cursor.fetchall()}


def _stored_contents(*, rider: Rider, client_ids: list[str]) -> dict[str, tuple[UUID, _Content]]:
    if not client_ids:
        return {}
    rows = (
        ConnectionLog.objects.filter(user=rider, client_event_id__in=client_ids)
        .order_by()
        .values_list("client_event_id", "id", "event_type", "occurred_at", "metrics", "room_id")
    )
    return {
        client_id: (row_id, _Content(event_type, occurred_at, metrics, room_id))
        for client_id, row_id, event_type, occurred_at, metrics, room_id in rows
    }


def _existing_if_same(log: ConnectionLog, *, compare_time: bool) -> ConnectionLog:
    existing = ConnectionLog.objects.get(user=log.user, client_event_id=log.client_event_id)

    def content(row: ConnectionLog) -> _Content:
        moment = row.occurred_at if compare_time else None
        return _Content(row.event_type, moment, row.metrics, row.room_id)

    if content(existing) != content(log):
        raise ClientEventConflict(
            f"client_event_id {log.client_event_id!r} was already used for a different event.",
            fields={"client_event_id": ["Already used for a different event."]},
        )
    return existing
