"""Watchers come and go: a killed one's rides are taken over after the lease time, a stopped
one's at once. Apart from test_watch_live.py: these start their own watchers, and every test
server and watcher shares the test settings' key prefix, so no other watcher may run."""

import asyncio
import signal
import time

import pytest

from bench.harness import running_server
from config.redis_config import redis_client
from config.settings import test as test_settings
from tests.sessions_rt.watching import (
    alerts_of,
    cluster_environment,
    holder_of,
    log_of,
    moving,
    new_ride,
    phones_on,
    wait_for,
    watcher_process,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_killed_watchers_rides_are_taken_over_after_the_lease_time():
    env = cluster_environment()
    with (
        running_server(workers=1, extra_env=env) as base,
        watcher_process(env) as one,
        watcher_process(env) as other,
    ):
        room, riders, keys = await new_ride(3, split_distance_m=200, stopped_seconds=900)
        behind = asyncio.Event()

        def straggler(t):
            return (200 if behind.is_set() else 980) + 60 / 3.6 * t, 60.0

        phones = await phones_on((base, base), room, keys, [moving(1000), moving(1020), straggler])
        try:
            holder = await holder_of([one, other], str(room.pk))
            survivor = other if holder is one else one
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=5)
            killed_at = time.monotonic()
            behind.set()

            async def raised():
                return len(await alerts_of(room, "split")) > 0

            await wait_for(raised, timeout=10)
            # Not before the dead watcher's lease ran out (2 s), and by the survivor.
            assert time.monotonic() - killed_at >= 1.0
            assert f"took ride {room.pk}" in log_of(survivor)
            await asyncio.sleep(2)
            [alert] = await alerts_of(room, "split")
            assert str(alert.rider_id) == riders[2]
        finally:
            for phone in phones:
                await phone.close()


async def test_a_stopped_watcher_releases_its_rides_at_once():
    env = cluster_environment()
    with running_server(workers=1, extra_env=env) as base, watcher_process(env) as one:
        room, _riders, keys = await new_ride(2)
        # The servers and watchers run the test settings, whose key prefix is fixed.
        lease = f"{test_settings.CONVOY_KEY_PREFIX}:rt:{{room:{room.pk}}}:watch_lease"
        phones = await phones_on((base, base), room, keys, [moving(0), moving(20)])
        try:
            await holder_of([one], str(room.pk))
            assert redis_client().pttl(lease) > 0
            one.send_signal(signal.SIGTERM)
            assert one.wait(timeout=10) == 0
            assert "its rides are released" in log_of(one)
            # Released, not left to lapse: the next watcher takes the ride at its first tick.
            assert redis_client().exists(lease) == 0
        finally:
            for phone in phones:
                await phone.close()
