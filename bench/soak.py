"""Soak: mixed ride traffic from many riders against a real multi-worker server, for minutes.

    .venv/bin/python -m bench.soak [--riders 300] [--duration 600] [--workers 2]

Each simulated rider loops through a ride: join over REST, open the ride socket, a few
heartbeats over it, upload a batch of connection events (every fifth batch sent twice, as a
phone retrying after a tunnel), read its statistics, close the socket, leave. One leader per
ride holds its socket for the whole run. At the end it prints throughput and p50/p99 per
operation, the error count, the RSS of every worker at the start and the end (flagging growth
over 10%), and checks the invariants: active participants in PostgreSQL equal the live
members in Redis, no ride over capacity, every telemetry event stored exactly once.

Uses DATABASE_URL / REDIS_URL when set, else the embedded servers.
"""

import argparse
import asyncio
import contextlib
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil
import websockets
from websockets.typing import Subprotocol

from bench.harness import HEADER, Samples, server_process, setup_django

RIDE_SIZE = 10  # riders per ride, besides its leader
EVENTS_PER_UPLOAD = 20
RSS_GROWTH_FLAG = 0.10


@dataclass
class Rider:
    key: str
    rider_id: str
    code: str
    events_sent: set[str] = field(default_factory=set)
    events_acknowledged: set[str] = field(default_factory=set)


@dataclass
class Ride:
    code: str
    leader: Rider
    capacity: int


def prepare(riders: int) -> tuple[list[Rider], list[Ride]]:
    from riders.auth_tokens import token_issue
    from riders.services import rider_create
    from rooms.services import room_create

    run = uuid.uuid4().hex[:6]
    rides, seats = [], []

    def new_rider(name: str):
        rider = rider_create(username=name, email=f"{name}@bench.convoy", password=None)
        return rider, token_issue(rider=rider, device_name="soak").key

    for n in range(riders):
        if n % RIDE_SIZE == 0:
            leader, key = new_rider(f"soakl{run}{n}")
            room = room_create(
                creator=leader, name=f"Soak {run} {n}", max_participants=RIDE_SIZE + 2
            )
            rides.append(Ride(room.code, Rider(key, str(leader.pk), room.code), RIDE_SIZE + 2))
        rider, key = new_rider(f"soak{run}{n}")
        seats.append(Rider(key, str(rider.pk), rides[-1].code))
    return seats, rides


class Soak:
    def __init__(self, base: str, duration: float):
        self.base, self.ws_base = base, base.replace("http", "ws")
        self.deadline = time.monotonic() + duration
        # Workers grow while their pools, caches and sockets first fill: RSS growth is
        # measured from the end of this warm-up.
        self.warm_up_s = min(30.0, duration / 10)
        self.samples = {
            name: Samples(name)
            for name in ("join", "socket open", "heartbeat", "upload", "stats", "leave")
        }
        self.failures: list[str] = []

    def socket(self, rider: Rider):
        return websockets.connect(
            f"{self.ws_base}/ws/rooms/{rider.code}/",
            subprotocols=[Subprotocol("convoy.v1"), Subprotocol(f"bearer.{rider.key}")],
            open_timeout=20,
            max_queue=None,
        )

    async def timed(self, name: str, call, ok) -> Any:
        started = time.perf_counter()
        try:
            result = await call()
        except Exception as exc:  # every failure is counted and shown, none stops the run
            self.samples[name].add(started, False)
            self._note(f"{name}: {type(exc).__name__}: {exc}")
            return None
        passed = ok(result)
        self.samples[name].add(started, passed)
        if not passed:
            self._note(
                f"{name}: {getattr(result, 'status_code', result)} {getattr(result, 'text', '')[:200]}"
            )
        return result

    def _note(self, failure: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(failure)

    async def ride(self, http: httpx.AsyncClient, rider: Rider) -> None:
        headers = {"Authorization": f"Bearer {rider.key}"}
        await asyncio.sleep(random.uniform(0, 5))  # riders arrive over a few seconds
        last_batch: list[dict] | None = None
        cycle = 0
        while time.monotonic() < self.deadline:
            cycle += 1
            joined = await self.timed(
                "join",
                lambda: http.post(f"/api/v1/rooms/{rider.code}/join/", headers=headers),
                lambda r: r.status_code == 200 or _already_in(r),
            )
            if joined is None or not (joined.status_code == 200 or _already_in(joined)):
                await asyncio.sleep(1)
                continue
            with contextlib.suppress(Exception):
                await self.live_part(rider)
            events = last_batch if (last_batch and cycle % 5 == 0) else self.batch(rider)
            last_batch = events
            await self.upload(http, rider, headers, events)
            if cycle % 2 == 0:
                await self.timed(
                    "stats",
                    lambda: http.get("/api/v1/telemetry/stats/", headers=headers),
                    lambda r: r.status_code == 200,
                )
            await self.leave(http, rider, headers)
            await asyncio.sleep(random.uniform(0.5, 2))

    async def leave(self, http, rider: Rider, headers: dict) -> None:
        """Leave the ride; like a phone, try again until the server has taken it."""
        for _attempt in range(5):
            left = await self.timed(
                "leave",
                lambda: http.post(f"/api/v1/rooms/{rider.code}/leave/", headers=headers),
                lambda r: r.status_code in (200, 409),
            )
            if left is not None and left.status_code in (200, 409):
                return
            await asyncio.sleep(1)

    async def upload(self, http, rider: Rider, headers: dict, events: list[dict]) -> None:
        def accepted(response) -> bool:
            if response.status_code != 200:
                return False
            body = response.json()
            return body["stored"] + body["duplicates"] == len(events)

        await self.timed(
            "upload",
            lambda: http.post(
                "/api/v1/telemetry/events/", json={"events": events}, headers=headers
            ),
            accepted,
        )

    async def live_part(self, rider: Rider) -> None:
        started = time.perf_counter()
        try:
            socket = await self.socket(rider).__aenter__()
            await self.until(socket, "snapshot")
        except Exception as exc:
            self.samples["socket open"].add(started, False)
            self._note(f"socket open: {type(exc).__name__}: {exc}")
            return
        self.samples["socket open"].add(started, True)
        try:
            for n in range(random.randint(3, 6)):
                t = time.perf_counter()
                try:
                    await socket.send(json.dumps({"type": "heartbeat", "ref": f"h{n}"}))
                    await self.until(socket, "heartbeat_ack", ref=f"h{n}")
                    self.samples["heartbeat"].add(t, True)
                except Exception as exc:
                    self.samples["heartbeat"].add(t, False)
                    self._note(f"heartbeat: {type(exc).__name__}: {exc}")
                    return
                await asyncio.sleep(1)
        finally:
            await socket.close(code=1000)

    @staticmethod
    async def until(socket, kind: str, ref: str | None = None, timeout: float = 10) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await socket.recv())
                if message["type"] == kind and (ref is None or message.get("ref") == ref):
                    return message

    @staticmethod
    def batch(rider: Rider) -> list[dict]:
        now = datetime.now(UTC).isoformat()
        events = [
            {
                "client_event_id": str(uuid.uuid4()),
                "event_type": "quality_report",
                "occurred_at": now,
                "metrics": {"rtt_ms": random.randint(20, 300), "packet_loss_pct": 0.5},
            }
            for _ in range(EVENTS_PER_UPLOAD)
        ]
        rider.events_sent.update(str(event["client_event_id"]) for event in events)
        return events

    async def hold(self, leader: Rider, stop: asyncio.Event) -> None:
        """A leader's socket open for the whole run, heartbeating so it stays live."""
        async with self.socket(leader) as socket:
            await self.until(socket, "snapshot", timeout=30)
            while not stop.is_set():
                await socket.send(json.dumps({"type": "heartbeat"}))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(15):
                        while True:  # read everything the ride broadcasts
                            await socket.recv()
            await socket.close(code=1000)

    async def run(self, riders: list[Rider], rides: list[Ride], on_warm) -> dict:
        stop = asyncio.Event()
        warm = asyncio.get_running_loop().call_later(self.warm_up_s, on_warm)
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
        async with httpx.AsyncClient(base_url=self.base, timeout=30, limits=limits) as http:
            leaders = [asyncio.create_task(self.hold(ride.leader, stop)) for ride in rides]
            started = time.perf_counter()
            await asyncio.gather(*(self.ride(http, rider) for rider in riders))
            elapsed = time.perf_counter() - started
            for samples in self.samples.values():
                samples.elapsed_s = elapsed
            await asyncio.sleep(1)  # the last closes reach Redis
            live = await self.live_members(http, rides)
            stop.set()
            await asyncio.gather(*leaders, return_exceptions=True)
        warm.cancel()
        return live

    async def live_members(self, http, rides: list[Ride]) -> dict[str, set[str]]:
        live = {}
        for ride in rides:
            response = await http.get(
                f"/api/v1/rooms/{ride.code}/presence/",
                headers={"Authorization": f"Bearer {ride.leader.key}"},
            )
            live[ride.code] = {member["rider_id"] for member in response.json()["members"]}
        return live


def _already_in(response) -> bool:
    """An earlier join whose answer was lost (a timeout) may have been committed."""
    return response.status_code == 409 and response.json()["error"]["code"] == "already_in_room"


def cpu_seconds(server) -> tuple[float, float]:
    """CPU time used so far by the server's workers (together) and by this load generator."""
    serve = psutil.Process(server.process.pid)
    workers = sum(sum(p.cpu_times()[:2]) for p in [serve, *serve.children()])
    return workers, sum(psutil.Process().cpu_times()[:2])


def rss_of_workers(server) -> dict[int, int]:
    serve = psutil.Process(server.process.pid)
    workers = serve.children() or [serve]
    return {
        worker.pid: worker.memory_info().rss
        for worker in workers
        if "resource_tracker" not in " ".join(worker.cmdline())
    }


def check_invariants(
    riders: list[Rider], rides: list[Ride], live: dict[str, set[str]]
) -> list[str]:
    from rooms.models import RoomParticipant
    from telemetry.models import ConnectionLog

    problems = []
    for ride in rides:
        active = {
            str(rider_id)
            for rider_id in RoomParticipant.objects.filter(
                room__code=ride.code, is_active=True
            ).values_list("user_id", flat=True)
        }
        if active != live[ride.code]:
            problems.append(
                f"ride {ride.code}: PostgreSQL has {len(active)} active, Redis {len(live[ride.code])} live"
            )
        if len(active) > ride.capacity:
            problems.append(f"ride {ride.code}: {len(active)} riders over capacity {ride.capacity}")
    for rider in riders:
        # Only the events the phone uploaded: the server logs each socket's life too.
        stored = ConnectionLog.objects.filter(
            user_id=uuid.UUID(rider.rider_id), client_event_id__in=list(rider.events_sent)
        )
        count, distinct = stored.count(), stored.values("client_event_id").distinct().count()
        acknowledged = stored.filter(client_event_id__in=list(rider.events_acknowledged)).count()
        if acknowledged != len(rider.events_acknowledged) or distinct != count:
            problems.append(
                f"rider {rider.rider_id}: {len(rider.events_acknowledged)} events acknowledged, "
                f"{acknowledged} of them stored; {count} rows for {distinct} events"
            )
        elif count != len(rider.events_sent):
            problems.append(
                f"rider {rider.rider_id}: {len(rider.events_sent) - count} events never "
                "acknowledged after 5 attempts (not stored, nothing lost that the phone was told "
                "was kept)"
            )
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--riders", type=int, default=300)
    parser.add_argument("--duration", type=float, default=600, help="seconds (default 600)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    setup_django()
    riders, rides = prepare(args.riders)
    env = {"THROTTLE_RIDER_RATE": "1000000/min", "LOG_LEVEL": "WARNING"}
    with server_process(workers=args.workers, extra_env=env) as server:
        rss_start = rss_of_workers(server)
        print(
            f"Convoy soak: {args.riders} riders in {len(rides)} rides, {args.duration:.0f} s, "
            f"{args.workers} workers",
            flush=True,
        )
        soak = Soak(server.base, args.duration)
        cpu_start, wall_start = cpu_seconds(server), time.monotonic()
        live = asyncio.run(
            soak.run(riders, rides, lambda: rss_start.update(rss_of_workers(server)))
        )
        rss_end = rss_of_workers(server)
        cpu_end, wall = cpu_seconds(server), time.monotonic() - wall_start

    print(HEADER)
    for samples in soak.samples.values():
        print(samples.row())
    errors = sum(samples.errors for samples in soak.samples.values())
    total = sum(len(samples.latencies_ms) for samples in soak.samples.values())
    print(f"\n{total} operations in {wall:.0f} s ({total / wall:.1f}/s), {errors} errors")
    print(
        f"CPU: workers {(cpu_end[0] - cpu_start[0]) / wall:.0%} of one core, load generator "
        f"{(cpu_end[1] - cpu_start[1]) / wall:.0%}; machine load average "
        f"{psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores"
    )
    for failure in soak.failures:
        print(f"  {failure}")
    print(f"\nworker RSS (MiB): after {soak.warm_up_s:.0f} s of warm-up -> end")
    for pid, start in rss_start.items():
        end = rss_end.get(pid)
        if end is None:
            print(f"  {pid}: {start / 2**20:.0f} -> exited")
            continue
        growth = (end - start) / start
        flag = "  GROWTH > 10%" if growth > RSS_GROWTH_FLAG else ""
        print(f"  {pid}: {start / 2**20:.0f} -> {end / 2**20:.0f} ({growth:+.0%}){flag}")
    problems = check_invariants(riders, rides, live)
    print("\ninvariants: " + ("all hold" if not problems else f"{len(problems)} broken"))
    for problem in problems[:20]:
        print(f"  {problem}")


if __name__ == "__main__":
    main()
