"""The Redis clients the live state uses, and what their failures become."""

import asyncio
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django_redis import get_redis_connection
from redis import Redis
from redis.asyncio import BlockingConnectionPool
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sessions_rt.errors import RealtimeUnavailable

# Connections one worker's event loop opens for the live state at most; beyond that a call
# waits up to the socket timeout for a free one instead of failing.
ASYNC_MAX_CONNECTIONS = 200

# An asyncio client belongs to the event loop that made it: one per loop and Redis URL.
_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def redis_client(client: Redis | None) -> Redis:
    """The injected client, or the one of the default cache (settings.CACHES)."""
    return client if client is not None else get_redis_connection("default")


def async_redis_client(client: AsyncRedis | None) -> AsyncRedis:
    """The injected asyncio client, or this event loop's client of the default cache's Redis
    (same server, database and timeouts as redis_client)."""
    if client is not None:
        return client
    cache = settings.CACHES["default"]
    url, options = cache["LOCATION"], cache.get("OPTIONS", {})
    per_url = _async_clients.setdefault(asyncio.get_running_loop(), {})
    if url not in per_url:
        timeout = options.get("SOCKET_TIMEOUT")
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=ASYNC_MAX_CONNECTIONS,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=options.get("SOCKET_CONNECT_TIMEOUT"),
        )
        per_url[url] = AsyncRedis(connection_pool=pool)
    return per_url[url]


@contextmanager
def realtime_available() -> Iterator[None]:
    """Turn "Redis is down or too slow" into the one error callers map (HTTP 503, a WS close)."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise RealtimeUnavailable() from exc
