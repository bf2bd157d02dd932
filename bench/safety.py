"""Ride safety end to end: simulated rides with scripted incidents, a server, one watcher.

    .venv/bin/python -m bench.safety [--rides 200] [--riders 4] [--workers 2] [--duration 60]

Opens --rides rides of --riders simulated riders (sessions_rt/simulation.py, real sockets to
a ``manage.py serve`` with --workers workers), each with one scripted incident in turn: a
rider stops, the last falls behind, a rider goes silent at speed, the group stops, two
riders enter a tunnel longer than the grace period, or nothing. One ``manage.py
watch_rides`` watches them. Afterwards it compares the alerts raised with the incidents:
detection latency per kind after the condition's threshold (p50, p99), false alerts (raised
for a ride or rider no incident called for), missed alerts, and the watcher's CPU per
watched ride (and what 1,000 rides would take). Times are shortened: a 10 s grace period,
30 s for a stop. Use a database of its own; it creates accounts.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta

import psutil

from bench.harness import ROOT, running_server, setup_django

GRACE_SECONDS = 10
STOPPED_SECONDS = 30
SPLIT_M = 1000
SPEED_KMH = 90.0
SPACING_M = 900.0
INCIDENT_AT = 5.0
SCENARIOS = ("stop", "fall_behind", "silent", "group_stop", "tunnel", "none")
# What each scenario must raise: (kind, rider index) or nothing.
EXPECTED = {"stop": ("stopped", 1), "fall_behind": ("split", -1), "silent": ("silent", 1)}
# What a scenario may raise besides: a rider stopped long enough is left a kilometre behind.
CONSEQUENCES = {"stop": {("split", 1)}}


def threshold_seconds(scenario: str) -> float:
    """Seconds after the incident at which its condition passes the ride's threshold."""
    if scenario == "stop":
        return STOPPED_SECONDS
    if scenario == "fall_behind":
        # The last rider, at half speed, loses SPEED/2 a second on the one ahead.
        return (SPLIT_M - SPACING_M) / (SPEED_KMH / 2 / 3.6)
    return GRACE_SECONDS


def open_rides(count: int, riders: int):
    import secrets

    from riders.auth_tokens import token_issue
    from riders.services import rider_create
    from rooms.models import Room
    from rooms.services import participant_join, room_create

    tag = secrets.token_hex(3)
    rides = []
    for ride in range(count):
        accounts = [
            rider_create(
                username=f"safety-{tag}-{ride}-{index}",
                email=f"safety-{tag}-{ride}-{index}@bench.invalid",
                password=None,
            )
            for index in range(riders)
        ]
        room = room_create(creator=accounts[0], name=f"Safety bench {ride}")
        for rider in accounts[1:]:
            participant_join(rider=rider, code=room.code)
        Room.objects.filter(pk=room.pk).update(
            split_distance_m=SPLIT_M, stopped_seconds=STOPPED_SECONDS
        )
        keys = [token_issue(rider=rider).key for rider in accounts]
        rides.append((room, [str(a.pk) for a in accounts], keys, SCENARIOS[ride % len(SCENARIOS)]))
    return rides


def incidents_for(scenario: str, riders: int):
    from sessions_rt.simulation import Incident

    if scenario == "stop":
        return [Incident("stop", INCIDENT_AT, (1,))]
    if scenario == "fall_behind":
        return [Incident("fall_behind", INCIDENT_AT, (riders - 1,))]
    if scenario == "silent":
        return [Incident("silent", INCIDENT_AT, (1,))]
    if scenario == "group_stop":
        return [Incident("group_stop", INCIDENT_AT, (), STOPPED_SECONDS + 15)]
    if scenario == "tunnel":
        return [Incident("tunnel", INCIDENT_AT, (1, 2), GRACE_SECONDS + 5)]
    return []


async def ride_all(base: str, rides, riders: int, duration: float):
    from sessions_rt.simulation import RideSimulation, SimulatedRider

    simulations = [
        RideSimulation(
            base_url=base,
            code=room.code,
            riders=[
                SimulatedRider(
                    key=key,
                    # The fall-behind ride's last rider starts one spacing back; the others
                    # ride 50 m apart.
                    offset_m=index * (SPACING_M if scenario == "fall_behind" else 50.0),
                    speed_kmh=SPEED_KMH,
                )
                for index, key in enumerate(keys)
            ],
            incidents=incidents_for(scenario, riders),
        )
        for room, _ids, keys, scenario in rides
    ]
    return await asyncio.gather(*(simulation.run(duration) for simulation in simulations))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rides", type=int, default=200)
    parser.add_argument("--riders", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=60.0)
    options = parser.parse_args()
    setup_django()
    from django.conf import settings

    from rooms.models import RideAlert

    env = {
        "RECONNECT_GRACE_SECONDS": str(GRACE_SECONDS),
        "LOG_LEVEL": "WARNING",
        "DB_POOL_SIZE": "4",
    }
    rides = open_rides(options.rides, options.riders)
    with running_server(workers=options.workers, extra_env=env) as base:
        watcher = subprocess.Popen(
            [sys.executable, "-u", "manage.py", "watch_rides"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            # Its CPU counts from its first tick, not from Django's start-up (seconds of it).
            if watcher.stdout is None:
                raise SystemExit("the watcher's output could not be read")
            while "Convoy watching" not in watcher.stdout.readline():
                if watcher.poll() is not None:
                    raise SystemExit("the watcher exited before it started watching")
            watched = psutil.Process(watcher.pid)
            cpu_before = sum(watched.cpu_times()[:2])
            began = time.monotonic()
            reports = asyncio.run(ride_all(base, rides, options.riders, options.duration))
            # The last ticks after the rides end (a silent rider is decided after the grace).
            time.sleep(settings.WATCH_INTERVAL_SECONDS * 2)
            cpu = sum(watched.cpu_times()[:2]) - cpu_before
            wall = time.monotonic() - began
        finally:
            watcher.terminate()
            watcher.wait(timeout=20)

    latencies: dict[str, list[float]] = {kind: [] for kind, _ in EXPECTED.values()}
    false_alerts, missed = [], []
    for (room, ids, _keys, scenario), report in zip(rides, reports, strict=True):
        alerts = list(RideAlert.objects.filter(room=room).exclude(kind="sos"))
        expected = EXPECTED.get(scenario)
        wanted = (expected[0], ids[expected[1]]) if expected else None
        found = [alert for alert in alerts if (alert.kind, str(alert.rider_id)) == wanted]
        accepted = {wanted} | {(kind, ids[index]) for kind, index in CONSEQUENCES.get(scenario, ())}
        false_alerts += [
            (scenario, alert.kind)
            for alert in alerts
            if (alert.kind, str(alert.rider_id)) not in accepted
        ]
        if expected and not found:
            missed.append(scenario)
        elif expected:
            began_at = report.incidents_began[0][1]
            due = began_at + timedelta(seconds=threshold_seconds(scenario))
            latencies[expected[0]].append((found[0].raised_at - due).total_seconds())

    print(
        f"{options.rides} rides of {options.riders} riders, {options.workers} workers, "
        f"{options.duration:.0f} s"
    )
    for kind, values in latencies.items():
        if values:
            ordered = sorted(values)
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            print(
                f"  {kind}: {len(values)} detected, latency after threshold "
                f"p50 {statistics.median(ordered):.1f} s, p99 {p99:.1f} s"
            )
    print(f"  false alerts: {len(false_alerts)} {false_alerts[:10]}")
    print(f"  missed alerts: {len(missed)} {missed[:10]}")
    per_ride = cpu / wall / options.rides
    print(
        f"  watcher CPU: {cpu / wall * 100:.1f}% of a core for {options.rides} rides, "
        f"{per_ride * 1000 * 100:.1f}% for 1,000 at this rate"
    )


if __name__ == "__main__":
    main()
