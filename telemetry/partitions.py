"""Daily range partitions of the connection log table: create ahead, list, drop expired.

``telemetry_connectionlog`` is ``PARTITION BY RANGE (occurred_at)`` with one partition per UTC
day (``telemetry_connectionlog_p20260503`` holds 2026-05-03 00:00 to 2026-05-04 00:00 UTC)
and a default partition, ``telemetry_connectionlog_default``, that catches any row no daily
partition covers, so an insert never fails for want of a partition. See docs/telemetry.md.

Every DDL statement here runs with a short ``lock_timeout``: creating or detaching a partition
needs a brief lock on the parent table, and waiting behind a long statistics query would
queue every upload behind us. A statement that cannot get its lock in time gives up, and is
retried after a pause, so an upload waits at most ``lock_timeout`` for us.
"""

import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import OperationalError, connection, transaction

from telemetry.models import ConnectionLog

TABLE = "telemetry_connectionlog"
DEFAULT_PARTITION = f"{TABLE}_default"
LOCK_TIMEOUT_MS = 200
LOCK_ATTEMPTS = 25
# Partitions the planner believes hold at least this many rows are reported by estimate.
EXACT_COUNT_BELOW = 10_000
_RETRY_PAUSE_SECONDS = 0.2
_BOUNDS = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime | None  # None for the default partition
    end: datetime | None

    @property
    def is_default(self) -> bool:
        return self.start is None


def partition_name(day: date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def partitions() -> list[Partition]:
    """Every partition of the table, daily ones by start time, the default one last."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [TABLE],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        match = _BOUNDS.search(bound)
        if match is None:
            found.append(Partition(name, None, None))
        else:
            start, end = (datetime.fromisoformat(text).astimezone(UTC) for text in match.groups())
            found.append(Partition(name, start, end))
    found.sort(key=lambda p: (p.is_default, p.start or datetime.min.replace(tzinfo=UTC)))
    return found


def ensure_partitions(first_day: date, last_day: date) -> list[str]:
    """Create the missing daily partitions from first_day to last_day, both included.

    Safe to run again and again: days that have a partition are skipped. Rows of a new day
    that were caught by the default partition meanwhile are moved into the new partition.
    Returns the names of the partitions created.
    """
    covered = [(p.start, p.end) for p in partitions() if p.start and p.end]
    created = []
    day = first_day
    while day <= last_day:
        start, end = day_start(day), day_start(day + timedelta(days=1))
        if not any(lo < end and start < hi for lo, hi in covered):
            _with_lock_retries(functools.partial(_create_partition, day, start, end))
            created.append(partition_name(day))
        day += timedelta(days=1)
    return created


def expired_partitions(cutoff: datetime) -> list[tuple[str, datetime]]:
    """(name, start) of the daily partitions whose every row is older than cutoff."""
    return [(p.name, p.start) for p in partitions() if p.start and p.end and p.end <= cutoff]


def partition_row_count(name: str) -> tuple[int, bool]:
    """(rows, estimated): the planner's estimate for a large analysed partition (counting a
    day of a busy weekend would take longer than dropping it), an exact count otherwise."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [name])
        (estimate,) = cursor.fetchone()
        if estimate >= EXACT_COUNT_BELOW:
            return estimate, True
        cursor.execute(f"SELECT count(*) FROM {quote(name)}")
        return cursor.fetchone()[0], False


def drop_partitions(names: list[str]) -> None:
    """Detach the partitions from the table in one transaction, then drop them.

    The detach is a catalog change under a brief lock on the parent (bounded by the lock
    timeout), taken once for all of them; each drop, which removes the files, then only
    locks its detached table, which no query reaches any more. ``DETACH ... CONCURRENTLY``
    is not available because the table has a default partition (PostgreSQL refuses the
    combination).
    """
    if not names:
        return
    quote = connection.ops.quote_name

    def detach():
        with connection.cursor() as cursor:
            # Deferred foreign-key checks of rows written earlier in the same transaction
            # would otherwise forbid the drop; run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for name in names:
                cursor.execute(f"ALTER TABLE {quote(TABLE)} DETACH PARTITION {quote(name)}")

    def unlink_foreign_keys():
        # A detached table keeps its foreign keys, whose triggers live on riders and rooms:
        # dropping it would lock those tables (and so every upload's key check) for as long
        # as the drop takes. Dropping the keys first is a catalog change under the timeout.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT conrelid::regclass::text, conname FROM pg_constraint "
                "WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])",
                [names],
            )
            for table, constraint in cursor.fetchall():
                cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(constraint)}")

    _with_lock_retries(detach)
    _with_lock_retries(unlink_foreign_keys)
    # One statement and one commit for all of them: most of a drop's cost is per transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {', '.join(quote(name) for name in names)}")


def _create_partition(day: date, start: datetime, end: datetime) -> None:
    quote = connection.ops.quote_name
    name = partition_name(day)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {quote(DEFAULT_PARTITION)} "
            "WHERE occurred_at >= %s AND occurred_at < %s)",
            [start, end],
        )
        (strays,) = cursor.fetchone()
        if not strays:
            cursor.execute(
                f"CREATE TABLE {quote(name)} PARTITION OF {quote(TABLE)} "
                "FOR VALUES FROM (%s) TO (%s)",
                [start, end],
            )
            return
        # The default partition holds rows of this day: move them into a new table, then
        # attach it. The CHECK spares ATTACH a scan of the new table to prove its range.
        check = quote(f"{name}_range")
        cursor.execute(
            f"CREATE TABLE {quote(name)} (LIKE {quote(TABLE)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED)"
        )
        cursor.execute(
            f"ALTER TABLE {quote(name)} ADD CONSTRAINT {check} "
            "CHECK (occurred_at >= %s AND occurred_at < %s)",
            [start, end],
        )
        # Generated columns are computed again on insert; every other column is copied.
        columns = ", ".join(
            quote(f.column)
            for f in ConnectionLog._meta.concrete_fields
            if f.column and not f.generated
        )
        cursor.execute(
            f"WITH moved AS (DELETE FROM {quote(DEFAULT_PARTITION)} "
            f"WHERE occurred_at >= %s AND occurred_at < %s RETURNING {columns}) "
            f"INSERT INTO {quote(name)} ({columns}) SELECT {columns} FROM moved",
            [start, end],
        )
        cursor.execute(
            f"ALTER TABLE {quote(TABLE)} ATTACH PARTITION {quote(name)} "
            "FOR VALUES FROM (%s) TO (%s)",
            [start, end],
        )
        cursor.execute(f"ALTER TABLE {quote(name)} DROP CONSTRAINT {check}")


def _with_lock_retries(work: Callable[[], None]) -> None:
    """Run work in its own transaction with a short lock timeout; retry when it times out."""
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
                work()
                cursor.execute("SET LOCAL lock_timeout = DEFAULT")
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != "55P03" or attempt == LOCK_ATTEMPTS:
                raise
            time.sleep(_RETRY_PAUSE_SECONDS * attempt)
        else:
            return
