"""Retention cleanup on a large connection log while phones keep uploading.

    .venv/bin/python -m bench.cleanup [--rows 10000000] [--days 30] [--expire-days 20]
                                      [--idle-seconds 10]

Needs the rows bench.stats generates (it generates them when the table holds fewer than
--rows). Runs an ingest loop (one rider's phone uploading 50 events per batch, back to back)
alone for --idle-seconds: the baseline; then the same loop while ``connection_log_cleanup``
removes everything older than (days - expire_days) days. Prints the cleanup time, what it
dropped and deleted, and the loop's p50/p99 upload latency idle and during cleanup.
Destroys the expired rows: run bench.stats first. Use a database of its own.
"""

import argparse
import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from bench.harness import Samples, setup_django
from bench.telemetry_data import add_generation_arguments

T = TypeVar("T")


class IngestLoop(threading.Thread):
    """Upload 50-event batches back to back until stopped; record each batch's latency."""

    def __init__(self, rider, room_code):
        super().__init__(daemon=True)
        self.rider, self.room_code = rider, room_code
        self.samples = Samples("ingest")
        self.stop = threading.Event()
        self.counter = itertools.count()
        self.failures: list[str] = []

    def run(self):
        from django.db import connection

        from telemetry.services import connection_log_ingest_batch

        try:
            while not self.stop.is_set():
                batch = next(self.counter)
                now = datetime.now(UTC).isoformat()
                events = [
                    {
                        "event_type": "quality_report",
                        "occurred_at": now,
                        "client_event_id": f"loop{batch}-{n}",
                        "metrics": {"rtt_ms": 60 + n, "jitter_ms": 4, "packet_loss_pct": 0.5},
                        "room_code": self.room_code,
                    }
                    for n in range(50)
                ]
                t = time.perf_counter()
                outcomes = connection_log_ingest_batch(rider=self.rider, events=events)
                ok = all(o.status == "stored" for o in outcomes)
                self.samples.add(t, ok)
                if not ok:
                    self.failures.append(str(outcomes[0]))
        finally:
            connection.close()

    def measure(self, work: Callable[[], T]) -> T:
        """Run work() while the loop uploads; the loop's samples cover that time."""
        self.samples = Samples("ingest")
        started = time.perf_counter()
        result = work()
        self.samples.elapsed_s = time.perf_counter() - started
        return result


def timed_phases() -> dict[str, float]:
    """Time the cleanup's partition drops, and the catalog changes before them, as it runs."""
    from telemetry import partitions

    phases = {"drop partitions": 0.0, "detach and unlink keys": 0.0}

    def timed(name, function):
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases[name] += time.perf_counter() - started

        return run

    partitions.drop_partitions = timed("drop partitions", partitions.drop_partitions)
    partitions._with_lock_retries = timed("detach and unlink keys", partitions._with_lock_retries)
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_generation_arguments(parser)
    parser.add_argument("--expire-days", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=10)
    args = parser.parse_args()

    setup_django()
    from bench.stats import bench_rows, generate
    from bench.telemetry_data import prepare_database, riders_and_rooms, table_rows
    from telemetry.services import connection_log_cleanup

    prepare_database()
    if bench_rows() < args.rows * 0.9:
        generate(args.rows, args.days, args.riders, args.rooms)
    before = table_rows()
    (rider,), (room,) = riders_and_rooms(1, 1, prefix="tc")
    print(
        f"Telemetry cleanup: {before:,} logs over {args.days} days; expiring the oldest "
        f"{args.expire_days} days while one phone uploads 50-event batches back to back"
    )
    loop = IngestLoop(rider, room.code)
    loop.start()
    time.sleep(1)  # warm up
    loop.measure(lambda: time.sleep(args.idle_seconds))
    idle = loop.samples
    keep = timedelta(days=args.days - args.expire_days)
    phases = timed_phases()
    started = time.perf_counter()
    result = loop.measure(lambda: connection_log_cleanup(older_than=keep, batch_size=5000))
    cleanup_s = time.perf_counter() - started
    busy = loop.samples
    time.sleep(0.5)
    loop.stop.set()
    loop.join(timeout=30)
    after = table_rows()

    print(
        f"cleanup: {cleanup_s:.2f} s; dropped {len(result.partitions)} partitions "
        f"({sum(p.rows for p in result.partitions):,} logs), deleted "
        f"{result.deleted_in_batches:,} logs in {result.batches} batches; "
        f"rows {before:,} -> {after:,}"
    )
    detach = phases["detach and unlink keys"]
    drop = phases["drop partitions"] - detach
    print(
        f"  of which: detaching and unlinking keys {detach:.2f} s, DROP TABLE {drop:.2f} s, "
        f"the rest (finding partitions, deleting the remainder) {cleanup_s - detach - drop:.2f} s"
    )
    print(
        f"{'ingest loop':<28} {'batches':>8} {'batch/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}"
    )
    idle.name, busy.name = "idle (baseline)", "during cleanup"
    print(idle.row())
    print(busy.row())
    ratio = busy.percentile(0.99) / idle.percentile(0.99)
    print(
        f"\ncleanup {cleanup_s:.2f} s (goal < 5 s); ingest p99 during cleanup {ratio:.2f}x idle "
        f"(goal <= 2x); failed uploads {len(loop.failures)}"
    )


if __name__ == "__main__":
    main()
