"""Every changelist of the support console, and every log filter, timed over a large log.

    .venv/bin/python -m bench.console [--rows 10000000] [--days 30] [--riders 2000]
                                      [--rooms 300] [--repeat 5] [--keep] [--explain]

Fills telemetry_connectionlog with generate_series (quality reports mostly, 2% reconnects, and
the rare events support filters for: kicked, ice_failed, ice_restart, disconnected, left ...
about one in a thousand each), unless it already holds that many rows (--keep reuses them),
adds a small ride of 60 logs after the ANALYZE (the case that planned badly until the next
ANALYZE), then requests every console list through Django's test client as a superuser:
the log list with no filter, by each event type, ride code (a busy ride and the small one),
rider, day, a from-to window, date range, page 2 and page 50, the ride page's timeline, and
the other lists. Prints the median and the slowest of --repeat requests and the slowest SQL
statement of each; --explain prints EXPLAIN ANALYZE of each log list's query. Use a database
of its own (DATABASE_URL=.../convoy_bench_console).
"""

import argparse
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
         WHEN g %% 1000 = 7 THEN 'kicked' WHEN g %% 1000 = 17 THEN 'ice_failed'
         WHEN g %% 1000 = 27 THEN 'ice_restart' WHEN g %% 1000 = 37 THEN 'disconnected'
         WHEN g %% 1000 = 47 THEN 'left' WHEN g %% 1000 = 57 THEN 'joined'
         WHEN g %% 1000 = 67 THEN 'connected' WHEN g %% 100 = 8 THEN 'network_changed'
         ELSE 'quality_report' END,
    CASE WHEN g %% 100 BETWEEN 3 AND 8 THEN '{}'::jsonb ELSE jsonb_build_object(
        'rtt_ms', round((30 + random() * random() * 400)::numeric, 1),
        'jitter_ms', round((random() * random() * 40)::numeric, 2),
        'packet_loss_pct', round((random() * random() * 8)::numeric, 2),
        'bitrate_kbps', 16 + (random() * 48)::int, 'network_type', '4g') END,
    %(start)s + g * %(step)s, now(), 'gen:' || g
FROM generate_series(%(first)s, %(last)s) AS g,
    (SELECT %(riders)s::uuid[] AS ids, cardinality(%(riders)s::uuid[]) AS n) AS r,
    (SELECT %(rooms)s::uuid[] AS ids, cardinality(%(rooms)s::uuid[]) AS n) AS m
"""
EVENT_TYPES = (
    "quality_report",
    "reconnecting",
    "reconnected",
    "network_changed",
    "kicked",
    "ice_failed",
    "ice_restart",
    "disconnected",
    "left",
    "joined",
    "connected",
)
SMALL_RIDE_LOGS = 60


def generate(rows: int, days: int, riders: int, rooms: int) -> None:
    from django.db import connection

    from bench.telemetry_data import riders_and_rooms, truncate_logs

    truncate_logs()
    made_riders, made_rooms = riders_and_rooms(riders, rooms, prefix="tc")
    ids = {"riders": [r.pk for r in made_riders], "rooms": [r.pk for r in made_rooms]}
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(days=days)
    step = timedelta(days=days) / rows
    started = time.perf_counter()
    for first in range(0, rows, 500_000):
        last = min(rows, first + 500_000) - 1
        params: dict[str, Any] = {"start": start, "step": step, "first": first, "last": last}
        with connection.cursor() as cursor:
            cursor.execute(GENERATE, params | ids)
        print(f"\r  generated {last + 1:,}/{rows:,} rows", end="", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE telemetry_connectionlog")
    print(f"\r  generated {rows:,} rows in {time.perf_counter() - started:.0f} s (+ ANALYZE)")


def small_ride():
    """A ride of SMALL_RIDE_LOGS logs made after the ANALYZE: the statistics do not know it."""
    from riders.models import Rider
    from rooms.services import room_create
    from telemetry.models import ConnectionLog

    rider = Rider.objects.filter(username__startswith="tc").order_by("username").first()
    room = room_create(creator=rider, name=f"Small bench ride {time.time_ns()}")
    now = datetime.now(UTC)
    ConnectionLog.objects.bulk_create(
        ConnectionLog(
            user=rider,
            room=room,
            event_type="quality_report",
            metrics={"rtt_ms": 80, "packet_loss_pct": 0.5},
            occurred_at=now - timedelta(minutes=n),
            client_event_id=f"small-{room.code}-{n}",
        )
        for n in range(SMALL_RIDE_LOGS)
    )
    return room


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_generation_arguments(parser)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="reuse the rows already generated")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each log list")
    args = parser.parse_args()

    setup_django()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from bench.stats import bench_rows
    from bench.telemetry_data import prepare_database
    from riders.models import Rider
    from rooms.models import Room

    settings.ALLOWED_HOSTS = ["testserver"]
    prepare_database()
    print(f"Console lists: {args.rows:,} logs over {args.days} days")
    if not (args.keep and bench_rows() >= args.rows * 0.9):
        generate(args.rows, args.days, args.riders, args.rooms)
    small = small_ride()
    busy = Room.objects.filter(name__startswith="Bench tc").order_by("created_at").first()
    rider = Rider.objects.filter(username__startswith="tc").order_by("username").last()
    if busy is None or rider is None:
        raise SystemExit("No bench rides or riders: run without --keep to generate them.")
    staff, _ = Rider.objects.get_or_create(
        username="bench-console-root",
        defaults={"email": "bench-console-root@bench.convoy", "is_staff": True},
    )
    Rider.objects.filter(pk=staff.pk).update(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(Rider.objects.get(pk=staff.pk))

    logs = reverse("admin:telemetry_connectionlog_changelist")
    now = timezone.now()
    day = (now - timedelta(days=3)).date().isoformat()
    hour_ago = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    pages: list[tuple[str, str]] = [
        ("logs", logs),
        *((f"logs event {kind}", f"{logs}?event_type__exact={kind}") for kind in EVENT_TYPES),
        ("logs ride (busy)", f"{logs}?ride={busy.code}"),
        ("logs ride (small, after ANALYZE)", f"{logs}?ride={small.code}"),
        ("logs rider", f"{logs}?rider={rider.username}"),
        ("logs rider + kicked", f"{logs}?rider={rider.username}&event_type__exact=kicked"),
        ("logs day", f"{logs}?day={day}"),
        ("logs last hour (from)", f"{logs}?from={hour_ago.replace('+', '%2B')}"),
        ("logs date range: today", f"{logs}?occurred_at__gte={now.date()}"),
        ("logs page 2", f"{logs}?p=2"),
        ("logs page 50", f"{logs}?p=50"),
        ("ride page (busy, whole ride)", reverse("admin:rooms_room_change", args=[busy.pk])),
        ("ride page (small)", reverse("admin:rooms_room_change", args=[small.pk])),
        ("rides", reverse("admin:rooms_room_changelist")),
        ("participants", reverse("admin:rooms_roomparticipant_changelist")),
        ("riders", reverse("admin:riders_rider_changelist")),
        ("audit trail", reverse("admin:riders_auditentry_changelist")),
        ("rider page", reverse("admin:riders_rider_change", args=[rider.pk])),
    ]
    print(f"{'page':<36} {'median ms':>10} {'slowest ms':>11} {'queries':>8} {'worst SQL ms':>13}")
    explained: list[tuple[str, str]] = []
    for name, url in pages:
        times = []
        worst_sql = 0.0
        queries = 0
        listing = ""
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{name}: status {response.status_code}")
            queries = len(captured.captured_queries)
            for query in captured.captured_queries:
                worst_sql = max(worst_sql, float(query["time"]) * 1000)
                if "telemetry_connectionlog" in query["sql"] and "LIMIT" in query["sql"]:
                    listing = query["sql"]
        print(
            f"{name:<36} {statistics.median(times):>10.1f} {max(times):>11.1f} "
            f"{queries:>8} {worst_sql:>13.1f}"
        )
        if listing:
            explained.append((name, listing))
    if args.explain:
        with connection.cursor() as cursor:
            for name, sql in explained:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                print(f"\n--- {name}")
                for (line,) in cursor.fetchall():
                    print(line)


if __name__ == "__main__":
    main()
