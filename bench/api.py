"""REST API throughput and latency against a real 2-worker ASGI server.

    .venv/bin/python -m bench.api [--clients 50] [--seconds 10] [--paced-share 0.5]

Drives join+leave, room list and telemetry upload with many concurrent clients (asyncio +
aiohttp, whose C parser leaves the shared CPU to the server), and, in the same run, a trivial
endpoint (/healthz) as the framework's ceiling and the lightest authenticated one
(GET /api/v1/riders/me/) as the floor under every API request. Each client sends its next
request as soon as the last is answered (closed loop): requests/s is the server's capacity,
and p50/p99 include the queue of all the clients' requests in front of each one.

Then the same clients join and leave at a steady pace, a share (``--paced-share``) of the
capacity just measured, as riders do: latency is measured from the moment each request was
due, so a stalled server is not hidden by clients that wait for it. Prints requests/s and
p50/p99 per operation and join+leave as a fraction of the ceiling.
Uses DATABASE_URL / REDIS_URL when set, else the embedded servers.
"""

import argparse
import asyncio
import itertools
import json
import time
import uuid
from datetime import UTC, datetime

import aiohttp

from bench.harness import HEADER, Samples, running_server, setup_django


def prepare(clients: int) -> tuple[list[str], list[str]]:
    """Riders with tokens, and one roomy ride per ten riders."""
    from riders.auth_tokens import token_issue
    from riders.services import rider_create
    from rooms.services import participant_leave, room_create

    run = uuid.uuid4().hex[:6]
    keys, codes = [], []
    for n in range(clients):
        rider = rider_create(
            username=f"bench{run}{n}", email=f"bench{run}{n}@bench.convoy", password=None
        )
        keys.append(token_issue(rider=rider, device_name="bench").key)
        if n % 10 == 0:
            code = room_create(creator=rider, name=f"Bench {run} {n}", max_participants=50).code
            # The creator starts outside, like every other client, so its first join counts.
            participant_leave(rider=rider, code=code)
            codes.append(code)
    return keys, codes


async def call(samples: Samples, http, method: str, url: str, *, due=None, check=None, **kw):
    """One request; its latency (from ``due`` when given) and whether it got a 200 for which
    ``check(body)`` holds. A connection the server dropped counts as an error."""
    started = time.perf_counter() if due is None else due
    try:
        async with http.request(method, url, **kw) as response:
            body = await response.read()
            ok = response.status == 200 and (check is None or check(body))
    except aiohttp.ClientError:
        samples.add(started, False)
        samples.transport_errors += 1
        return
    samples.add(started, ok)


async def drive(base: str, seconds: float, clients: int, operation, name=None) -> Samples:
    samples = Samples(name or operation.__name__.replace("_", " "))
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as http:
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
            await call(samples, http, "GET", "/healthz")

    async def rider_me(http, index, deadline, samples):
        # The lightest authenticated request (token lookup, rate limit, a five-field answer):
        # the floor under every API endpoint, join and leave included.
        headers = {"Authorization": f"Bearer {keys[index]}"}
        while time.perf_counter() < deadline:
            await call(samples, http, "GET", "/api/v1/riders/me/", headers=headers)

    async def join_and_leave(http, index, deadline, samples):
        headers = {"Authorization": f"Bearer {keys[index]}"}
        code = codes[index % len(codes)]
        while time.perf_counter() < deadline:
            await call(samples, http, "POST", f"/api/v1/rooms/{code}/join/", headers=headers)
            await call(samples, http, "POST", f"/api/v1/rooms/{code}/leave/", headers=headers)

    async def list_rooms(http, index, deadline, samples):
        headers = {"Authorization": f"Bearer {keys[index]}"}
        while time.perf_counter() < deadline:
            await call(samples, http, "GET", "/api/v1/rooms/?page_size=20", headers=headers)

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
            await call(
                samples,
                http,
                "POST",
                "/api/v1/telemetry/events/",
                json={"events": events},
                headers=headers,
                check=lambda body: json.loads(body)["stored"] == 50,
            )

    return [healthz_ceiling, rider_me, join_and_leave, list_rooms, upload_50_events]


def paced_join_and_leave(keys: list[str], codes: list[str], rate: float):
    """Every client joins, then leaves, each on its own schedule; all together ``rate``
    requests a second, spread evenly so that the clients do not send in bursts."""
    clients = len(keys)
    period = 2 * clients / rate  # each client sends two requests per period

    async def operation(http, index, deadline, samples):
        headers = {"Authorization": f"Bearer {keys[index]}"}
        code = codes[index % len(codes)]
        due = time.perf_counter() + period * index / clients
        while due < deadline:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await call(
                samples, http, "POST", f"/api/v1/rooms/{code}/join/", headers=headers, due=due
            )
            await asyncio.sleep(max(0.0, due + period / 2 - time.perf_counter()))
            await call(
                samples,
                http,
                "POST",
                f"/api/v1/rooms/{code}/leave/",
                headers=headers,
                due=due + period / 2,
            )
            due += period

    return operation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--paced-share",
        type=float,
        default=0.5,
        help="the paced run's request rate, as a share of the measured join+leave capacity",
    )
    args = parser.parse_args()
    if args.clients < 1 or args.seconds <= 0 or not 0 < args.paced_share <= 1:
        parser.error("--clients and --seconds must be positive, --paced-share in (0, 1]")

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
        paced_rate = results["join_and_leave"].rate * args.paced_share
        paced = asyncio.run(
            drive(
                base,
                args.seconds,
                args.clients,
                paced_join_and_leave(keys, codes, paced_rate),
                name=f"join+leave paced {paced_rate:.0f}/s",
            )
        )
        print(paced.row(), flush=True)
    dropped = sum(samples.transport_errors for samples in [*results.values(), paced])
    if dropped:
        print(f"connections dropped by the server (counted as errors above): {dropped}")
    ceiling = results["healthz_ceiling"].rate
    join_leave = results["join_and_leave"]
    floor = results["rider_me"].rate
    print(
        f"\nthe lightest authenticated request (GET /api/v1/riders/me/) at "
        f"{floor / ceiling:.0%} of the /healthz ceiling; join+leave at "
        f"{join_leave.rate / floor:.0%} of that floor"
    )
    print(
        f"join+leave at {join_leave.rate / ceiling:.0%} of the /healthz ceiling "
        f"(goal >= 50%); p99 with {args.clients} clients sending back to back "
        f"{join_leave.percentile(0.99):.1f} ms, at {paced_rate:.0f} req/s "
        f"({args.paced_share:.0%} of capacity) {paced.percentile(0.99):.1f} ms (goal < 50 ms)"
    )


if __name__ == "__main__":
    main()
