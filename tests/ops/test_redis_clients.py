"""The one factory of Redis clients (config/redis_config.py): the cache's server, database
and timeouts, whether Redis is one server or a Sentinel-watched master."""

import asyncio

import pytest
from django.conf import settings
from django.test import override_settings
from django_redis import get_redis_connection
from redis.exceptions import ConnectionError as RedisConnectionError

from config import redis_config
from tests.ops.processes import CLOSED_REDIS_URL


def test_the_client_is_the_caches_own():
    client = redis_config.redis_client()

    assert client is get_redis_connection("default")
    assert client.ping()


async def test_an_event_loop_keeps_one_async_client():
    client = redis_config.async_redis_client()

    assert redis_config.async_redis_client() is client
    assert await client.ping()
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == redis_config.REDIS_SOCKET_TIMEOUT_SECONDS
    assert client.connection_pool.max_connections == redis_config.ASYNC_MAX_CONNECTIONS


async def test_each_event_loop_gets_a_client_of_its_own():
    here = redis_config.async_redis_client()

    elsewhere = await asyncio.to_thread(asyncio.run, _client_of_a_new_loop())

    assert elsewhere is not here


async def _client_of_a_new_loop():
    client = redis_config.async_redis_client()
    await client.aclose()
    return client


async def test_the_async_client_follows_the_cache_settings():
    unreachable = redis_config.cache_settings(CLOSED_REDIS_URL, settings.CONVOY_KEY_PREFIX)

    with override_settings(CACHES=unreachable):
        client = redis_config.async_redis_client()
        with pytest.raises(RedisConnectionError):
            await client.ping()

    assert await redis_config.async_redis_client().ping()


async def test_behind_sentinel_the_async_client_asks_the_sentinels_for_the_master(
    monkeypatch, without_configuration
):
    monkeypatch.setenv("REDIS_SENTINELS", "s1:26379,s2:26379")
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "convoy")
    monkeypatch.setenv("REDIS_PASSWORD", "p@ss")
    monkeypatch.setenv("REDIS_DB", "3")
    sentinel = redis_config.redis_sentinel_from_env()
    caches = redis_config.cache_settings(sentinel.url, "convoy", sentinel)

    with override_settings(CACHES=caches, REDIS_SENTINEL=sentinel):
        # Nothing is contacted until the first command.
        pool = redis_config.async_redis_client().connection_pool

    assert pool.service_name == "convoy"
    sentinels = pool.sentinel_manager.sentinels
    assert [s.connection_pool.connection_kwargs["host"] for s in sentinels] == ["s1", "s2"]
    assert (pool.connection_kwargs["db"], pool.connection_kwargs["password"]) == (3, "p@ss")
