"""What watching a ride costs the watcher, and what keeping the trail costs a position.

    .venv/bin/python -m bench.watch_cost [--rides 50] [--riders 10]

Fills --rides rides of --riders riders with a quarter-hour of positions, one every trail
sample (so every trail is full), timing each ``location_update``; then evaluates every ride
as ``sessions_rt/watcher.py`` does (state, the trails the rules ask for, the rules), without
PostgreSQL, and prints the CPU per evaluation and what 1,000 rides every 2 s would take;
then the same with a rider of each ride cut off: as the split is raised (every trail read,
its start found) and while it lasts (known open). Uses a key prefix of its own and deletes
its keys at the end.
"""

import argparse
import statistics
import time
import uuid
from dataclasses import replace
from datetime import timedelta

from bench.harness import setup_django

M_PER_DEG = 111_226.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rides", type=int, default=50)
    parser.add_argument("--riders", type=int, default=10)
    options = parser.parse_args()
    setup_django()
    from django.conf import settings
    from django.utils import timezone

    from config.redis_config import redis_client
    from sessions_rt.safety_rules import Thresholds, evaluate, riders_needing_trails
    from sessions_rt.store.members import member_join
    from sessions_rt.store.positions import location_update
    from sessions_rt.store.trail import ride_live_state, ride_trails

    settings.CONVOY_KEY_PREFIX = f"convoy-bench-watch-{uuid.uuid4().hex[:8]}"
    keep = settings.TRAIL_KEEP_SECONDS
    sample = settings.TRAIL_SAMPLE_SECONDS
    start = timezone.now() - timedelta(seconds=keep)
    rides = []
    for _ in range(options.rides):
        room = str(uuid.uuid4())
        riders = [str(uuid.uuid4()) for _ in range(options.riders)]
        for rider in riders:
            member_join(room, rider, leader_id=riders[0], now=start)
        rides.append((room, riders))
    stored = []
    for second in range(0, keep, sample):
        at = start + timedelta(seconds=second)
        for room, riders in rides:
            for index, rider in enumerate(riders):
                # 80 km/h north, 50 m apart; the last rider another 500 m back.
                north = second * 22.2 - index * 50 - (500 if index == len(riders) - 1 else 0)
                began = time.perf_counter()
                location_update(
                    room,
                    rider,
                    lat=45 + north / M_PER_DEG,
                    lon=7.0,
                    speed_kmh=80.0,
                    heading_deg=0,
                    now=at,
                )
                stored.append(time.perf_counter() - began)
    now = start + timedelta(seconds=keep)
    stored.sort()
    print(
        f"location_update: p50 {statistics.median(stored) * 1e3:.3f} ms, "
        f"p99 {stored[int(len(stored) * 0.99)] * 1e3:.3f} ms ({len(stored)} positions)"
    )

    def evaluate_all(thresholds, open_alerts=None, rounds=3):
        began = time.process_time()
        verdicts = {}
        for _ in range(rounds):
            for room, _riders in rides:
                known = (open_alerts or {}).get(room, frozenset())
                state = ride_live_state(room, now=now)
                needed = riders_needing_trails(state, thresholds, known)
                if needed:
                    state = replace(state, trails=ride_trails(room, needed))
                verdicts[room] = evaluate(state, thresholds, known)
        return (time.process_time() - began) / (rounds * len(rides)), verdicts

    together = Thresholds(
        split_distance_m=1000, stopped_seconds=90, silent_speed_kmh=20, grace_seconds=30
    )
    cpu, _ = evaluate_all(together)
    print(
        f"a ride of {options.riders} on the move: {cpu * 1e3:.2f} ms CPU an evaluation; "
        f"1,000 rides every 2 s: {cpu * 1000 / 2 * 100:.1f}% of a core"
    )
    apart = replace(together, split_distance_m=300)
    cpu, verdicts = evaluate_all(apart, rounds=1)
    raised = sum(len(verdict.alarms) for verdict in verdicts.values())
    print(f"as a split is raised: {cpu * 1e3:.2f} ms CPU an evaluation ({raised} alarms)")
    known = {
        room: frozenset((alarm.rider_id, alarm.kind) for alarm in verdict.alarms)
        for room, verdict in verdicts.items()
    }
    cpu, _ = evaluate_all(apart, known)
    print(f"while the split lasts: {cpu * 1e3:.2f} ms CPU an evaluation")

    redis = redis_client()
    for key in list(redis.scan_iter(match=f"{settings.CONVOY_KEY_PREFIX}:*", count=1000)):
        redis.delete(key)


if __name__ == "__main__":
    main()
