"""Rate limits kept in Redis through the cache, so every worker counts the same requests.

Rates come from settings.API_THROTTLE_RATES at request time (not import time), so an
operator's environment and the tests can change them.
"""

import hashlib
import uuid

import structlog
from django.conf import settings
from django.core.cache import cache
from django_redis import get_redis_connection
from redis.exceptions import NoScriptError, RedisError
from rest_framework.throttling import SimpleRateThrottle

from config import metrics
from riders.selectors import credential_lookup_key

logger = structlog.get_logger(__name__)

# A sliding window of the last ``window`` milliseconds on one sorted set, one member per
# request admitted, scored by Redis's own clock (every worker agrees on it).
# KEYS[1] the sorted set; ARGV[1] window ms, ARGV[2] limit, ARGV[3] a fresh member.
# Returns {1, 0} when admitted, else {0, ms until the oldest request leaves the window}.
SLIDING_WINDOW_LUA = """
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
"""


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
        try:
            admitted, retry_ms = _sliding_window(
                cache.make_key(f"{self.key}:window"),
                window_ms=int(self.duration * 1000),
                limit=self.num_requests,
            )
        except (RedisError, OSError) as exc:
            metrics.record_redis_error("cache")
            logger.warning("rate limit not checked, Redis unavailable", error=str(exc))
            return True
        self._retry_after_s = int(retry_ms) / 1000
        return bool(admitted)

    def wait(self):
        return self._retry_after_s


_SLIDING_WINDOW_SHA = hashlib.sha1(SLIDING_WINDOW_LUA.encode()).hexdigest()


def _sliding_window(key: str, *, window_ms: int, limit: int) -> tuple[int, int]:
    """Run the script on the cache's Redis client (the master's, behind Sentinel).

    By its digest, loading it on first use: nothing is kept per client, since Django makes
    cache clients per thread and per async context, and keeping one would keep them all.
    """
    client = get_redis_connection("default")
    arguments = (1, key, window_ms, limit, uuid.uuid4().hex)
    try:
        return client.evalsha(_SLIDING_WINDOW_SHA, *arguments)
    except NoScriptError:
        return client.eval(SLIDING_WINDOW_LUA, *arguments)


class RiderRateThrottle(ConfiguredRateThrottle):
    """The general per-rider rate for authenticated requests (per IP for anonymous ones)."""

    scope = "rider"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            ident = f"rider:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class CredentialsIPThrottle(ConfiguredRateThrottle):
    """Log-in and registration attempts per client address."""

    scope = "credentials_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class CredentialsAccountThrottle(ConfiguredRateThrottle):
    """Log-in attempts per account name, whatever address they come from."""

    scope = "credentials_account"

    def get_cache_key(self, request, view):
        name = request.data.get("username") if hasattr(request.data, "get") else None
        if isinstance(name, int | float) and not isinstance(name, bool):
            name = str(name)  # the serializer accepts a JSON number as a username too
        # The same key log-in looks the account up by, so no spelling gets its own counter.
        key = credential_lookup_key(name)
        if key is None:
            return None
        ident = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}
