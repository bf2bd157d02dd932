"""Statistics of riders and rooms over a large connection log, selector against hand SQL.

    .venv/bin/python -m bench.stats [--rows 10000000] [--days 30] [--riders 2000] [--rooms 300]
                                    [--repeat 30] [--keep]

Fills telemetry_connectionlog with generate_series (each rider reports every few seconds in
one ride, 2% reconnects), unless it already holds that many bench rows (--keep reuses
them), then times ``connection_log_report`` for a room and a rider over the last hour
(1-minute buckets), the last day (1-hour buckets) and the whole period (1-day buckets),
and a hand-written SQL statement computing the same figures on a bare psycopg connection
as the ceiling. Prints p50/p95 of both, the ratio, and EXPLAIN ANALYZE of the largest case.
Use a database of its own (DATABASE_URL=.../convoy_bench_tel).
"""

import argparse
import math
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import setup_django
from bench.telemetry_data import add_generation_arguments

GENERATE = """
INSERT INTO telemetry_connectionlog
    (id, user_id, room_id, event_type, metrics, occurred_at, recorded_at, client_event_id)
SELECT gen_random_uuid(), r.ids[1 + g %% r.n], m.ids[1 + (g %% r.n) %% m.n],
    CASE WHEN g %% 100 IN (3, 4) THEN 'reconnecting' WHEN g %% 100 IN (5, 6) THEN 'reconnected'
         WHEN g %% 100 = 7 THEN 'network_changed' ELSE 'quality_report' END,
    CASE WHEN g %% 100 BETWEEN 3 AND 7 THEN '{}'::jsonb ELSE jsonb_build_object(
        'rtt_ms', round((30 + random() * random() * 400)::numeric, 1),
        'jitter_ms', round((random() * random() * 40)::numeric, 2),
        'packet_loss_pct', round((random() * random() * 8)::numeric, 2),
        'bitrate_kbps', 16 + (random() * 48)::int, 'network_type', '4g') END,
    %(start)s + g * %(step)s, now(), 'gen:' || g
FROM generate_series(%(first)s, %(last)s) AS g,
    (SELECT %(riders)s::uuid[] AS ids, cardinality(%(riders)s::uuid[]) AS n) AS r,
    (SELECT %(rooms)s::uuid[] AS ids, cardinality(%(rooms)s::uuid[]) AS n) AS m
"""

TYPES = (
    "connected",
    "disconnected",
    "reconnecting",
    "reconnected",
    "ice_failed",
    "ice_restart",
    "quality_report",
    "joined",
    "left",
    "kicked",
    "network_changed",
)
# The same figures as connection_log_report, written out by hand for one psycopg cursor.
HAND_SQL = (
    """
WITH s AS MATERIALIZED (
    SELECT occurred_at, event_type, user_id, date_bin(%(width)s, occurred_at, %(since)s) AS b,
        rtt_ms AS rtt, jitter_ms AS jitter, packet_loss_pct AS loss, bitrate_kbps AS bitrate
    FROM telemetry_connectionlog
    WHERE {column} = %(subject)s AND occurred_at >= %(since)s AND occurred_at < %(until)s
), f AS (
    SELECT b, count(*) AS n, """
    + ", ".join(f"count(*) FILTER (WHERE event_type = '{t}')" for t in TYPES)
    + """,
        count(rtt), avg(rtt), percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY rtt) AS rtt_pct,
        count(jitter), avg(jitter), percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY jitter),
        count(loss), avg(loss), percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY loss),
        count(bitrate), avg(bitrate), percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY bitrate),
        count(mos), avg(mos)
    FROM s CROSS JOIN LATERAL (SELECT {mos} AS mos) AS q
    GROUP BY GROUPING SETS ((), (b))
), r AS (
    SELECT b, avg(ms) AS ms FROM (
        SELECT b, CASE WHEN event_type = 'reconnected' AND lag(event_type) OVER w = 'reconnecting'
            THEN extract(epoch FROM occurred_at - lag(occurred_at) OVER w) * 1000 END AS ms
        FROM s WHERE event_type IN ('reconnecting', 'reconnected')
        WINDOW w AS (PARTITION BY user_id ORDER BY occurred_at)
    ) AS t GROUP BY GROUPING SETS ((), (b))
)
SELECT f.*, r.ms FROM f LEFT JOIN r ON r.b IS NOT DISTINCT FROM f.b ORDER BY f.b NULLS FIRST
"""
)


def generate(rows: int, days: int, riders: int, rooms: int) -> None:
    from django.db import connection

    from bench.telemetry_data import riders_and_rooms, truncate_logs

    truncate_logs()
    made_riders, made_rooms = riders_and_rooms(riders, rooms, prefix="ts")
    ids = {"riders": [r.pk for r in made_riders], "rooms": [r.pk for r in made_rooms]}
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(days=days)
    step = timedelta(days=days) / rows
    chunk = 500_000
    started = time.perf_counter()
    for first in range(0, rows, chunk):
        last = min(rows, first + chunk) - 1
        with connection.cursor() as cursor:
            params: dict[str, Any] = {"start": start, "step": step, "first": first, "last": last}
            cursor.execute(GENERATE, params | ids)
        print(f"\r  generated {last + 1:,}/{rows:,} rows", end="", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE telemetry_connectionlog")
    print(
        f"\r  generated {rows:,} rows in {time.perf_counter() - started:.0f} s (+ VACUUM ANALYZE)"
    )


def bench_rows() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(c.reltuples), 0)::bigint FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'telemetry_connectionlog'::regclass"
        )
        return cursor.fetchone()[0]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_generation_arguments(parser)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="reuse the rows already generated")
    args = parser.parse_args()

    setup_django()
    import psycopg
    from django.db import connection

    from bench.telemetry_data import prepare_database
    from config.database import direct_connection_params
    from riders.models import Rider
    from rooms.models import Room
    from telemetry.quality import mos_sql
    from telemetry.selectors import connection_log_report

    prepare_database()
    print(
        f"Telemetry statistics: {args.rows:,} logs over {args.days} days, "
        f"{args.riders} riders, {args.rooms} rooms"
    )
    if not (args.keep and bench_rows() >= args.rows * 0.9):
        generate(args.rows, args.days, args.riders, args.rooms)
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(occurred_at) FROM telemetry_connectionlog")
        latest = cursor.fetchone()[0]
        # Subjects that rode in the last hour, as a support person would look them up.
        cursor.execute(
            "SELECT DISTINCT user_id, room_id FROM telemetry_connectionlog WHERE occurred_at > %s",
            [latest - timedelta(hours=1)],
        )
        pairs = cursor.fetchall()
    riders = list(Rider.objects.filter(pk__in={u for u, _ in pairs}))
    rooms = list(Room.objects.filter(pk__in={r for _, r in pairs if r is not None}))
    until = latest.replace(minute=0, second=0, microsecond=0)
    cases = [
        ("1 hour, 1m buckets", timedelta(hours=1), "1m"),
        ("1 day, 1h buckets", timedelta(days=1), "1h"),
        (f"{args.days} days, 1d buckets", timedelta(days=args.days), "1d"),
    ]
    widths = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
    mos = mos_sql("rtt", "jitter", "loss")
    rng = random.Random(3)
    hand = psycopg.connect(**direct_connection_params(), autocommit=True)
    hand.prepare_threshold = None  # planned for each window, as the selector is
    print(
        f"\n{'case':<32} {'selector p50':>12} {'p95 ms':>8} {'hand SQL p50':>12} {'p95 ms':>8} {'ratio p95':>9}"
    )
    largest: tuple[str, dict] | None = None
    for kind, objects, column in (("room", rooms, "room_id"), ("rider", riders, "user_id")):
        for label, span, bucket in cases:
            since = until - span
            selector_ms: list[float] = []
            hand_ms: list[float] = []
            sql = HAND_SQL.format(mos=mos, column=column)
            for repeat in range(args.repeat):
                subject = rng.choice(objects)
                params = {
                    "width": widths[bucket],
                    "since": since,
                    "until": until,
                    "subject": subject.pk,
                }

                def by_selector(subject=subject, since=since, bucket=bucket, kind=kind):
                    return connection_log_report(
                        since=since, until=until, bucket=bucket, **{kind: subject}
                    )

                def by_hand(params=params, sql=sql):
                    return hand.execute(sql, params).fetchall()

                # Whichever runs first reads the subject's pages into the cache for the
                # other: the two take turns going first.
                order = [(by_selector, selector_ms), (by_hand, hand_ms)]
                results = {}
                for run, times in order if repeat % 2 == 0 else order[::-1]:
                    t = time.perf_counter()
                    results[run] = run()
                    times.append((time.perf_counter() - t) * 1000)
                report, rows = results[by_selector], results[by_hand]
                total = next(row for row in rows if row[0] is None)
                if total[1] != report.total_events:
                    raise RuntimeError(
                        f"events: hand SQL {total[1]}, selector {report.total_events}"
                    )
                expected = [report.rtt_ms.p50, report.rtt_ms.p95, report.rtt_ms.p99]
                got = total[1 + len(TYPES) + 3] or [None, None, None]
                if not all(
                    a == b or math.isclose(a, b, rel_tol=1e-9)
                    for a, b in zip(got, expected, strict=True)
                ):
                    raise RuntimeError(
                        f"round trip p50/p95/p99: hand SQL {got}, selector {expected}"
                    )
            s95, h95 = percentile(selector_ms, 0.95), percentile(hand_ms, 0.95)
            print(
                f"{kind + ' ' + label:<32} {statistics.median(selector_ms):>12.1f} {s95:>8.1f} "
                f"{statistics.median(hand_ms):>12.1f} {h95:>8.1f} {s95 / h95:>8.2f}x",
                flush=True,
            )
            if kind == "room" and bucket == "1d":
                largest = (sql, params)
    if largest is None:
        raise RuntimeError("no case of a room over 1-day buckets to explain")
    sql, params = largest
    print("\nEXPLAIN ANALYZE of the largest case (a room over the whole period, 1-day buckets):")
    for (line,) in hand.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall():
        print("  " + line)
    print("\nGoals: selector p95 within 1.2x of hand SQL; room over 1 day under 100 ms.")


if __name__ == "__main__":
    main()
