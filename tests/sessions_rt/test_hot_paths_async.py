"""The ride socket's hot paths run on the event loop with an asyncio client: they must store
exactly what their blocking twins store, and fail the same ways."""

from datetime import timedelta

import pytest
from redis.asyncio import Redis as AsyncRedis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sessions_rt.errors import InvalidRealtimeData, NotLiveMember, RealtimeUnavailable
from sessions_rt.store import keys
from sessions_rt.store.events import snapshot
from sessions_rt.store.members import member_join
from sessions_rt.store.positions import location_update, location_update_async
from sessions_rt.store.presence import heartbeat_async
from tests.sessions_rt.conftest import new_id

UNREACHABLE_URL = "redis://127.0.0.1:1/0"


async def test_location_update_async_stores_what_location_update_stores(
    redis, room_id, leader_id, t0
):
    other = new_id()
    member_join(room_id, leader_id, leader_id=leader_id)
    member_join(room_id, other, leader_id=leader_id)
    at = t0 + timedelta(seconds=3)
    options = {"lat": 45.123456, "lon": 7.654321, "speed_kmh": 88.5, "heading_deg": 271, "now": at}

    fix = await location_update_async(room_id, leader_id, **options)
    blocking_fix = location_update(room_id, other, **options)

    assert {**fix.as_dict(), "rider_id": other} == blocking_fix.as_dict()
    members = {m["rider_id"]: m for m in snapshot(room_id)["members"]}
    assert members[leader_id]["location"] == members[other]["location"]
    assert members[leader_id]["last_seen"] == fix.as_dict()["at"]
    [(lon, lat)] = redis.geopos(keys.room_keys(room_id).locations, leader_id)
    assert (lat, lon) == (pytest.approx(45.123456, abs=1e-5), pytest.approx(7.654321, abs=1e-5))


async def test_heartbeat_async_refreshes_last_seen(room_id, leader_id, t0):
    member_join(room_id, leader_id, leader_id=leader_id, now=t0)
    later = t0 + timedelta(seconds=20)

    await heartbeat_async(room_id, leader_id, now=later)

    [member] = snapshot(room_id)["members"]
    assert member["last_seen"] == later.strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def test_the_async_hot_paths_refuse_a_rider_who_is_not_live(room_id):
    with pytest.raises(NotLiveMember):
        await heartbeat_async(room_id, new_id())
    with pytest.raises(NotLiveMember):
        await location_update_async(room_id, new_id(), lat=45, lon=7)


async def test_location_update_async_validates_before_touching_redis(redis, room_id, leader_id):
    member_join(room_id, leader_id, leader_id=leader_id)
    with pytest.raises(InvalidRealtimeData):
        await location_update_async(room_id, leader_id, lat=91, lon=7)
    assert redis.zcard(keys.room_keys(room_id).locations) == 0


async def test_the_async_hot_paths_load_a_script_redis_forgot(redis, room_id, leader_id):
    member_join(room_id, leader_id, leader_id=leader_id)
    redis.script_flush()

    await heartbeat_async(room_id, leader_id)
    fix = await location_update_async(room_id, leader_id, lat=45, lon=7)

    assert fix.lat == 45


@pytest.mark.parametrize("name", ["heartbeat_async", "location_update_async"])
async def test_an_unreachable_async_client_raises_realtime_unavailable(room_id, leader_id, name):
    client = AsyncRedis.from_url(UNREACHABLE_URL, retry=Retry(NoBackoff(), 0))
    calls = {
        "heartbeat_async": lambda: heartbeat_async(room_id, leader_id, client=client),
        "location_update_async": lambda: location_update_async(
            room_id, leader_id, lat=45, lon=7, client=client
        ),
    }
    with pytest.raises(RealtimeUnavailable):
        await calls[name]()
    await client.aclose()


async def test_a_position_is_published_by_the_script_that_stores_it_and_only_then(
    redis, room_id, leader_id
):
    member_join(room_id, leader_id, leader_id=leader_id)
    channel = f"{keys.key_prefix()}:test-fan-out"
    listener = redis.pubsub()
    listener.subscribe(channel)
    assert listener.get_message(timeout=1)["type"] == "subscribe"

    def publication(fix):
        return channel, f"{fix.rider_id} at {fix.lat}".encode()

    await location_update_async(room_id, leader_id, lat=45.5, lon=7, publish=publication)
    with pytest.raises(NotLiveMember):
        await location_update_async(room_id, new_id(), lat=45.6, lon=7, publish=publication)

    received = listener.get_message(timeout=1)
    assert received["data"] == f"{leader_id} at 45.5".encode()
    assert listener.get_message(timeout=0.3) is None  # nothing for the rider who is not live
    listener.close()
