"""Redis from the environment: one server (or one Sentinel-watched master) shared by the
cache, the rate limits, the live state and the channel layer; its settings, and the one
factory of its clients.

Convoy's code asks ``redis_client()`` or ``async_redis_client()`` below for a client;
django-redis and channels-redis build theirs from the settings built here (CACHES,
CHANNEL_LAYERS). So every client follows REDIS_URL or Sentinel alike.
"""

import asyncio
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from config.env import env_int, env_list, env_str, env_url

if TYPE_CHECKING:
    from redis import Redis
    from redis.asyncio import Redis as AsyncRedis

REDIS_SCHEMES = ("redis", "rediss", "unix")


# How long a Sentinel or the master may take to answer before it counts as unreachable.
REDIS_SOCKET_TIMEOUT_SECONDS = 2


def redis_configured() -> bool:
    return bool(env_str("REDIS_URL") or env_str("REDIS_HOST") or env_str("REDIS_SENTINELS"))


@dataclass(frozen=True)
class RedisSentinel:
    """Redis behind Sentinel: the sentinels to ask, and the name of the master they watch."""

    master: str
    sentinels: tuple[tuple[str, int], ...]
    db: int = 0
    password: str | None = None  # the master's (REDIS_PASSWORD)
    sentinel_password: str | None = None  # the sentinels' own (REDIS_SENTINEL_PASSWORD)

    @property
    def url(self) -> str:
        """The URL django-redis's Sentinel client expects: the master's name as the host."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.master}/{self.db}"

    def describe(self) -> str:
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
        return f"master {self.master!r} via Sentinel {hosts}"

    def sentinel_kwargs(self) -> dict:
        kwargs: dict[str, object] = {
            "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
            "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
        }
        if self.sentinel_password:
            kwargs["password"] = self.sentinel_password
        return kwargs

    def watcher(self, *, asynchronous: bool = False):
        """A client of the sentinels themselves, which answer where the master is."""
        from redis import sentinel
        from redis.asyncio import sentinel as async_sentinel

        kind = async_sentinel.Sentinel if asynchronous else sentinel.Sentinel
        return kind(list(self.sentinels), sentinel_kwargs=self.sentinel_kwargs())


def redis_sentinel_from_env() -> RedisSentinel | None:
    """REDIS_SENTINELS (host:port, comma-separated) and REDIS_SENTINEL_MASTER, or None."""
    raw = env_list("REDIS_SENTINELS", [])
    if not raw:
        return None
    if env_str("REDIS_URL"):
        raise ImproperlyConfigured(
            "REDIS_SENTINELS and REDIS_URL are both set; set one: Sentinel finds the master"
        )
    sentinels = tuple(_sentinel_address(item) for item in raw)
    master = env_str("REDIS_SENTINEL_MASTER")
    if not master:
        raise ImproperlyConfigured(
            "REDIS_SENTINEL_MASTER must name the master the sentinels watch (as in their "
            "`sentinel monitor <name> ...` line) when REDIS_SENTINELS is set"
        )
    return RedisSentinel(
        master=master,
        sentinels=sentinels,
        db=env_int("REDIS_DB", 0, minimum=0, maximum=15),
        password=env_str("REDIS_PASSWORD"),
        sentinel_password=env_str("REDIS_SENTINEL_PASSWORD"),
    )


def _sentinel_address(item: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ImproperlyConfigured(
            f"REDIS_SENTINELS must be host:port pairs separated by commas, like "
            f"sentinel-1:26379,sentinel-2:26379; got {item!r}"
        )
    return host, int(port)


def check_sentinel(sentinel: RedisSentinel) -> str:
    """Ask the sentinels where the master is; raise RedisUnreachable with one line if none
    answers or none knows it. Returns ``host:port`` of the master."""
    from redis.exceptions import RedisError
    from redis.sentinel import MasterNotFoundError

    try:
        host, port = sentinel.watcher().discover_master(sentinel.master)
    except MasterNotFoundError:
        raise RedisUnreachable(
            f"Redis Sentinel: no sentinel of {','.join(f'{h}:{p}' for h, p in sentinel.sentinels)} "
            f"answered with master {sentinel.master!r} (unreachable, or the name is wrong)"
        ) from None
    except RedisError as exc:
        raise RedisUnreachable(f"Redis Sentinel: {exc}") from None
    return f"{host}:{port}"


class RedisUnreachable(Exception):
    """Redis (through Sentinel) could not be found at start-up."""


def redis_url_from_env() -> str:
    url = env_url("REDIS_URL", REDIS_SCHEMES)
    if url:
        return url
    host = env_str("REDIS_HOST")
    if not host:
        raise ImproperlyConfigured(
            "REDIS_URL must be set (or REDIS_HOST, or REDIS_SENTINELS): the Redis of the live "
            "state, the cache and the channel layer, as in redis://host:6379/0; with "
            "development or test settings, manage.py and the test run start an embedded one "
            "instead"
        )
    port = env_int("REDIS_PORT", 6379, minimum=1, maximum=65535)
    db = env_int("REDIS_DB", 0, minimum=0, maximum=15)
    password = env_str("REDIS_PASSWORD")
    if host.startswith("/"):
        auth = f"&password={quote(password, safe='')}" if password else ""
        return f"unix://{host}?db={db}{auth}"
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/{db}"


def describe_redis(url: str) -> str:
    """Where a Redis URL points, without its password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    return f"{host}:{parts.port or 6379}{parts.path or '/0'}"


def _retry_once(*, asynchronous: bool = False):
    """One immediate retry: enough to replace a connection a restarted Redis dropped, yet a
    Redis that is down fails the call at once. redis-py's default (three retries, backing
    off up to seconds each) would hold every request for ~9 s while Redis is down."""
    from redis.backoff import NoBackoff

    if asynchronous:
        from redis.asyncio.retry import Retry as AsyncRetry

        return AsyncRetry(NoBackoff(), 1)
    from redis.retry import Retry

    return Retry(NoBackoff(), 1)


def cache_settings(url: str, key_prefix: str, sentinel: RedisSentinel | None = None) -> dict:
    options = {
        "CLIENT_CLASS": "django_redis.client.DefaultClient",
        "SOCKET_CONNECT_TIMEOUT": REDIS_SOCKET_TIMEOUT_SECONDS,
        "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT_SECONDS,
        # Cache calls (rate-limit counters) fail open while Redis is down, so the REST
        # API keeps serving; the live state reads Redis directly and answers 503.
        "IGNORE_EXCEPTIONS": True,
        "CONNECTION_POOL_KWARGS": {"retry": _retry_once()},
    }
    if sentinel is not None:
        url = sentinel.url
        options |= {
            "CLIENT_CLASS": "django_redis.client.SentinelClient",
            "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
            "SENTINELS": list(sentinel.sentinels),
            "SENTINEL_KWARGS": sentinel.sentinel_kwargs(),
        }
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": key_prefix,
            "OPTIONS": options,
        }
    }


# One pooled connection per in-flight group_send: the client library's default of 100 is
# exhausted by a few hundred ride sockets on one worker.
CHANNEL_LAYER_MAX_CONNECTIONS = 1000


def channel_layer_settings(url: str, prefix: str, sentinel: RedisSentinel | None = None) -> dict:
    # Pub/sub: a group_send is one PUBLISH that every worker subscribed to the group receives,
    # instead of a capped queue per socket (which drops messages under ride-rate fan-out).
    host = {
        "address": url,
        "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS,
        "retry": _retry_once(asynchronous=True),
    }
    if sentinel is not None:
        # channels-redis builds a SentinelConnectionPool from master_name + sentinels.
        host = {
            "master_name": sentinel.master,
            "sentinels": list(sentinel.sentinels),
            "sentinel_kwargs": sentinel.sentinel_kwargs(),
            "db": sentinel.db,
            "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS,
            "retry": _retry_once(asynchronous=True),
        }
        if sentinel.password:
            host["password"] = sentinel.password
    return {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [host], "prefix": prefix},
        }
    }


# --- Clients ----------------------------------------------------------------------------------


def redis_client() -> "Redis":
    """A client of the configured Redis (behind Sentinel, of its master) for synchronous code.

    It is the default cache's own client, so a process keeps one connection pool and the
    client follows CACHES (an override in a test included). Django makes cache clients per
    thread and per async context: ask for it where it is used instead of keeping one.
    """
    from django_redis import get_redis_connection

    return get_redis_connection("default")


# Connections one worker's event loop opens at most; beyond that a call waits up to the socket
# timeout for a free one instead of failing.
ASYNC_MAX_CONNECTIONS = 200

# An asyncio client belongs to the event loop that made it: one per loop and cache location.
_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def async_redis_client() -> "AsyncRedis":
    """This event loop's asyncio client of the same Redis as ``redis_client()``: the same
    server or Sentinel-watched master, database, timeouts and single retry."""
    from django.conf import settings

    cache = settings.CACHES["default"]
    url, options = cache["LOCATION"], cache.get("OPTIONS", {})
    per_url = _async_clients.setdefault(asyncio.get_running_loop(), {})
    if url not in per_url:
        per_url[url] = _async_client_for(url, options, settings.REDIS_SENTINEL)
    return per_url[url]


def _async_client_for(url: str, options: dict, sentinel: RedisSentinel | None) -> "AsyncRedis":
    from redis.asyncio import BlockingConnectionPool, Redis

    timeout = options.get("SOCKET_TIMEOUT")
    connection = {
        "socket_timeout": timeout,
        "socket_connect_timeout": options.get("SOCKET_CONNECT_TIMEOUT"),
        "retry": _retry_once(asynchronous=True),
    }
    if sentinel is not None and url == sentinel.url:
        return sentinel.watcher(asynchronous=True).master_for(
            sentinel.master, db=sentinel.db, password=sentinel.password, **connection
        )
    pool = BlockingConnectionPool.from_url(
        url, max_connections=ASYNC_MAX_CONNECTIONS, timeout=timeout, **connection
    )
    return Redis(connection_pool=pool)
