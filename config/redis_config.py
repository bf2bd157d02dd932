"""Redis settings from the environment: one URL shared by the cache and the channel layer."""

from urllib.parse import quote, urlsplit

from config.env import env_int, env_str, env_url

REDIS_SCHEMES = ("redis", "rediss", "unix")


def redis_configured() -> bool:
    return bool(env_str("REDIS_URL") or env_str("REDIS_HOST"))


def redis_url_from_env() -> str:
    url = env_url("REDIS_URL", REDIS_SCHEMES)
    if url:
        return url
    host = env_str("REDIS_HOST")
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


def embedded_redis_url(socket_file: str) -> str:
    return f"unix://{socket_file}?db=0"


def cache_settings(url: str, key_prefix: str) -> dict:
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": key_prefix,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
                # Cache calls (rate-limit counters) fail open while Redis is down, so the REST
                # API keeps serving; the live state reads Redis directly and answers 503.
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }


# One pooled connection per in-flight group_send: the client library's default of 100 is
# exhausted by a few hundred ride sockets on one worker.
CHANNEL_LAYER_MAX_CONNECTIONS = 1000


def channel_layer_settings(url: str, prefix: str) -> dict:
    # Pub/sub: a group_send is one PUBLISH that every worker subscribed to the group receives,
    # instead of a capped queue per socket (which drops messages under ride-rate fan-out).
    return {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": url, "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS}],
                "prefix": prefix,
            },
        }
    }
