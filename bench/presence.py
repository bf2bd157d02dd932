"""Ride-socket fan-out against a real 2-worker ASGI server.

    .venv/bin/python -m bench.presence [--clients 500] [--seconds 20] [--workers 2] [--room-size 10]

Many WebSocket clients (asyncio + websockets, one process) join ``ws/rooms/<code>/`` in rides
of ``--room-size`` riders and each sends a heartbeat and a location every second, as the app
does on a ride. Every location reaches every other socket of its ride; the location a client
sends encodes a sequence number in ``heading_deg``, so receivers find its send time (the clients
share one monotonic clock) and the fan-out latency is measured end to end. Then, in the same
run, raw redis-py pipelined SET/PUBLISH throughput on the Redis server the app uses, as the
ceiling. Prints delivered messages/s, fan-out p50/p95/p99 and the ceiling.
Uses DATABASE_URL / REDIS_URL when set, else the embedded servers.
"""

import argparse
import asyncio
import contextlib
import inspect
import json
import os
import random
import re
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from bench.harness import running_server, setup_django

PROTOCOL = "convoy.v1"
# heading_deg carries the sequence number of a location: 0.001 degree per step, 360 degrees.
SEQUENCE_STEPS = 360_000
CONNECT_TIMEOUT_S = 30
DRAIN_S = 3.0
# The last line of a traceback, and a record of the app's log format, in the server's log.
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception)): ")
LOG_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) (\S+) ")


@dataclass(frozen=True)
class Seat:
    key: str
    rider_id: str
    code: str


def prepare(clients: int, room_size: int) -> list[Seat]:
    """Riders with tokens, in rides of ``room_size`` (the first of each creates it)."""
    from riders.auth_tokens import token_issue
    from riders.services import rider_create
    from rooms.services import participant_join, room_create

    run = uuid.uuid4().hex[:6]
    seats: list[Seat] = []
    code = ""  # the ride the first rider of each group creates
    for n in range(clients):
        rider = rider_create(
            username=f"ws{run}{n}", email=f"ws{run}{n}@bench.convoy", password=None
        )
        key = token_issue(rider=rider, device_name="bench").key
        if n % room_size == 0:
            code = room_create(
                creator=rider, name=f"Presence {run} {n}", max_participants=max(2, room_size)
            ).code
        else:
            participant_join(rider=rider, code=code)
        seats.append(Seat(key=key, rider_id=str(rider.pk), code=code))
    return seats


@dataclass
class Sent:
    at: float
    expected: int
    received: int = 0


@dataclass
class Run:
    """Everything the clients count; one event loop, so no locks."""

    ramp_s: float = 0.0
    window_start: float = float("inf")
    window_end: float = float("inf")
    stopping: bool = False
    connected: int = 0
    connect_failures: Counter = field(default_factory=Counter)
    connect_ms: list[float] = field(default_factory=list)
    live_in_room: Counter = field(default_factory=Counter)
    sent: dict[tuple[str, int], Sent] = field(default_factory=dict)
    sent_locations: int = 0
    sent_heartbeats: int = 0
    send_failures: int = 0
    delivered_locations: int = 0
    acks: int = 0
    events: int = 0
    event_kinds: Counter = field(default_factory=Counter)
    unmatched_locations: int = 0
    per_second: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    server_errors: Counter = field(default_factory=Counter)
    closes: Counter = field(default_factory=Counter)
    loop_lag_ms: list[float] = field(default_factory=list)

    def in_window(self, now: float) -> bool:
        return self.window_start <= now < self.window_end


class Client:
    def __init__(self, seat: Seat, base_ws: str, run: Run, deflate: bool, origin: str | None):
        self.seat = seat
        self.url = f"{base_ws}/ws/rooms/{seat.code}/"
        self.run = run
        self.deflate = deflate
        self.origin = origin
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task | None = None
        self.live = False

    async def open(self) -> bool:
        run = self.run
        started = time.perf_counter()
        try:
            self.ws = ws = await connect(
                self.url,
                subprotocols=[Subprotocol(PROTOCOL), Subprotocol(f"bearer.{self.seat.key}")],
                origin=Origin(self.origin) if self.origin else None,
                compression="deflate" if self.deflate else None,
                open_timeout=CONNECT_TIMEOUT_S,
                ping_interval=None,
                close_timeout=2,
            )
            first = json.loads(await asyncio.wait_for(ws.recv(), CONNECT_TIMEOUT_S))
        except ConnectionClosed as exc:
            run.connect_failures[f"closed {exc.rcvd.code if exc.rcvd else 'abnormally'}"] += 1
            return False
        except InvalidStatus as exc:
            run.connect_failures[f"HTTP {exc.response.status_code}"] += 1
            return False
        except Exception as exc:  # counted, never raised
            run.connect_failures[type(exc).__name__] += 1
            return False
        if first.get("type") != "snapshot":
            run.connect_failures[f"first message {first.get('type')!r}"] += 1
            await ws.close()
            return False
        run.connect_ms.append((time.perf_counter() - started) * 1000)
        run.connected += 1
        run.live_in_room[self.seat.code] += 1
        self.live = True
        self.reader = asyncio.create_task(self.read())
        return True

    async def read(self) -> None:
        run, ws = self.run, self.ws
        if ws is None:
            return
        try:
            async for raw in ws:
                if run.stopping:
                    continue  # closing: what still arrives is counted as missing
                now = time.perf_counter()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "location":
                    self._location(message, now)
                elif kind == "heartbeat_ack":
                    run.acks += run.in_window(now)
                elif kind == "error":
                    run.server_errors[message.get("code")] += 1
                elif run.in_window(now):
                    run.events += 1
                    run.event_kinds[kind] += 1
        except ConnectionClosed as exc:
            if not run.stopping:
                run.closes[exc.rcvd.code if exc.rcvd else "abnormal"] += 1
        except Exception as exc:
            run.closes[type(exc).__name__] += 1
        finally:
            if self.live:
                self.live = False
                run.live_in_room[self.seat.code] -= 1

    def _location(self, message: dict, now: float) -> None:
        run = self.run
        heading = message.get("heading_deg")
        entry = None
        if isinstance(heading, int | float):
            entry = run.sent.get((message.get("rider_id", ""), round(heading * 1000)))
        if entry is None:
            run.unmatched_locations += 1
            return
        entry.received += 1
        run.latencies_ms.append((now - entry.at) * 1000)
        if run.in_window(now):
            run.delivered_locations += 1
            run.per_second[int(now - run.window_start)] += 1

    async def ride(self) -> None:
        """A heartbeat and a location every second, from a random offset, until the end."""
        run, ws = self.run, self.ws
        if ws is None:
            return
        rng = random.Random(self.seat.rider_id)
        lat, lon = 45.0 + rng.random(), 6.0 + rng.random()
        due = run.window_start + rng.random()
        sequence = 0
        while self.live:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if time.perf_counter() >= run.window_end or not self.live:
                return
            sequence += 1
            heading = (sequence % SEQUENCE_STEPS) / 1000
            lat += 0.0001
            location = {
                "type": "location",
                "lat": round(lat, 6),
                "lon": round(lon, 6),
                "speed_kmh": 42.5,
                "heading_deg": heading,
            }
            try:
                await ws.send('{"type":"heartbeat"}')
                run.sent_heartbeats += 1
                key = (self.seat.rider_id, round(heading * 1000))
                # Every other socket of the ride gets it; the sender's does not.
                run.sent[key] = Sent(
                    at=time.perf_counter(), expected=run.live_in_room[self.seat.code] - 1
                )
                await ws.send(json.dumps(location, separators=(",", ":")))
                run.sent_locations += 1
            except ConnectionClosed:
                return
            except Exception:
                run.send_failures += 1
            due += 1.0

    async def close(self) -> None:
        if self.ws is None:
            return
        with contextlib.suppress(Exception):
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader


async def loop_lag_probe(run: Run, interval: float = 0.01) -> None:
    """How late this process's event loop wakes up: a late client inflates latencies."""
    while not run.stopping:
        before = time.perf_counter()
        await asyncio.sleep(interval)
        late = time.perf_counter() - before - interval
        if run.in_window(time.perf_counter()):
            run.loop_lag_ms.append(late * 1000)


async def origin_needed(base_ws: str, seat: Seat) -> bool:
    """Whether the server refuses a socket without an Origin header, as phones open them."""
    try:
        async with connect(
            f"{base_ws}/ws/rooms/{seat.code}/",
            subprotocols=[Subprotocol(PROTOCOL), Subprotocol(f"bearer.{seat.key}")],
            open_timeout=CONNECT_TIMEOUT_S,
        ) as ws:
            await asyncio.wait_for(ws.recv(), CONNECT_TIMEOUT_S)
    except InvalidStatus as exc:
        return exc.response.status_code == 403
    except Exception:  # any other failure shows in the run's own counts
        return False
    return False


async def drive(base: str, seats: list[Seat], args, meters) -> Run:
    run = Run()
    base_ws = base.replace("http://", "ws://", 1)
    origin = None
    if await origin_needed(base_ws, seats[0]):
        # channels' AllowedHostsOriginValidator refuses a missing Origin unless ALLOWED_HOSTS
        # has "*"; the clients present the server's own origin so the run can go on.
        origin = base
        print(
            "note: the server refused a socket without an Origin header (HTTP 403), as "
            f"phones open them; the clients send Origin: {origin}",
            flush=True,
        )
        await asyncio.sleep(0.5)
    clients = [Client(seat, base_ws, run, args.deflate, origin) for seat in seats]
    probe = asyncio.create_task(loop_lag_probe(run))
    ramp_started = time.perf_counter()
    for first in range(0, len(clients), args.ramp_batch):
        await asyncio.gather(*(c.open() for c in clients[first : first + args.ramp_batch]))
    run.ramp_s = time.perf_counter() - ramp_started
    await asyncio.sleep(1.0)  # let the join events of the last batch settle
    live = [c for c in clients if c.live]
    run.window_start = time.perf_counter() + 0.2
    run.window_end = run.window_start + args.seconds
    meters.start()
    riders = [asyncio.create_task(c.ride()) for c in live]
    await asyncio.sleep(max(0.0, run.window_end - time.perf_counter()))
    meters.stop()
    await asyncio.gather(*riders, return_exceptions=True)
    drain_deadline = time.perf_counter() + DRAIN_S
    while time.perf_counter() < drain_deadline and _missing(run) > 0:
        await asyncio.sleep(0.1)
    run.stopping = True
    for first in range(0, len(clients), 100):
        await asyncio.gather(*(c.close() for c in clients[first : first + 100]))
    probe.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await probe
    return run


def _missing(run: Run) -> int:
    return sum(max(0, s.expected - s.received) for s in run.sent.values())


class Meters:
    """CPU of the server's processes, of this client process and of Redis, and the Redis
    commands run, over the window (Redis figures are the whole server's)."""

    def __init__(self, redis_client):
        self.redis = redis_client
        self.server = [
            process
            for server in server_processes()
            for process in [server, *server.children(recursive=True)]
        ]
        self.me = psutil.Process()
        self.result: dict = {}

    def _sample(self) -> dict:
        server, waiting = {}, {}
        for process in self.server:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                server[process.pid] = times.user + times.system
            # The main (event-loop) thread's time runnable but not running, in ns.
            schedstat = Path(f"/proc/{process.pid}/schedstat")
            with contextlib.suppress(OSError, ValueError, IndexError):
                waiting[process.pid] = int(schedstat.read_text().split()[1]) / 1e9
        mine = self.me.cpu_times()
        info, commands = {}, {}
        with contextlib.suppress(Exception):
            info = self.redis.info("cpu")
            commands = {
                name.removeprefix("cmdstat_"): stats["calls"]
                for name, stats in self.redis.info("commandstats").items()
            }
        return {
            "at": time.perf_counter(),
            "server": server,
            "waiting": waiting,
            "client": mine.user + mine.system,
            "redis": info.get("used_cpu_user", 0.0) + info.get("used_cpu_sys", 0.0),
            "commands": commands,
        }

    def start(self):
        psutil.cpu_percent()
        self.before = self._sample()

    def stop(self):
        before, after = self.before, self._sample()
        seconds = after["at"] - before["at"]
        server = {
            pid: (after["server"][pid] - before["server"][pid]) / seconds
            for pid in after["server"]
            if pid in before["server"]
        }
        waiting = {
            pid: (after["waiting"][pid] - before["waiting"][pid]) / seconds
            for pid in after["waiting"]
            if pid in before["waiting"]
        }
        busy = [pid for pid in server if server[pid] >= 0.005]
        commands = Counter(
            {
                name: (calls - before["commands"].get(name, 0)) / seconds
                for name, calls in after["commands"].items()
            }
        )
        self.result = {
            "machine": psutil.cpu_percent() / 100,
            "server": [server[pid] for pid in busy],
            "waiting": [waiting.get(pid, float("nan")) for pid in busy],
            "client": (after["client"] - before["client"]) / seconds,
            "redis": (after["redis"] - before["redis"]) / seconds,
            "redis_commands": sum(commands.values()),
            "top_commands": commands.most_common(10),
        }


def redis_ceiling(client, ops: int = 100_000, batch: int = 100) -> float:
    """Raw redis-py pipelined SET and PUBLISH (half each) of a location-sized payload."""
    prefix = f"bench:presence:{uuid.uuid4().hex[:8]}"
    payload = json.dumps(
        {
            "type": "location",
            "rider_id": str(uuid.uuid4()),
            "lat": 45.123456,
            "lon": 6.123456,
            "speed_kmh": 42.5,
            "heading_deg": 123.456,
            "at": "2025-01-01T00:00:00.000Z",
        }
    )
    started = time.perf_counter()
    for _ in range(ops // batch):
        pipe = client.pipeline(transaction=False)
        for n in range(batch):
            if n % 2:
                pipe.publish(f"{prefix}:channel", payload)
            else:
                pipe.set(f"{prefix}:{n}", payload, ex=60)
        pipe.execute()
    elapsed = time.perf_counter() - started
    client.delete(*(f"{prefix}:{n}" for n in range(0, batch, 2)))
    return (ops // batch) * batch / elapsed


def server_processes() -> list[psutil.Process]:
    """The ``manage.py serve`` process the harness started (its workers are its children)."""
    found = []
    for process in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            command = process.cmdline()
            if "manage.py" in command and "serve" in command:
                found.append(process)
    return found


def server_problems(path: Path) -> Counter:
    """What the server logged at WARNING and above: exception types and logger names."""
    found: Counter[str] = Counter()
    with contextlib.suppress(OSError), path.open(errors="replace") as log:
        for line in log:
            exception = EXCEPTION_LINE.match(line)
            if exception:
                found[exception.group(1)] += 1
                continue
            record = LOG_LINE.match(line)
            if record:
                found[f"{record.group(1)} {record.group(2)}"] += 1
    return found


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(
    args, seats: list[Seat], run: Run, meters: Meters, ceiling: float, problems: Counter | None
) -> None:
    seconds = args.seconds
    rooms = len({seat.code for seat in seats})
    missing = _missing(run)
    expected = sum(s.expected for s in run.sent.values())
    failures = ", ".join(f"{k} x{v}" for k, v in run.connect_failures.most_common()) or "none"
    closes = ", ".join(f"{k} x{v}" for k, v in run.closes.most_common()) or "none"
    server_errors = ", ".join(f"{k} x{v}" for k, v in run.server_errors.most_common()) or "none"
    delivered = run.delivered_locations + run.acks + run.events
    lat = run.latencies_ms
    cpu = meters.result
    print(f"clients connected          {run.connected}/{len(seats)} in {rooms} rides")
    print(
        f"  ramp                     {run.ramp_s:.1f} s in batches of {args.ramp_batch}; "
        f"handshake+snapshot p50 {percentile(run.connect_ms, 0.5):.1f} ms, "
        f"p99 {percentile(run.connect_ms, 0.99):.1f} ms"
    )
    print(
        f"messages sent/s            {(run.sent_locations + run.sent_heartbeats) / seconds:.1f} "
        f"({run.sent_locations / seconds:.1f} locations + "
        f"{run.sent_heartbeats / seconds:.1f} heartbeats)"
    )
    print(
        f"messages delivered/s       {delivered / seconds:.1f} "
        f"({run.delivered_locations / seconds:.1f} locations + {run.acks / seconds:.1f} "
        f"heartbeat acks + {run.events / seconds:.1f} events)"
    )
    if run.event_kinds:
        kinds = ", ".join(f"{k} x{v}" for k, v in run.event_kinds.most_common())
        print(f"  events in the window     {kinds}")
    print(
        f"  location deliveries      {expected - missing}/{expected} "
        f"({missing} missing after a {DRAIN_S:.0f} s drain, "
        f"{run.unmatched_locations} unmatched)"
    )
    print(
        f"fan-out latency ms         p50 {percentile(lat, 0.5):.1f}  p95 {percentile(lat, 0.95):.1f}"
        f"  p99 {percentile(lat, 0.99):.1f}  max {max(lat, default=float('nan')):.1f}"
        f"  ({len(lat)} deliveries)"
    )
    print(
        f"errors/closes              connect failures: {failures}; unexpected closes: {closes}; "
        f"server errors: {server_errors}; send failures: {run.send_failures}"
    )
    if problems is not None:
        logged = ", ".join(f"{k} x{v}" for k, v in problems.most_common(6)) or "nothing"
        print(f"  server log (WARNING+)    {logged}")
    print(
        f"locations delivered each s "
        f"{' '.join(str(run.per_second[s]) for s in range(int(seconds)))}"
    )
    if cpu:
        server = " + ".join(f"{share:.0%}" for share in cpu["server"])
        waiting = " + ".join(f"{share:.0%}" for share in cpu["waiting"])
        print(
            f"CPU (share of one core)    server processes {server or '0%'}; "
            f"bench clients {cpu['client']:.0%}; redis {cpu['redis']:.0%}"
        )
        print(f"  server waiting for a CPU {waiting or '-'} of the time (event-loop threads)")
        print(
            f"  redis commands/s         {cpu['redis_commands']:.0f} during the window "
            f"(whole server), {cpu['redis_commands'] / max(1, delivered / seconds):.1f} "
            f"per delivered message"
        )
        top = ", ".join(f"{name} {rate:.0f}" for name, rate in cpu["top_commands"] if rate >= 1)
        print(f"  busiest commands/s       {top}")
        print(
            f"  machine                  {cpu['machine']:.0%} of all {os.cpu_count()} CPUs busy, "
            f"load average {os.getloadavg()[0]:.2f} at the end"
        )
    print(
        f"client event-loop lag ms   p50 {percentile(run.loop_lag_ms, 0.5):.1f}  "
        f"p99 {percentile(run.loop_lag_ms, 0.99):.1f}  "
        f"max {max(run.loop_lag_ms, default=float('nan')):.1f}"
    )
    print(f"\nceiling: raw redis-py pipelined SET/PUBLISH, pipelines of 100: {ceiling:,.0f} ops/s")
    print(f"delivered messages/s are {delivered / seconds / ceiling:.1%} of the Redis ceiling")
    p99 = percentile(lat, 0.99)
    verdict = "met" if p99 < 100 else "NOT met"
    print(f"goal: p99 fan-out < 100 ms at {len(seats)} clients: measured {p99:.1f} ms ({verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--room-size", type=int, default=10, help="riders per ride, 1 to 50")
    parser.add_argument("--ramp-batch", type=int, default=25, help="handshakes at a time")
    parser.add_argument(
        "--deflate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="offer permessage-deflate, as the websockets client does by default",
    )
    args = parser.parse_args()
    if not 1 <= args.room_size <= 50:
        parser.error("--room-size must be from 1 to 50 (a ride holds at most 50 riders)")
    if args.clients < 1 or args.seconds < 1 or args.ramp_batch < 1:
        parser.error("--clients, --seconds and --ramp-batch must be positive")

    setup_django()
    from config import redis_config

    runner: Callable[..., Any] = asyncio.run  # the plain loop works too
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run

    seats = prepare(args.clients, args.room_size)
    redis_client = redis_config.redis_client()
    quiet = {"LOG_LEVEL": "WARNING"}
    log_dir = tempfile.TemporaryDirectory(prefix="convoy-presence-")
    server_log = Path(log_dir.name) / "server.log"
    logged = {}
    if "log_path" in inspect.signature(running_server).parameters:
        logged = {"log_path": server_log}
    with log_dir, running_server(workers=args.workers, extra_env=quiet, **logged) as base:
        print(
            f"Convoy presence benchmark: {args.clients} clients, rides of {args.room_size}, "
            f"{args.seconds} s, {args.workers} workers, "
            f"permessage-deflate {'on' if args.deflate else 'off'}; "
            f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs",
            flush=True,
        )
        meters = Meters(redis_client)
        run = runner(drive(base, seats, args, meters))
        ceiling = redis_ceiling(redis_client)
        problems = server_problems(server_log) if logged else None
    report(args, seats, run, meters, ceiling, problems)


if __name__ == "__main__":
    main()
