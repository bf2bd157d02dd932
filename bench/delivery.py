"""Webhook delivery under load: events committed at a steady rate, delivered by real workers
to three local receivers (one healthy, one slow, one failing half the time).

    .venv/bin/python -m bench.delivery [--rate 200] [--seconds 20] [--rides 100]
                                       [--workers 2] [--concurrency 8] [--slow-ms 200]

Prints events committed per second, deliveries per second per receiver, delivery latency
p50/p99 from commit to receipt, duplicates and losses, and the ceiling: the same payloads
POSTed directly, with the same number of threads, to the healthy receiver. Use a database of
its own (DATABASE_URL); it is migrated, and its outbox and jobs are emptied first.
"""

import argparse
import concurrent.futures
import http.server
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx

from bench.harness import ROOT, setup_django


class Receiver:
    """A loopback receiver that keeps, per webhook-id, how often and when it arrived."""

    def __init__(self, name: str, *, delay_s: float = 0.0, failure_rate: float = 0.0):
        self.name, self.delay_s, self.failure_rate = name, delay_s, failure_rate
        self.seen: Counter[str] = Counter()
        self.latencies_ms: list[float] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                failed = random.random() < receiver.failure_rate
                if not failed:
                    payload = json.loads(body)
                    committed = payload["data"].get("committed_at")
                    with receiver.lock:
                        receiver.seen[self.headers["webhook-id"]] += 1
                        if committed is not None and receiver.seen[self.headers["webhook-id"]] == 1:
                            receiver.latencies_ms.append((time.time() - committed) * 1000)
                self.send_response(500 if failed else 200)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def produce(*, rate: float, seconds: float, rides: list) -> tuple[int, float]:
    """Commit ``rate`` events a second for ``seconds``, round-robin over ``rides``."""
    from django.db import transaction

    from rooms.outbox import RIDER_JOINED, outbox_record

    started = time.monotonic()
    committed = 0
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate) + 1
        while committed < due:
            ride = rides[committed % len(rides)]
            with transaction.atomic():
                outbox_record(
                    type=RIDER_JOINED,
                    room_id=ride.pk,
                    data={"ride": {"code": ride.code}, "n": committed, "committed_at": time.time()},
                )
            committed += 1
        time.sleep(0.002)
    return committed, time.monotonic() - started


def ceiling(url: str, *, threads: int, count: int) -> float:
    """POSTs per second of the same kind of payload sent straight to ``url``."""
    body = json.dumps({"type": "rider.joined", "data": {"ride": {"code": "ABCDEF"}}})

    def post_many(n: int) -> None:
        with httpx.Client(timeout=10) as client:
            for _ in range(n):
                client.post(url, content=body, headers={"webhook-id": os.urandom(8).hex()})

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(post_many, [count // threads] * threads))
    return (count // threads * threads) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rides", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--slow-ms", type=int, default=200)
    parser.add_argument("--drain-timeout", type=float, default=120)
    args = parser.parse_args()

    setup_django()
    from django.core.management import call_command
    from django.db import connection

    from riders.models import Rider
    from rooms.models import OutboxEvent, Room, WebhookDelivery, WebhookEndpoint
    from rooms.services import generate_room_code
    from rooms.webhooks import webhook_endpoint_create

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs")
    WebhookEndpoint.objects.all().delete()
    OutboxEvent.objects.all().delete()
    owner, _ = Rider.objects.get_or_create(username="bench-delivery", email="bench@delivery.test")
    rides = list(Room.objects.filter(creator=owner)[: args.rides])
    for n in range(len(rides), args.rides):
        rides.append(
            Room.objects.create(name=f"Bench ride {n}", code=generate_room_code(), creator=owner)
        )

    receivers = [
        Receiver("healthy"),
        Receiver("slow", delay_s=args.slow_ms / 1000),
        Receiver("failing half", failure_rate=0.5),
    ]
    endpoints = [
        webhook_endpoint_create(url=receiver.url, event_types=["rider.joined"], actor=owner)
        for receiver in receivers
    ]

    env = {
        **os.environ,
        "DELIVERY_WORKER_CONCURRENCY": str(args.concurrency),
        "LOG_LEVEL": "WARNING",
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "manage.py", "procrastinate", "worker"], cwd=ROOT, env=env
        )
        for _ in range(args.workers)
    ]
    try:
        committed, produced_s = produce(rate=args.rate, seconds=args.seconds, rides=rides)
        deadline = time.monotonic() + args.drain_timeout
        while (
            time.monotonic() < deadline
            and WebhookDelivery.objects.filter(status="pending")
            .exclude(endpoint=endpoints[2])
            .exists()
        ):
            time.sleep(0.5)
        drained_s = time.monotonic() - (deadline - args.drain_timeout) + produced_s
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)

    direct = ceiling(Receiver("ceiling").url, threads=args.workers * args.concurrency, count=4000)
    print(
        f"{committed} events committed in {produced_s:.1f} s ({committed / produced_s:.0f}/s), "
        f"{len(rides)} rides, {args.workers} workers x {args.concurrency}"
    )
    print(
        f"{'receiver':<14} {'delivered':>9} {'per s':>7} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'duplicates':>10} {'retrying':>8} {'lost':>5}"
    )
    for receiver, endpoint in zip(receivers, endpoints, strict=True):
        distinct = len(receiver.seen)
        duplicates = sum(n - 1 for n in receiver.seen.values())
        retrying = WebhookDelivery.objects.filter(endpoint=endpoint, status="pending").count()
        print(
            f"{receiver.name:<14} {distinct:>9} {distinct / drained_s:>7.0f} "
            f"{receiver.percentile(0.5):>8.0f} {receiver.percentile(0.99):>8.0f} "
            f"{duplicates:>10} {retrying:>8} {committed - distinct - retrying:>5}"
        )
    print(
        f"ceiling: the same POSTs sent directly, {args.workers * args.concurrency} threads: "
        f"{direct:.0f}/s"
    )


if __name__ == "__main__":
    main()
