"""The Redis clients the live state uses, what their failures become, how the channel layer's
messages are published on them, and the times the state keeps: epoch milliseconds in Redis,
aware datetimes and ISO 8601 outside."""

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer
from django.utils import timezone
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config import redis_config
from config.metrics import record_redis_error
from sessions_rt.errors import RealtimeUnavailable


def redis_client(client: Redis | None) -> Redis:
    """The injected client, or the default cache's (config.redis_config, Sentinel included)."""
    return client if client is not None else redis_config.redis_client()


def async_redis_client(client: AsyncRedis | None) -> AsyncRedis:
    """The injected asyncio client, or this event loop's client of the same Redis as
    redis_client (config.redis_config)."""
    return client if client is not None else redis_config.async_redis_client()


@contextmanager
def realtime_available() -> Iterator[None]:
    """Turn "Redis is down or too slow" into the one error callers map (HTTP 503, a WS close)."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        record_redis_error("live_state")
        raise RealtimeUnavailable() from exc


def to_ms(moment: datetime | None) -> int:
    """``moment`` (default: now) as whole epoch milliseconds."""
    return int((moment or timezone.now()).timestamp() * 1000)


def from_ms(ms: int | float | bytes | str) -> datetime:
    return datetime.fromtimestamp(int(float(ms)) / 1000, tz=UTC)


def iso(moment: datetime) -> str:
    """The ISO 8601 form the REST API also uses (UTC, ``Z``), to the millisecond."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_from_ms(ms: int | float | bytes | str) -> str:
    return iso(from_ms(ms))


def group_channel(group: str) -> str:
    """The pub/sub channel on which the channel layer delivers ``group``'s messages."""
    return _group_naming(get_channel_layer())._get_group_channel_name(group)


def group_publication(group: str, message: dict) -> tuple[str, bytes]:
    """The channel and bytes ``group_send(group, message)`` would PUBLISH (channels_redis
    names a group's channel and serializes the message; encryption keys included), in or out
    of an event loop: so a sync caller, or a Lua script, publishes in the same round trip as
    its other work."""
    layer = get_channel_layer()
    return _group_naming(layer)._get_group_channel_name(group), layer.serialize(message)


_GROUP_NAMING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _group_naming(layer: RedisPubSubChannelLayer) -> RedisPubSubLoopLayer:
    """channels_redis names group channels on the layer of the running loop, which sync code
    has none of; a loop layer built once from the same configuration (it connects to nothing
    until used) names them alike. It holds no reference to ``layer``, so the entry goes with
    the layer."""
    naming = _GROUP_NAMING.get(layer)
    if naming is None:
        naming = RedisPubSubLoopLayer(*layer._args, **layer._kwargs)
        _GROUP_NAMING[layer] = naming
    return naming
