import io
import itertools
from datetime import UTC, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from telemetry import partitions
from telemetry.models import ConnectionLog
from telemetry.services import connection_log_cleanup, connection_log_partitions_ensure
from tests.telemetry.factories import ConnectionLogFactory

pytestmark = pytest.mark.django_db


def today():
    return timezone.now().astimezone(UTC).date()


def names():
    return [p.name for p in partitions.partitions()]


def holder(log) -> str:
    """The partition a row is stored in."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM telemetry_connectionlog WHERE id = %s", [log.pk]
        )
        return cursor.fetchone()[0]


def test_the_migration_leaves_daily_partitions_and_a_default_one():
    found = partitions.partitions()
    assert found[-1].name == "telemetry_connectionlog_default"
    assert found[-1].is_default
    daily = [p for p in found if not p.is_default]
    assert all(p.end - p.start == timedelta(days=1) for p in daily)
    assert all(p.start.hour == 0 and p.start.tzinfo == UTC for p in daily)
    assert all(a.end == b.start for a, b in itertools.pairwise(daily))


def test_ensure_creates_the_missing_days_and_is_safe_to_repeat(settings):
    settings.TELEMETRY_PARTITION_DAYS_AHEAD = 40
    far = today() + timedelta(days=40)
    created = connection_log_partitions_ensure()
    assert partitions.partition_name(far) in created
    assert partitions.partition_name(far) in names()
    assert connection_log_partitions_ensure() == []
    first = today() - timedelta(days=settings.TELEMETRY_RETENTION_DAYS)
    wanted = {
        partitions.partition_name(first + timedelta(days=n)) for n in range((far - first).days + 1)
    }
    assert wanted <= set(names())


def test_rows_in_the_default_partition_move_into_the_new_day(rider):
    day = today() + timedelta(days=100)
    moment = partitions.day_start(day) + timedelta(hours=7)
    log = ConnectionLogFactory(user=rider, occurred_at=moment)
    neighbour = ConnectionLogFactory(user=rider, occurred_at=moment + timedelta(days=1))
    assert holder(log) == "telemetry_connectionlog_default"

    assert partitions.ensure_partitions(day, day) == [partitions.partition_name(day)]

    assert holder(log) == partitions.partition_name(day)
    assert holder(neighbour) == "telemetry_connectionlog_default"
    assert ConnectionLog.objects.get(pk=log.pk).occurred_at == moment
    # The moved partition got the table's indexes and constraints.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = %s", [partitions.partition_name(day)]
        )
        # pkey, client-event unique, room, rider, brin, newest first, rare types, ride newest first
        assert cursor.fetchone()[0] == 8


def test_cleanup_drops_whole_expired_days_and_deletes_the_rest_in_batches(rider):
    old_days = [today() - timedelta(days=n) for n in (45, 44)]
    partitions.ensure_partitions(old_days[0], old_days[1])
    for day in old_days:
        for hour in (1, 2, 3):
            ConnectionLogFactory(
                user=rider, occurred_at=partitions.day_start(day) + timedelta(hours=hour)
            )
    stray = ConnectionLogFactory(user=rider, occurred_at=timezone.now() - timedelta(days=400))
    kept = ConnectionLogFactory(user=rider, occurred_at=timezone.now() - timedelta(days=1))

    result = connection_log_cleanup(older_than=timedelta(days=30), batch_size=10)

    dropped = {p.name: p.rows for p in result.partitions}
    assert {partitions.partition_name(d): 3 for d in old_days}.items() <= dropped.items()
    assert result.count == sum(dropped.values()) + 1
    assert (result.deleted_in_batches, result.batches) == (1, 1)  # the stray of the default
    assert not set(dropped) & set(names())
    assert list(ConnectionLog.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not ConnectionLog.objects.filter(pk=stray.pk).exists()


def test_cleanup_dry_run_lists_the_partitions_and_changes_nothing(rider):
    day = today() - timedelta(days=50)
    partitions.ensure_partitions(day, day)
    ConnectionLogFactory(user=rider, occurred_at=partitions.day_start(day) + timedelta(hours=5))
    ConnectionLogFactory(user=rider, occurred_at=timezone.now() - timedelta(days=300))
    before = names()

    out = io.StringIO()
    call_command("cleanup_connection_logs", "--older-than", "30d", "--dry-run", stdout=out)

    lines = out.getvalue().splitlines()
    assert (
        f"Would drop partition {partitions.partition_name(day)} ({day:%Y-%m-%d}, 1 logs)" in lines
    )
    assert lines[-1].startswith("Would delete 2 connection logs older than ")
    assert "whole partition" in lines[-1]
    assert lines[-1].endswith("1 rows deleted) in 1 batch (dry run: nothing deleted).")
    assert names() == before
    assert ConnectionLog.objects.count() == 2


def test_the_partition_command_reports_what_it_created(settings):
    settings.TELEMETRY_PARTITION_DAYS_AHEAD = 3
    out = io.StringIO()
    call_command("create_connection_log_partitions", "--days-ahead", "60", stdout=out)
    assert f"Created partition {partitions.partition_name(today() + timedelta(days=60))}" in (
        out.getvalue()
    )
    again = io.StringIO()
    call_command("create_connection_log_partitions", "--days-ahead", "60", stdout=again)
    assert again.getvalue() == "0 partitions created; daily partitions reach 60 days ahead.\n"
