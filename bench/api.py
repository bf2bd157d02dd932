"""REST API throughput and latency against a real 2-worker ASGI server.

    .venv/bin/python bench/api.py [--clients 50] [--seconds 10]

Drives join+leave, room list and telemetry upload with many concurrent clients (asyncio +
httpx), and, in the same run, a trivial endpoint (/healthz) as the framework's ceiling.
Prints requests/s and p50/p99 per operation and join+leave as a fraction of the ceiling.
Uses DATABASE_URL / REDIS_URL when set, else the embedded servers.
"""

import argparse
import asyncio
import itertools
import time
import uuid
from datetime import UTC, datetime

import httpx

from bench.harness import HEADER, Samples, running_server, setup_django


def prepare(clients: int) -> tuple[list[str], list[str]]:
    """Riders with tokens, and one roomy ride per ten riders."""
    from riders.auth_tokens import token_issue
    from riders.services import rider_create
    from rooms.services import room_create

    run = uuid.uuid4().hex[:6]
    keys, codes = [], []
    for n in range(clients):
        rider = rider_create(
            username=f"bench{run}{n}", email=f"bench{run}{n}@bench.convoy", password=None
        )
        keys.append(token_issue(rider=rider, device_name="bench").key)
        if n % 10 == 0:
            codes.append(
                room_create(creator=rider, name=f"Bench {run} {n}", max_participants=50).code
            )
    return keys, codes


async def drive(base: str, seconds: float, clients: int, operation) -> Samples:
    samples = Samples(operation.__name__.replace("_", " "))
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as http:
        started = time.perf_counter()
        await asyncio.gather(
            *(operation(http, index, deadline, samples) for index in range(clients))
        )
        samples.elapsed_s = time.perf_counter() - started
    return samples


def scenarios(keys: list[str], codes: list[str]):
    counter = itertools.count()

    async def healthz_ceiling(http, index, deadline, samples):
        while time.perf_counter() < deadline:
            await samples.request(http.get("/healthz"), lambda r: r.status_code == 200)

    async def join_and_leave(http, index, deadline, samples):
        headers = {"Authorization": f"Bearer {keys[index]}"}
        code = codes[index % len(codes)]
        while time.perf_counter() < deadline:
            await samples.request(
                http.post(f"/api/v1/rooms/{code}/join/", headers=headers),
                lambda r: r.status_code == 200,
            )
            await samples.request(
                http.post(f"/api/v1/rooms/{code}/leave/", headers=headers),
                lambda r: r.status_code == 200,
            )

    async def list_rooms(http, index, deadline, samples):
        headers = {"Authorization": f"Bearer {keys[index]}"}
        while time.perf_counter() < deadline:
            await samples.request(
                http.get("/api/v1/rooms/?page_size=20", headers=headers),
                lambda r: r.status_code == 200,
            )

    async def upload_50_events(http, index, deadline, samples):
        headers = {"Authorization": f"Bearer {keys[index]}"}
        while time.perf_counter() < deadline:
            now = datetime.now(UTC).isoformat()
            batch = next(counter)
            events = [
                {
                    "event_type": "quality_report",
                    "occurred_at": now,
                    "client_event_id": f"b{batch}-{n}",
                    "metrics": {"rtt_ms": 40 + n, "jitter_ms": 4, "packet_loss_pct": 0.5},
                }
                for n in range(50)
            ]
            await samples.request(
                http.post("/api/v1/telemetry/events/", json={"events": events}, headers=headers),
                lambda r: r.status_code == 200 and r.json()["stored"] == 50,
            )

    return [healthz_ceiling, join_and_leave, list_rooms, upload_50_events]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    setup_django()
    keys, codes = prepare(args.clients)
    unthrottled = {"THROTTLE_RIDER_RATE": "1000000/min", "LOG_LEVEL": "WARNING"}
    with running_server(workers=args.workers, extra_env=unthrottled) as base:
        print(
            f"Convoy API benchmark: {args.clients} clients, {args.seconds:.0f} s each, "
            f"{args.workers} workers"
        )
        print(HEADER)
        results = {}
        for operation in scenarios(keys, codes):
            samples = asyncio.run(drive(base, args.seconds, args.clients, operation))
            results[operation.__name__] = samples
            print(samples.row(), flush=True)
    dropped = sum(samples.transport_errors for samples in results.values())
    if dropped:
        print(f"connections dropped by the server (counted as errors above): {dropped}")
    ceiling = results["healthz_ceiling"].rate
    join_leave = results["join_and_leave"]
    print(
        f"\njoin+leave at {join_leave.rate / ceiling:.0%} of the /healthz ceiling "
        f"(goal >= 50%), p99 {join_leave.percentile(0.99):.1f} ms (goal < 50 ms)"
    )


if __name__ == "__main__":
    main()
