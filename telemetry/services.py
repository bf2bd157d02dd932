import json
import math
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple, cast
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.errors import DomainError
from config.identifiers import parse_uuid
from riders.errors import AccountClosed
from riders.models import Rider
from rooms.errors import RoomNotFound
from rooms.models import Room, RoomParticipant
from rooms.selectors import normalize_room_code
from telemetry import partitions
from telemetry.errors import (
    BatchTooLarge,
    ClientEventConflict,
    EventOutsideRide,
    InvalidBatch,
    InvalidCleanupRequest,
    InvalidEvent,
)
from telemetry.models import ConnectionLog, new_log_ids_hex
from telemetry.server_binding import server_binding_cursor
from telemetry.validation import MetricValue, OccurrenceWindow, ValidEvent, clean_event

MAX_BATCH_SIZE = 500
BATCH_EVENT_KEYS = frozenset(
    {"event_type", "occurred_at", "client_event_id", "metrics", "room_code", "room_id"}
)
# Namespace (first key) of the advisory locks that serialise one rider's uploads.
_RIDER_LOCK_CLASS = 73_100_001

OutcomeStatus = Literal["stored", "duplicate", "rejected", "conflict"]
# Given a batch's room codes and room ids, return (id, code, opened, closed) of the rooms
# among them that exist and may be referenced: the time the rider could have been in each,
# from the ride's opening to the rider's leaving or the ride's end (None: not yet). The
# default reads the rider's rides among them in one query.
RoomLookup = Callable[
    [Collection[str], Collection[UUID]], Iterable[tuple[UUID, str, datetime, datetime | None]]
]
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
class DroppedPartition:
    name: str
    day_start: datetime
    rows: int
    estimated: bool = False  # rows is the planner's estimate (large partitions)


@dataclass(frozen=True)
class CleanupResult:
    count: int  # removed (dropped with partitions or deleted), or that would be on a dry run
    cutoff: datetime
    batches: int  # DELETE batches of the rows outside whole expired partitions
    dry_run: bool
    partitions: tuple[DroppedPartition, ...] = ()  # dropped, or that would be on a dry run

    @property
    def deleted_in_batches(self) -> int:
        return self.count - sum(p.rows for p in self.partitions)


@dataclass(frozen=True)
class _Content:
    """What a client event id stands for: re-sending it with other content is a conflict."""

    event_type: str
    occurred_at: datetime | None
    metrics: dict[str, MetricValue]
    room_id: UUID | None


class _Pending(NamedTuple):
    position: int  # in the uploaded batch
    event: ValidEvent
    room_id: UUID | None

    @property
    def client_id(self) -> str:
        """The event's client id, which a batch's events are cleaned with required."""
        return cast("str", self.event.client_event_id)

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
    if event.client_event_id is None:
        log.save(force_insert=True)
        return log
    with transaction.atomic():
        _lock_rider(rider.pk)
        existing = (
            ConnectionLog.objects.filter(user=rider, client_event_id=event.client_event_id)
            .order_by("recorded_at", "id")
            .first()
        )
        if existing is None:
            log.save(force_insert=True)
            return log
    return _existing_if_same(existing, log, compare_time=occurred_at is not None)


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
    window = OccurrenceWindow.at(now)
    outcomes: dict[int, EventOutcome] = {}
    parsed: list[tuple[int, ValidEvent, str | UUID | None]] = []
    room_refs: dict[tuple, str | UUID | None] = {}  # a phone's batch names one or two rides
    for index, raw in enumerate(events):
        try:
            event, room_ref = _clean_batch_event(raw, window=window, room_refs=room_refs)
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
    """Remove logs whose occurred_at is before now - older_than.

    Daily partitions that lie wholly before the cutoff are detached (all in one short
    transaction) and dropped: no row is touched, so the time is the same for ten rows or ten
    million. Their row counts are the planner's estimates when they are large. What remains before the
    cutoff (the part of the day the cutoff falls in, and strays in the default partition) is
    deleted batch_size rows at a time, each batch its own short transaction, so an interrupted
    run keeps what it removed. Uploads keep going meanwhile (see telemetry.partitions).
    ``progress(done, total)`` follows every dropped partition and every batch.
    """
    if not isinstance(older_than, timedelta) or older_than <= timedelta(0):
        raise InvalidCleanupRequest(fields={"older_than": ["Give a positive age."]})
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidCleanupRequest(fields={"batch_size": ["Give a batch size of at least 1."]})
    cutoff = timezone.now() - older_than
    expired = partitions.expired_partitions(cutoff)
    whole = tuple(
        DroppedPartition(name, start, *partitions.partition_row_count(name))
        for name, start in expired
    )
    # Counting the remainder costs a scan; it is only needed for a dry run or progress.
    remainder = _remainder_by_partition(
        cutoff, skip={name for name, _ in expired}, count=dry_run or progress is not None
    )
    dropped_rows = sum(p.rows for p in whole)
    remainder_rows = sum(count for _, count in remainder)
    if dry_run:
        batches = sum(math.ceil(count / batch_size) for _, count in remainder)
        return CleanupResult(dropped_rows + remainder_rows, cutoff, batches, True, whole)

    total = dropped_rows + remainder_rows
    partitions.drop_partitions([p.name for p in whole])
    done = dropped_rows
    if progress is not None and dropped_rows:
        progress(done, total)

    deleted = batches = 0
    for name, _ in remainder:
        after: tuple[datetime, UUID] = (_BEFORE_ANY_TIME, _LOWEST_ID)
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    _delete_batch_sql(name),
                    {"cutoff": cutoff, "after_at": after[0], "after_id": after[1], "n": batch_size},
                )
                removed, last_at, last_id = cursor.fetchone()
            if removed == 0:
                break
            after = (last_at, last_id)
            deleted += removed
            done += removed
            batches += 1
            if progress is not None:
                # Rows of the past can still arrive while we delete; never above 100%.
                progress(done, max(total, done))
            if removed < batch_size:
                break
    return CleanupResult(dropped_rows + deleted, cutoff, batches, False, whole)


# Where the first batch of a partition starts: before every (occurred_at, id).
_BEFORE_ANY_TIME = datetime.min.replace(tzinfo=UTC)
_LOWEST_ID = UUID(int=0)


def _delete_batch_sql(partition: str) -> str:
    """The next batch_size rows before the cutoff, oldest first, after the last batch's.

    Each batch starts where the last one ended, on the (occurred_at, id) index: a batch that
    started from the beginning again would walk past every row the earlier batches deleted
    (dead until vacuumed), and the cleanup would slow down batch after batch. Rows deleted
    by physical address, within one partition: no join, no scan of the parent table.
    Returns the count and the position of the last row deleted.
    """
    table = connection.ops.quote_name(partition)
    return f"""
        WITH doomed AS (
            SELECT ctid FROM {table}
            WHERE occurred_at < %(cutoff)s
                AND (occurred_at, id) > (%(after_at)s::timestamptz, %(after_id)s::uuid)
            ORDER BY occurred_at, id LIMIT %(n)s
        ), gone AS (
            DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM doomed))
            RETURNING occurred_at, id
        ), last AS (
            SELECT occurred_at, id FROM gone ORDER BY occurred_at DESC, id DESC LIMIT 1
        )
        SELECT (SELECT count(*) FROM gone), last.occurred_at, last.id
        FROM (SELECT 1) AS one LEFT JOIN last ON true
    """


def connection_log_partitions_ensure(*, days_ahead: int | None = None) -> list[str]:
    """Create the daily partitions from the retention horizon to days_ahead days from today.

    Safe to run any number of times; returns the names of the partitions it created.
    """
    if days_ahead is None:
        days_ahead = settings.TELEMETRY_PARTITION_DAYS_AHEAD
    if isinstance(days_ahead, bool) or not isinstance(days_ahead, int) or days_ahead < 0:
        raise InvalidCleanupRequest(fields={"days_ahead": ["Give a whole number of days >= 0."]})
    today = timezone.now().astimezone(UTC).date()
    first = today - timedelta(days=settings.TELEMETRY_RETENTION_DAYS)
    return partitions.ensure_partitions(first, today + timedelta(days=days_ahead))


def _remainder_by_partition(
    cutoff: datetime, *, skip: set[str], count: bool
) -> list[tuple[str, int]]:
    """(partition, rows before the cutoff) outside the partitions about to be dropped.

    Without count, every partition that may hold such rows is listed with 0.
    """
    quote = connection.ops.quote_name
    found = []
    with connection.cursor() as cursor:
        for partition in partitions.partitions():
            if partition.name in skip or (partition.start and partition.start >= cutoff):
                continue
            if not count:
                found.append((partition.name, 0))
                continue
            cursor.execute(
                f"SELECT count(*) FROM {quote(partition.name)} WHERE occurred_at < %s", [cutoff]
            )
            rows = cursor.fetchone()[0]
            if rows:
                found.append((partition.name, rows))
    return found


def _clean_batch_event(
    raw: object, *, window: OccurrenceWindow, room_refs: dict[tuple, str | UUID | None]
) -> tuple[ValidEvent, str | UUID | None]:
    if not isinstance(raw, dict):
        raise InvalidEvent("Each event must be an object.")
    if not raw.keys() <= BATCH_EVENT_KEYS:
        unknown = sorted(str(key) for key in raw if key not in BATCH_EVENT_KEYS)
        problem = f"Unknown event field(s): {', '.join(unknown)}."
        raise InvalidEvent(problem, fields={key: ["Unknown field."] for key in unknown})
    event = clean_event(
        event_type=raw.get("event_type"),
        occurred_at=raw.get("occurred_at"),
        metrics=raw.get("metrics"),
        client_event_id=raw.get("client_event_id"),
        now=window,
        require_client_event_id=True,
    )
    reference = (raw.get("room_code"), raw.get("room_id"))
    try:
        return event, room_refs[reference]
    except KeyError:
        room_refs[reference] = _room_reference(*reference)
        return event, room_refs[reference]
    except TypeError:  # a list or an object where a code belongs: reported by the check
        return event, _room_reference(*reference)


def _room_reference(room_code: object, room_id: object) -> str | UUID | None:
    if room_code is not None and room_id is not None:
        problem = "Give room_code or room_id, not both."
        raise InvalidEvent(problem, fields={"room_code": [problem], "room_id": [problem]})
    if room_code is not None:
        return normalize_room_code(room_code)
    if room_id is not None:
        return parse_uuid(room_id, what="room_id")
    return None


@dataclass(frozen=True)
class _RideSpan:
    room_id: UUID
    opened: datetime
    closed: datetime | None


def _attach_rooms(
    parsed: list[tuple[int, ValidEvent, str | UUID | None]], *, lookup: RoomLookup
) -> tuple[list[_Pending], list[EventOutcome]]:
    """Resolve every room reference of the batch at once; an unknown room rejects its event,
    and so does a time the rider cannot have been in the ride (it would skew its statistics).
    """
    spans = _resolve_room_references({ref for _, _, ref in parsed if ref is not None}, lookup)
    # Phone clocks drift: the same allowance as for events ahead of the server clock.
    slack = timedelta(seconds=settings.TELEMETRY_MAX_CLOCK_SKEW_SECONDS)
    pending, rejected = [], []
    for index, event, room_ref in parsed:
        if room_ref is None:
            pending.append(_Pending(index, event, None))
            continue
        span = spans.get(room_ref)
        if span is None:
            missing = RoomNotFound(
                f"No ride matches the room reference {room_ref}.",
                fields={"room": [f"No ride matches {room_ref}."]},
            )
            rejected.append(EventOutcome.refused(index, "rejected", missing))
        elif event.occurred_at < span.opened - slack or (
            span.closed is not None and event.occurred_at > span.closed + slack
        ):
            rejected.append(EventOutcome.refused(index, "rejected", _outside_ride(span)))
        else:
            pending.append(_Pending(index, event, span.room_id))
    return pending, rejected


def _outside_ride(span: _RideSpan) -> EventOutsideRide:
    until = span.closed.isoformat() if span.closed else "now"
    problem = f"You can only have been in this ride from {span.opened.isoformat()} to {until}."
    return EventOutsideRide(problem, fields={"occurred_at": [problem]})


def _resolve_room_references(
    refs: set[str | UUID], lookup: RoomLookup
) -> dict[str | UUID, _RideSpan]:
    """Map every reference (code or id) that names a room the rider was in to its span."""
    if not refs:
        return {}
    codes = {ref for ref in refs if isinstance(ref, str)}
    ids = {ref for ref in refs if isinstance(ref, UUID)}
    resolved: dict[str | UUID, _RideSpan] = {}
    for room_id, code, opened, closed in lookup(codes, ids):
        resolved[room_id] = resolved[code] = _RideSpan(room_id, opened, closed)
    return {ref: resolved[ref] for ref in refs if ref in resolved}


def _rooms_of_rider(rider: Rider) -> RoomLookup:
    """Rooms the rider has been in: a phone cannot pour events into someone else's ride."""

    def lookup(
        codes: Collection[str], ids: Collection[UUID]
    ) -> Iterable[tuple[UUID, str, datetime, datetime | None]]:
        # SQL rather than the queryset: once per upload, and composing the join and DISTINCT
        # cost more than running the lookup on the (room, user) unique index.
        with connection.cursor() as cursor:
            cursor.execute(_ROOMS_OF_RIDER_SQL, [rider.pk, list(codes), list(ids)])
            return cursor.fetchall()

    return lookup


# One row per room at most: (room, user) is unique. Deactivating a ride ends every active
# participation, so a left participation's left_at is never after the ride's end.
_ROOMS_OF_RIDER_SQL = f"""
    SELECT r.id, r.code, r.created_at,
        CASE WHEN p.is_active THEN r.deactivated_at ELSE p.left_at END
    FROM {Room._meta.db_table} r
    JOIN {RoomParticipant._meta.db_table} p ON p.room_id = r.id AND p.user_id = %s
    WHERE r.code = ANY(%s::text[]) OR r.id = ANY(%s::uuid[])
"""


def _store_pending(*, rider: Rider, pending: list[_Pending], now: datetime) -> list[EventOutcome]:
    if not pending:
        return []
    # The first valid event of each client id is the one offered to the database; the others
    # are measured against whatever row ends up holding that id.
    offered: dict[str, _Pending] = {}
    for item in pending:
        offered.setdefault(item.client_id, item)
    items = list(offered.values())
    try:
        with transaction.atomic():
            _lock_rider(rider.pk)
            inserted, kept = _insert_unknown_ids(rider=rider, items=items, now=now)
    except IntegrityError:
        # Under the rider lock the statement's own lookup sees every stored id, so a plain
        # INSERT (cheaper than ON CONFLICT's speculative one) is enough. Only a row written
        # without the lock (an import) can collide; then the batch is written again,
        # skipping what is taken, and what holds those ids is read.
        with transaction.atomic():
            _lock_rider(rider.pk)
            inserted, kept = _insert_unknown_ids(
                rider=rider, items=items, now=now, skip_conflicts=True
            )
            missing = [c for c in offered if c not in inserted and c not in kept]
            kept |= _stored_contents(rider=rider, client_ids=missing)

    outcomes = []
    for item in pending:
        client_id = item.client_id
        if client_id in inserted:
            first = offered[client_id]
            if first is item:
                outcomes.append(EventOutcome(item.position, "stored", inserted[client_id]))
                continue
            row_id, content = inserted[client_id], first.content  # the id twice in one batch
        else:
            row_id, content = kept[client_id]
        if content == item.content:
            outcomes.append(EventOutcome(item.position, "duplicate", row_id))
        else:
            conflict = ClientEventConflict(
                f"client_event_id {client_id!r} was already used for a different event.",
                fields={"client_event_id": ["Already used for a different event."]},
            )
            outcomes.append(EventOutcome.refused(item.position, "conflict", conflict))
    return outcomes


def rider_logs_lock(rider_id: UUID) -> None:
    """Serialise the writes of one rider's connection logs until the transaction ends.

    The unique key (user, client_event_id, occurred_at) cannot see a client id reused for
    another time (it lives in another partition), so "is this id known?" and "store it" must
    not interleave between two uploads of the same rider. One rider's phone uploads one batch
    at a time, so this lock is almost never contended; other riders never wait on it.
    Deleting the account takes it too (telemetry.erasure), so no upload interleaves with the
    logs being handed to the stand-in.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_RIDER_LOCK_CLASS, str(rider_id)]
        )


def _lock_rider(rider_id: UUID) -> None:
    """rider_logs_lock, then whether the account is still open: an upload that waited for an
    account's deletion (or deactivation) stores nothing for the tombstone it now belongs to.
    A statement of its own, so its snapshot is taken once the lock is held."""
    rider_logs_lock(rider_id)
    with connection.cursor() as cursor:
        cursor.execute(_RIDER_IS_ACTIVE_SQL, [rider_id])
        row = cursor.fetchone()
    if row is None or not row[0]:
        raise AccountClosed()


_RIDER_IS_ACTIVE_SQL = f"SELECT is_active FROM {Rider._meta.db_table} WHERE id = %s"


def _insert_unknown_ids(
    *, rider: Rider, items: list[_Pending], now: datetime, skip_conflicts: bool = False
) -> tuple[dict[str, UUID], dict[str, tuple[UUID, _Content]]]:
    """One statement: look up the batch's client ids, insert the rows of the unknown ones.

    The rows travel as one JSON document (``jsonb_to_recordset``): one parameter to quote and
    parse instead of thousands. Returns ({client id: id} of the rows inserted,
    {client id: (id, content)} of the rows that already held an id, oldest first).
    """
    table = connection.ops.quote_name(ConnectionLog._meta.db_table)
    on_conflict = (
        "ON CONFLICT (user_id, client_event_id, occurred_at) DO NOTHING" if skip_conflicts else ""
    )
    sql = f"""
        WITH incoming AS MATERIALIZED (
            SELECT * FROM jsonb_to_recordset(%s::jsonb) AS u(
                id uuid, room_id uuid, event_type text, metrics jsonb, occurred_at timestamptz,
                client_event_id text
            )
        ), known_keys AS MATERIALIZED (
            -- Read the rider's own (client id, time) keys from the unique index and match
            -- them against the batch in a hash: one short index range per day, where
            -- "client_event_id = ANY(batch)" would descend every day's index once per event.
            -- (The || '' keeps the planner from turning the match back into descents.)
            SELECT client_event_id, occurred_at FROM {table}
            WHERE user_id = %s
                AND client_event_id || '' IN (SELECT client_event_id FROM incoming)
        ), known AS MATERIALIZED (
            SELECT l.client_event_id, l.id, l.event_type, l.occurred_at, l.metrics, l.room_id,
                l.recorded_at
            FROM known_keys k JOIN {table} l ON l.user_id = %s
                AND l.client_event_id = k.client_event_id AND l.occurred_at = k.occurred_at
        ), stored AS (
            INSERT INTO {table} (
                id, user_id, room_id, event_type, metrics, occurred_at, recorded_at,
                client_event_id
            )
            SELECT i.id, %s, i.room_id, i.event_type, i.metrics, i.occurred_at, %s,
                i.client_event_id
            FROM incoming i
            WHERE NOT EXISTS (SELECT FROM known k WHERE k.client_event_id = i.client_event_id)
            {on_conflict}
            RETURNING client_event_id, id
        )
        SELECT true, client_event_id, id, NULL, NULL, NULL, NULL, NULL FROM stored
        UNION ALL
        SELECT false, client_event_id, id, event_type, occurred_at, metrics, room_id, recorded_at
        FROM known
    """
    ids = new_log_ids_hex(len(items))
    room_text: dict[UUID | None, str | None] = {
        room_id: str(room_id) for room_id in {item.room_id for item in items}
    }
    room_text[None] = None
    rows_json = json.dumps(
        [
            {
                "id": row_id,
                "room_id": room_text[item.room_id],
                "event_type": item.event.event_type,
                "metrics": item.event.metrics,
                "occurred_at": item.event.occurred_at.isoformat(),
                "client_event_id": item.event.client_event_id,
            }
            for row_id, item in zip(ids, items, strict=True)
        ],
        allow_nan=False,
    )
    params = [rows_json, rider.pk, rider.pk, rider.pk, now]
    with server_binding_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    inserted: dict[str, UUID] = {}
    known: list[tuple] = []
    for is_new, client_id, row_id, event_type, occurred_at, metrics, room_id, recorded in rows:
        if is_new:
            inserted[client_id] = row_id
        else:
            known.append((recorded, row_id, client_id, event_type, occurred_at, metrics, room_id))
    kept: dict[str, tuple[UUID, _Content]] = {}
    for _, row_id, client_id, event_type, occurred_at, metrics, room_id in sorted(known):
        if client_id not in kept:  # the first row stored under the id is the one kept
            content = _Content(event_type, occurred_at, _json(metrics), room_id)
            kept[client_id] = (row_id, content)
    return inserted, kept


def _json(value: object) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _stored_contents(*, rider: Rider, client_ids: list[str]) -> dict[str, tuple[UUID, _Content]]:
    if not client_ids:
        return {}
    rows = (
        ConnectionLog.objects.filter(user=rider, client_event_id__in=client_ids)
        .order_by("-recorded_at", "-id")
        .values_list("client_event_id", "id", "event_type", "occurred_at", "metrics", "room_id")
    )
    # Oldest last, so it is the one left in the dict: the first row stored is kept.
    return {
        cast("str", client_id): (row_id, _Content(event_type, occurred_at, metrics, room_id))
        for client_id, row_id, event_type, occurred_at, metrics, room_id in rows
    }


def _existing_if_same(
    existing: ConnectionLog, log: ConnectionLog, *, compare_time: bool
) -> ConnectionLog:
    def content(row: ConnectionLog) -> _Content:
        moment = row.occurred_at if compare_time else None
        return _Content(row.event_type, moment, row.metrics, row.room_id)

    if content(existing) != content(log):
        raise ClientEventConflict(
            f"client_event_id {log.client_event_id!r} was already used for a different event.",
            fields={"client_event_id": ["Already used for a different event."]},
        )
    return existing
