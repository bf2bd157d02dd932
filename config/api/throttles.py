"""Rate limits kept in Redis through the cache, so every worker counts the same requests.

Rates come from settings.API_THROTTLE_RATES at request time (not import time), so an
operator's environment and the tests can change them.
"""

import uuid

import structlog
from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

from config import metrics
from config.lua_scripts import LuaScript, run_loading
from config.redis_config import redis_client

logger = structlog.get_logger(__name__)

# A sliding window of the last ``window`` milliseconds on one sorted set, one member per
# request admitted, scored by Redis's own clock (every worker agrees on it).
# KEYS[1] the sorted set; ARGV[1] window ms, ARGV[2] limit, ARGV[3] a fresh member.
# Returns {1, 0} when admitted, else {0, ms until the oldest request leaves the window}.
SLIDING_WINDOW = LuaScript(
    name="sliding_window",
    source="""
local key, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {0, math.max(tonumber(oldest[2]) + window - now, 1)}
""",
)


class ConfiguredRateThrottle(SimpleRateThrottle):
    """DRF's sliding-window rate limit, checked and counted in one atomic step.

    DRF's own throttle reads the request history from the cache, appends and writes it
    back: parallel requests on several workers all read the same history and each writes
    its own, so a burst of simultaneous log-in attempts passed a limit of ten many times
    over. One script on a sorted set trims, counts and records at once, in one round trip
    instead of two, with nothing pickled. While Redis is down requests pass (fail open), as
    every other cache call does.
    """

    _retry_after_s: float | None = None

    def get_rate(self):
        return settings.API_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        admitted, self._retry_after_s = sliding_window_admit(
            f"{self.key}:window", window_ms=int(self.duration * 1000), limit=self.num_requests
        )
        return admitted

    def wait(self):
        return self._retry_after_s


def sliding_window_admit(
    key: str, *, window_ms: int, limit: int, member: str | None = None
) -> tuple[bool, float]:
    """Admit one request into the window at ``key`` (a cache key, not yet prefixed).

    Returns (admitted, seconds to wait when not). Fails open while Redis is down.
    """
    try:
        admitted, retry_ms = _sliding_window(
            cache.make_key(key), window_ms=window_ms, limit=limit, member=member
        )
    except (RedisError, OSError) as exc:
        metrics.record_redis_error("cache")
        logger.warning("rate limit not checked, Redis unavailable", error=str(exc))
        return True, 0.0
    return bool(admitted), int(retry_ms) / 1000


_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_window(rate: str) -> tuple[int, int]:
    """A rate such as ``5/hour`` (as config.env.env_rate checks it) as (limit, window ms)."""
    count, _, period = rate.partition("/")
    return int(count), _PERIOD_SECONDS[period[0]] * 1000


def sliding_window_forget(key: str, member: str) -> None:
    """Take one admitted request back out of its window (it turned out not to count)."""
    try:
        redis_client().zrem(cache.make_key(key), member)
    except (RedisError, OSError) as exc:
        metrics.record_redis_error("cache")
        logger.warning("rate limit not updated, Redis unavailable", error=str(exc))


def _sliding_window(
    key: str, *, window_ms: int, limit: int, member: str | None = None
) -> tuple[int, int]:
    """Run the script on the cache's Redis client (the master's, behind Sentinel).

    By its digest, loading it on first use: nothing is kept per client, since Django makes
    cache clients per thread and per async context, and keeping one would keep them all.
    """
    client = redis_client()
    arguments = (1, key, window_ms, limit, member or uuid.uuid4().hex)
    return run_loading(
        SLIDING_WINDOW, client, lambda: client.evalsha(SLIDING_WINDOW.sha, *arguments)
    )


class RiderRateThrottle(ConfiguredRateThrottle):
    """The general per-rider rate for authenticated requests (per IP for anonymous ones)."""

    scope = "rider"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            ident = f"rider:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
