"""Uploads of one rider racing each other on real threads and real transactions."""

import threading
import time
from datetime import datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from telemetry.models import ConnectionLog
from telemetry.services import connection_log_ingest_batch
from tests.racing import race
from tests.telemetry.factories import ConnectionLogFactory

pytestmark = pytest.mark.django_db(transaction=True)


def events(ids, *, minutes_ago=3, rtt=40):
    moment = (timezone.now() - timedelta(minutes=minutes_ago)).isoformat()
    return [
        {
            "event_type": "quality_report",
            "occurred_at": moment,
            "client_event_id": client_id,
            "metrics": {"rtt_ms": rtt},
        }
        for client_id in ids
    ]


def test_the_same_batch_uploaded_twice_at_once_is_stored_once(rider):
    batch = events([f"r-{n}" for n in range(200)])
    results = race([lambda: connection_log_ingest_batch(rider=rider, events=batch)] * 4)
    assert not [r for r in results if isinstance(r, Exception)]
    statuses = [[o.status for o in outcomes] for outcomes in results]
    # Exactly one upload stored each event; every other one saw it as a duplicate.
    for index in range(200):
        column = sorted(upload[index] for upload in statuses)
        assert column == ["duplicate", "duplicate", "duplicate", "stored"]
    assert ConnectionLog.objects.filter(user=rider).count() == 200
    ids = {o.id for outcomes in results for o in outcomes}
    assert len(ids) == 200


def test_overlapping_batches_racing_store_the_union_once(rider):
    both = events([f"o-{n}" for n in range(250)])
    first, second = both[:150], both[100:]
    results = race(
        [
            lambda: connection_log_ingest_batch(rider=rider, events=first),
            lambda: connection_log_ingest_batch(rider=rider, events=second),
        ]
    )
    stored = sum(o.status == "stored" for outcomes in results for o in outcomes)
    duplicates = sum(o.status == "duplicate" for outcomes in results for o in outcomes)
    assert (stored, duplicates) == (250, 50)
    assert ConnectionLog.objects.filter(user=rider).count() == 250


def test_one_id_racing_at_two_times_is_stored_once_and_the_other_conflicts(rider):
    # Different occurred_at means different partitions' unique keys could both accept it:
    # the per-rider lock is what keeps the id to one event.
    early = events(["same-id"], minutes_ago=60 * 30)  # yesterday or so: another day
    late = events(["same-id"], minutes_ago=1)
    results = race(
        [
            lambda: connection_log_ingest_batch(rider=rider, events=early),
            lambda: connection_log_ingest_batch(rider=rider, events=late),
        ]
    )
    assert sorted(outcomes[0].status for outcomes in results) == ["conflict", "stored"]
    assert ConnectionLog.objects.filter(user=rider, client_event_id="same-id").count() == 1


def test_an_id_a_writer_without_the_rider_lock_holds_is_reported_not_a_failed_batch(rider):
    """An import writes logs without the rider lock. An upload inserting an id the import has
    just written (not yet committed) waits for it, then answers duplicate for that event and
    stores the rest, instead of failing the whole batch."""
    batch = events(["imp-1", "imp-2"])
    moment = datetime.fromisoformat(batch[0]["occurred_at"])
    written = threading.Event()

    def importer():
        with transaction.atomic():
            ConnectionLogFactory(
                user=rider,
                room=None,
                event_type="quality_report",
                occurred_at=moment,
                client_event_id="imp-1",
                metrics={"rtt_ms": 40},
            )
            written.set()
            # Commit only once the upload is waiting on this row's key.
            with connection.cursor() as cursor:
                for _ in range(200):
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                    if cursor.fetchone()[0]:
                        break
                    time.sleep(0.05)
                else:
                    raise AssertionError("the upload never waited for the import's row")

    def uploader():
        assert written.wait(10)
        return connection_log_ingest_batch(rider=rider, events=batch)

    imported, outcomes = race([importer, uploader])
    assert imported is None
    assert [o.status for o in outcomes] == ["duplicate", "stored"]
    assert ConnectionLog.objects.filter(user=rider).count() == 2
