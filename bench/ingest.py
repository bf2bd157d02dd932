"""Bulk ingest through the telemetry service against bare COPY into the same table.

    .venv/bin/python -m bench.ingest [--events 200000] [--batch 500] [--riders 400] [--streams 1]

Builds realistic phone batches (quality reports every few seconds with rtt, jitter, loss,
bitrate and network; now and then a reconnect or a network change), then, in the same run:
1. COPY of the same rows with psycopg into telemetry_connectionlog, each batch in a
   transaction of its own as each upload is: the ceiling; and, for reference, every row in
   one COPY and one commit, which no stream of separate uploads can do;
2. the table emptied, every batch through ``connection_log_ingest_batch`` (validation,
   room lookup, rider lock, lookup + insert statement), one batch at a time;
3. every batch uploaded a second time: nothing may be stored.
With ``--streams N`` each step runs on N threads at once (N COPY streams for the ceiling), as
N server workers take uploads from many phones.
Rows of the bench riders are counted after each step: none lost, none doubled. Other rows
stay: run it on an empty table or after bench.stats to ingest beside millions of rows. Use a
database of its own (DATABASE_URL=.../convoy_bench_tel).
"""

import argparse
import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from bench.harness import setup_django


def make_batches(riders, rooms, events: int, batch: int) -> list[tuple[object, list[dict]]]:
    """Per rider, consecutive events of the last hours, cut into batches of ``batch``."""
    rng = random.Random(7)
    now = datetime.now(UTC) - timedelta(minutes=1)
    per_rider = max(1, events // len(riders))
    batches = []
    made = 0
    for r_index, rider in enumerate(riders):
        room = rooms[r_index % len(rooms)]
        count = min(per_rider, events - made)
        if count <= 0:
            break
        start = now - timedelta(seconds=5 * count)
        stream = []
        for n in range(count):
            kind = rng.random()
            if kind < 0.94:
                event = {
                    "event_type": "quality_report",
                    "metrics": {
                        "rtt_ms": round(rng.lognormvariate(4.3, 0.5), 1),
                        "jitter_ms": round(rng.expovariate(1 / 8), 2),
                        "packet_loss_pct": round(min(100, rng.expovariate(1 / 1.5)), 2),
                        "bitrate_kbps": rng.randint(16, 64),
                        "network_type": rng.choice(["4g", "5g", "3g"]),
                    },
                }
            elif kind < 0.97:
                event = {"event_type": rng.choice(["reconnecting", "reconnected"]), "metrics": {}}
            else:
                event = {
                    "event_type": "network_changed",
                    "metrics": {"network_type": rng.choice(["4g", "3g"]), "signal_level": 2},
                }
            event["occurred_at"] = (start + timedelta(seconds=5 * n)).isoformat()
            event["client_event_id"] = f"ph{r_index}:{n}"
            event["room_code"] = room.code
            stream.append(event)
        made += count
        for i in range(0, len(stream), batch):
            batches.append((rider, stream[i : i + batch]))
    return batches


def in_parallel(work, batches, streams: int) -> tuple[float, Counter]:
    """Run ``work(share)`` on ``streams`` threads, each with its own database connection and
    every streams-th batch; return the wall time of the slowest and the sum of what each
    returned (a Counter, or None)."""
    from django.db import connection

    shares = [batches[n::streams] for n in range(streams)]

    def run(share):
        try:
            return work(share)
        finally:
            connection.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=streams) as pool:
        results = [future.result() for future in [pool.submit(run, s) for s in shares]]
    return time.perf_counter() - started, sum(filter(None, results), Counter())


COPY_SQL = (
    "COPY telemetry_connectionlog (id, user_id, room_id, event_type, metrics, "
    "occurred_at, recorded_at, client_event_id) FROM STDIN"
)


def copy_rows(batches, room_ids: dict, *, per_batch: bool) -> None:
    """COPY the same events with psycopg (no validation, no lookups).

    ``per_batch``: each batch in a COPY and a transaction of its own, committed before the
    next, as an upload must be (the phone forgets its events once told they are stored):
    the ceiling. Without it, every row in one COPY and one commit, shown for reference: no
    upload can share a commit with the others.
    """
    from django.db import connection, transaction
    from uuid6 import uuid7

    def write(copy, rider, events, now):
        for e in events:
            copy.write_row(
                (
                    uuid7(),
                    rider.pk,
                    room_ids[e["room_code"]],
                    e["event_type"],
                    json.dumps(e["metrics"]),
                    e["occurred_at"],
                    now,
                    e["client_event_id"],
                )
            )

    if per_batch:
        for rider, events in batches:
            with (
                transaction.atomic(),
                connection.cursor() as cursor,
                cursor.cursor.copy(COPY_SQL) as copy,
            ):
                write(copy, rider, events, datetime.now(UTC))
        return
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy(COPY_SQL) as copy,
    ):
        now = datetime.now(UTC)
        for rider, events in batches:
            write(copy, rider, events, now)


def upload(batches) -> Counter:
    from telemetry.services import connection_log_ingest_batch

    tally: Counter[str] = Counter()
    for rider, events in batches:
        tally.update(o.status for o in connection_log_ingest_batch(rider=rider, events=events))
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--riders", type=int, default=400)
    parser.add_argument("--rooms", type=int, default=60)
    parser.add_argument(
        "--streams",
        type=int,
        default=1,
        help="uploads (and COPY streams) at once, as several server workers would run them",
    )
    args = parser.parse_args()
    if args.streams < 1:
        parser.error("--streams must be at least 1")

    setup_django()
    from django.db import connection

    from bench.telemetry_data import prepare_database, riders_and_rooms
    from rooms.models import RoomParticipant

    prepare_database()
    riders, rooms = riders_and_rooms(args.riders, args.rooms)
    RoomParticipant.objects.bulk_create(
        [
            RoomParticipant(
                room=rooms[i % len(rooms)], user=rider, is_active=False, left_at=datetime.now(UTC)
            )
            for i, rider in enumerate(riders)
        ],
        ignore_conflicts=True,
    )
    batches = make_batches(riders, rooms, args.events, args.batch)
    total = sum(len(events) for _, events in batches)
    print(
        f"Telemetry ingest: {total:,} events in {len(batches)} batches of <= {args.batch}, "
        f"{args.streams} stream(s) at once"
    )
    from rooms.models import Room

    room_ids = dict(Room.objects.values_list("code", "pk"))

    rider_ids = [rider.pk for rider in riders]

    def bench_rows() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM telemetry_connectionlog WHERE user_id = ANY(%s)", [rider_ids]
            )
            return cursor.fetchone()[0]

    def forget_bench_rows() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM telemetry_connectionlog WHERE user_id = ANY(%s)", [rider_ids]
            )
            cursor.execute("VACUUM ANALYZE telemetry_connectionlog")

    bulk_s, _ = in_parallel(
        lambda share: copy_rows(share, room_ids, per_batch=False), batches, args.streams
    )
    bulk_copied = bench_rows()
    forget_bench_rows()
    copy_s, _ = in_parallel(
        lambda share: copy_rows(share, room_ids, per_batch=True), batches, args.streams
    )
    copied = bench_rows()
    forget_bench_rows()
    service_s, tally = in_parallel(upload, batches, args.streams)
    stored_rows = bench_rows()
    again_s, again = in_parallel(upload, batches, args.streams)
    after_rows = bench_rows()

    print(f"{'path':<34} {'seconds':>8} {'events/s':>10}")
    print(f"{'COPY, a commit a batch (ceiling)':<34} {copy_s:>8.2f} {total / copy_s:>10,.0f}")
    print(f"{'COPY, all in one commit':<34} {bulk_s:>8.2f} {total / bulk_s:>10,.0f}")
    print(f"{'service, first upload':<34} {service_s:>8.2f} {total / service_s:>10,.0f}")
    print(f"{'service, same batches again':<34} {again_s:>8.2f} {total / again_s:>10,.0f}")
    print(f"first upload outcomes: {dict(tally)}; second upload outcomes: {dict(again)}")
    print(
        f"rows after COPY {copied:,} (in one commit {bulk_copied:,}); after upload "
        f"{stored_rows:,}; after re-upload {after_rows:,}"
    )
    lost = total - stored_rows
    print(
        f"service at {copy_s / service_s:.2f}x the throughput of COPY with a commit a batch "
        f"(goal >= 0.5x), {bulk_s / service_s:.2f}x of COPY in one commit; "
        f"lost {lost}, duplicated {after_rows - stored_rows} (goal 0, 0); "
        f"stored on re-upload {again.get('stored', 0)} (goal 0)"
    )


if __name__ == "__main__":
    main()
