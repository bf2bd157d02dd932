"""Redis behind Sentinel: the cache, the live state and the channel layer find the master."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import redis_config
from tests.ops.faults import PrivateRedis, PrivateSentinel
from tests.ops.processes import run_manage


@pytest.fixture
def sentinel_env(test_database_env):
    with PrivateRedis() as redis, PrivateSentinel(redis, "convoy-master") as sentinel:
        yield {
            **test_database_env,
            "REDIS_SENTINELS": f"127.0.0.1:{sentinel.port}",
            "REDIS_SENTINEL_MASTER": "convoy-master",
        }


def test_check_database_reaches_redis_through_sentinel(sentinel_env):
    result = run_manage("check_database", "--json", env=sentinel_env, isolate=True)

    assert result.returncode == 0, result.stderr
    redis = json.loads(result.stdout)["services"]["redis"]
    assert redis["ok"] is True
    assert (
        redis["target"] == f"master 'convoy-master' via Sentinel {sentinel_env['REDIS_SENTINELS']}"
    )


SEND_AND_RECEIVE = """
import asyncio
from channels.layers import get_channel_layer

async def main():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("ride", channel)
    await layer.group_send("ride", {"type": "ping", "n": 7})
    print((await asyncio.wait_for(layer.receive(channel), 5))["n"])

asyncio.run(main())
"""


def test_the_channel_layer_delivers_through_sentinel(sentinel_env):
    result = run_manage("shell", "-c", SEND_AND_RECEIVE, env=sentinel_env, isolate=True)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "7"


LIVE_STATE_ON_THE_EVENT_LOOP = """
import asyncio
import uuid
from sessions_rt.store.members import member_join
from sessions_rt.store.positions import location_update_async
from sessions_rt.store.presence import heartbeat_async

async def main():
    room, rider = uuid.uuid4(), uuid.uuid4()
    await asyncio.to_thread(member_join, room, rider, leader_id=rider)
    fix = await location_update_async(room, rider, lat=45.5, lon=6.9)
    await heartbeat_async(room, rider)
    print(fix.lat)

asyncio.run(main())
"""


def test_the_live_state_on_the_event_loop_reaches_the_master_through_sentinel(sentinel_env):
    result = run_manage("shell", "-c", LIVE_STATE_ON_THE_EVENT_LOOP, env=sentinel_env, isolate=True)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "45.5"


CLIENT_FACTORY = """
import asyncio
from config.redis_config import async_redis_client, redis_client

redis_client().set("convoy-test-ops:factory", "written through the sync client")

async def main():
    client = async_redis_client()
    print(type(client.connection_pool).__name__, (await client.get("convoy-test-ops:factory")).decode())

asyncio.run(main())
"""


def test_the_client_factory_reaches_the_master_through_sentinel(sentinel_env):
    result = run_manage("shell", "-c", CLIENT_FACTORY, env=sentinel_env, isolate=True)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "SentinelConnectionPool written through the sync client"
    )


def test_an_unreachable_sentinel_stops_start_up_with_one_line(test_database_env):
    env = {**test_database_env, "REDIS_SENTINELS": "127.0.0.1:1", "REDIS_SENTINEL_MASTER": "m"}

    result = run_manage("check", env=env, isolate=True)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "convoy: Redis Sentinel: no sentinel of 127.0.0.1:1 answered with master 'm' "
        "(unreachable, or the name is wrong)"
    )


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"REDIS_SENTINELS": "sentinel-1"}, "REDIS_SENTINELS must be host:port pairs"),
        ({"REDIS_SENTINELS": "s:99999"}, "REDIS_SENTINELS must be host:port pairs"),
        ({"REDIS_SENTINELS": "s:26379"}, "REDIS_SENTINEL_MASTER must name the master"),
        (
            {"REDIS_SENTINELS": "s:26379", "REDIS_URL": "redis://x/0"},
            "REDIS_SENTINELS and REDIS_URL are both set",
        ),
    ],
)
def test_malformed_sentinel_settings_are_refused(
    monkeypatch, without_configuration, environment, message
):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ImproperlyConfigured, match=message):
        redis_config.redis_sentinel_from_env()


def test_sentinel_settings_for_the_cache_and_the_channel_layer(monkeypatch, without_configuration):
    monkeypatch.setenv("REDIS_SENTINELS", "s1:26379, [::1]:26380")
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "convoy")
    monkeypatch.setenv("REDIS_PASSWORD", "p@ss")
    monkeypatch.setenv("REDIS_SENTINEL_PASSWORD", "watch")
    monkeypatch.setenv("REDIS_DB", "3")

    sentinel = redis_config.redis_sentinel_from_env()
    cache = redis_config.cache_settings(sentinel.url, "convoy", sentinel)["default"]
    [host] = redis_config.channel_layer_settings(sentinel.url, "c", sentinel)["default"]["CONFIG"][
        "hosts"
    ]

    assert sentinel.sentinels == (("s1", 26379), ("::1", 26380))
    assert cache["LOCATION"] == "redis://:p%40ss@convoy/3"
    assert cache["OPTIONS"]["SENTINELS"] == [("s1", 26379), ("::1", 26380)]
    assert cache["OPTIONS"]["SENTINEL_KWARGS"]["password"] == "watch"
    assert (host["master_name"], host["db"], host["password"]) == ("convoy", 3, "p@ss")
    assert host["sentinel_kwargs"]["password"] == "watch"
