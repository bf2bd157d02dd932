"""The server watches the ride: real phones' sockets on two server processes, two watchers.

Each rule raises one alert, however many watchers and ticks see the condition, and resolves
it when the condition is over; what must not alarm does not (tests/sessions_rt/watching.py
has the phones and processes).
"""

import asyncio
import time

import pytest

from bench.harness import running_server
from rooms.models import AlertStatus
from tests.sessions_rt.watching import (
    GRACE_SECONDS,
    Phone,
    alerts_of,
    cluster_environment,
    moving,
    new_ride,
    phones_on,
    standing,
    wait_for,
    watcher_process,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def servers(django_db_setup):
    """Two servers on the test database and Redis, for the whole module: between tests
    they are idle, their phones gone."""
    env = cluster_environment()
    with (
        running_server(workers=1, extra_env=env) as first,
        running_server(workers=1, extra_env=env) as second,
    ):
        yield first, second


@pytest.fixture
def cluster(servers, transactional_db):
    """The two servers and two watchers of this test. The watchers query every tick, so they
    stop before the test's tables are emptied (TRUNCATE would deadlock with them)."""
    env = cluster_environment()
    with watcher_process(env), watcher_process(env):
        yield servers


async def test_a_split_is_raised_once_and_resolved_when_the_rider_closes_up(cluster):
    room, riders, keys = await new_ride(3, split_distance_m=200, stopped_seconds=900)
    closed_up = asyncio.Event()

    def straggler(t):
        north = 1000 + 60 / 3.6 * t if closed_up.is_set() else 500 + 60 / 3.6 * t
        return north, 60.0

    phones = await phones_on(cluster, room, keys, [moving(1000), moving(1020), straggler])
    try:

        async def raised():
            return len(await alerts_of(room, "split")) > 0

        await wait_for(raised, timeout=10)
        await asyncio.sleep(2)  # more ticks of both watchers, on a condition that lasts
        [alert] = await alerts_of(room, "split")
        assert (str(alert.rider_id), alert.status) == (riders[2], AlertStatus.OPEN)
        assert alert.details["side"] == "behind"
        assert 400 <= alert.details["distance_m"] <= 600

        closed_up.set()

        async def resolved():
            [alert] = await alerts_of(room, "split")
            return alert.status == AlertStatus.RESOLVED

        await wait_for(resolved, timeout=10)
        [alert] = await alerts_of(room, "split")
        assert alert.resolution == "condition_cleared"
    finally:
        for phone in phones:
            await phone.close()


async def test_a_rider_stopped_while_the_group_rides_on_is_raised_once(cluster):
    room, riders, keys = await new_ride(3, split_distance_m=20000, stopped_seconds=30)
    phones = await phones_on(cluster, room, keys, [moving(0), moving(20), standing(0)])
    try:
        await asyncio.sleep(25)
        assert await alerts_of(room, "stopped") == []

        async def raised():
            return len(await alerts_of(room, "stopped")) > 0

        await wait_for(raised, timeout=15)
        await asyncio.sleep(2)
        [alert] = await alerts_of(room, "stopped")
        assert str(alert.rider_id) == riders[2]
        assert alert.details["stopped_seconds"] >= 30
        assert len(alert.trail) >= 25
    finally:
        for phone in phones:
            await phone.close()


async def test_a_group_stop_raises_nothing(cluster):
    room, _riders, keys = await new_ride(3, stopped_seconds=30)
    phones = await phones_on(cluster, room, keys, [standing(0), standing(10), standing(20)])
    try:
        await asyncio.sleep(36)
        assert await alerts_of(room, "stopped") == []
    finally:
        for phone in phones:
            await phone.close()


async def test_a_rider_silent_at_speed_is_raised_once_and_resolved_when_back(cluster):
    room, riders, keys = await new_ride(3)
    phones = await phones_on(cluster, room, keys, [moving(0), moving(30), moving(60)])
    try:
        await asyncio.sleep(2.5)
        await phones[2].drop()
        await asyncio.sleep(GRACE_SECONDS - 0.5)
        assert await alerts_of(room, "silent") == []

        async def raised():
            return len(await alerts_of(room, "silent")) > 0

        await wait_for(raised, timeout=6)
        await asyncio.sleep(2)
        [alert] = await alerts_of(room, "silent")
        assert str(alert.rider_id) == riders[2]
        assert alert.speed_kmh == 60.0
        assert sorted(alert.details["neighbours_connected"]) == sorted(riders[:2])

        back = Phone(cluster[0], room.code, keys[2], moving(200))
        await back.start(time.monotonic())
        phones.append(back)

        async def resolved():
            [alert] = await alerts_of(room, "silent")
            return alert.status == AlertStatus.RESOLVED

        await wait_for(resolved, timeout=6)
        [alert] = await alerts_of(room, "silent")
        assert alert.resolution == "rider_back"
    finally:
        for phone in phones:
            await phone.close()


async def test_a_tunnel_several_riders_enter_together_raises_nothing(cluster):
    room, _riders, keys = await new_ride(3)
    phones = await phones_on(cluster, room, keys, [moving(0), moving(30), moving(60)])
    try:
        await asyncio.sleep(2.5)
        await phones[1].drop()
        await phones[2].drop()
        await asyncio.sleep(GRACE_SECONDS + 4)
        assert await alerts_of(room, "silent") == []
    finally:
        for phone in phones:
            await phone.close()


async def test_a_slow_rider_whose_phone_dies_raises_nothing(cluster):
    room, _riders, keys = await new_ride(3, stopped_seconds=900)
    phones = await phones_on(cluster, room, keys, [moving(0, 10), moving(10, 10), moving(20, 10)])
    try:
        await asyncio.sleep(2.5)
        await phones[2].drop()
        await asyncio.sleep(GRACE_SECONDS + 4)
        assert await alerts_of(room, "silent") == []
    finally:
        for phone in phones:
            await phone.close()
