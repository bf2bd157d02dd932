"""PostgreSQL settings from the environment, and the start-up connection check."""

import logging
import time
from urllib.parse import quote

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_int, env_str, env_url

logger = logging.getLogger(__name__)

POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")
# A server that does not answer fails a connection attempt after this long instead of the
# operating system's minutes; a ``?connect_timeout=`` in DATABASE_URL overrides it. libpq
# takes nothing under 2 s; every request waiting for a connection waits this long at most.
CONNECT_TIMEOUT_SECONDS = 3
# The pool retries a failed background connection with a growing backoff (1 s, 2 s, 4 s ...)
# and, by default, for 5 minutes: once PostgreSQL was back, the next attempt could be a
# minute away. Given up after this long, the next request that needs a connection makes a
# fresh attempt at once (config.postgresql.base), so recovery follows PostgreSQL in seconds.
POOL_RECONNECT_TIMEOUT_SECONDS = 5
CREATE_DATABASE_HINT = "create it with `manage.py create_database`"


def database_configured() -> bool:
    return bool(env_str("DATABASE_URL") or env_str("DB_HOST"))


def database_url_from_env() -> str:
    url = env_url("DATABASE_URL", POSTGRES_SCHEMES)
    if url:
        return url
    host = env_str("DB_HOST")
    if not host:
        raise ImproperlyConfigured(
            "DATABASE_URL must be set (or DB_HOST): the PostgreSQL Convoy keeps its data in, "
            "as in postgresql://user@host:5432/convoy; with development or test settings, "
            "manage.py and the test run start an embedded one instead"
        )
    return postgres_url(
        host=host,
        port=env_int("DB_PORT", 5432, minimum=1, maximum=65535),
        user=env_str("DB_USERNAME", "postgres"),
        password=env_str("DB_PASSWORD"),
        name=env_str("DB_NAME", "convoy"),
    )


def postgres_url(*, host: str, port: int, user: str, password: str | None, name: str) -> str:
    """A DATABASE_URL for a host name, an IP address or a unix socket directory."""
    user, name = quote(user, safe=""), quote(name, safe="")
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    if host.startswith("/"):
        # A unix socket directory cannot sit in the host part of a URL (it may hold ':' and
        # upper case, which URL parsing lowercases); libpq takes it as the host parameter.
        return f"postgresql://{credentials}@:{port}/{name}?host={quote(host, safe='')}"
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    return f"postgresql://{credentials}@{host}:{port}/{name}"


def pool_options() -> dict:
    """psycopg pool sizing: DB_POOL_SIZE kept open, DB_CONNECTION_LIMIT at most."""
    pool_size = env_int("DB_POOL_SIZE", 10, minimum=1, maximum=1000)
    limit = env_int("DB_CONNECTION_LIMIT", max(pool_size * 2, 20), minimum=1, maximum=10000)
    if limit < pool_size:
        raise ImproperlyConfigured(
            f"DB_CONNECTION_LIMIT must be at least DB_POOL_SIZE ({pool_size}), got {limit}"
        )
    timeout = env_int("DB_POOL_TIMEOUT", 10, minimum=1, maximum=600)
    return {
        "min_size": pool_size,
        "max_size": limit,
        "timeout": timeout,
        "reconnect_timeout": POOL_RECONNECT_TIMEOUT_SECONDS,
    }


def database_settings(url: str) -> dict:
    config: dict = dict(dj_database_url.parse(url, conn_health_checks=True))
    if not config.get("NAME"):
        raise ImproperlyConfigured(
            "DATABASE_URL must name a database, as in postgresql://user@host:5432/convoy"
        )
    # Django's backend with a pool that fails fast in an outage (config/postgresql/base.py).
    config["ENGINE"] = "config.postgresql"
    config["CONN_MAX_AGE"] = 0  # the psycopg pool owns connection lifetime
    options = config.setdefault("OPTIONS", {})
    if not config.get("HOST") and "host" in options:
        config["HOST"] = str(options.pop("host"))
    options.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    options["pool"] = pool_options()
    return config


def retry_attempts() -> int:
    return env_int("DB_RETRY_ATTEMPTS", 3, minimum=1, maximum=100)


def direct_connection_params(dbname: str | None = None) -> dict:
    """Django's own connection parameters, for a psycopg connection that bypasses the pool."""
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    if dbname is not None:
        params["dbname"] = dbname
    return params


def probe_database() -> None:
    """Open and close one direct connection; raise psycopg.OperationalError if it fails.

    The pool is no probe: while the server is down it retries in the background, logs every
    failure, and makes its caller wait its whole timeout before reporting only that it waited.
    A direct connection fails within connect_timeout and says why.
    """
    import psycopg

    with psycopg.connect(**direct_connection_params(), autocommit=True):
        pass


def connection_error_reason(exc: BaseException) -> str:
    """The first line of a driver error: the one that says what went wrong."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def wait_for_database(attempts: int | None = None, first_delay: float = 0.5) -> None:
    """Connect once, retrying with exponential backoff; raise a one-line error at the end."""
    import psycopg
    from django.db import OperationalError, connection

    attempts = attempts or retry_attempts()
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            probe_database()
            connection.ensure_connection()
        except (psycopg.OperationalError, OperationalError) as exc:
            reason = connection_error_reason(exc)
            if database_missing(reason):
                # Retrying cannot create it.
                raise DatabaseUnavailable(
                    f"PostgreSQL at {describe_database()} answers but the database does not "
                    f"exist; {CREATE_DATABASE_HINT}"
                ) from None
            if attempt == attempts:
                raise DatabaseUnavailable(
                    f"PostgreSQL at {describe_database()} is unreachable after {attempts} "
                    f"attempt(s): {reason}"
                ) from None
            logger.warning(
                "PostgreSQL unreachable (attempt %s of %s, retrying in %.1fs): %s",
                attempt,
                attempts,
                delay,
                reason,
            )
            connection.close()
            time.sleep(delay)
            delay *= 2
        else:
            return


def database_missing(reason: str) -> bool:
    """Whether a connection error says the configured database does not exist."""
    from django.conf import settings

    return f'database "{settings.DATABASES["default"]["NAME"]}" does not exist' in reason


def describe_database() -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    return f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db.get('NAME')}"


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached at start-up."""
