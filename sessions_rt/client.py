"""The Redis client the live state uses, and what its failures become."""

from collections.abc import Iterator
from contextlib import contextmanager

from django_redis import get_redis_connection
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.metrics import record_redis_error
from sessions_rt.errors import RealtimeUnavailable


def redis_client(client: Redis | None) -> Redis:
    """The injected client, or the one of the default cache (settings.CACHES)."""
    return client if client is not None else get_redis_connection("default")


@contextmanager
def realtime_available() -> Iterator[None]:
    """Turn "Redis is down or too slow" into the one error callers map (HTTP 503, a WS close)."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        record_redis_error("live_state")
        raise RealtimeUnavailable() from exc
