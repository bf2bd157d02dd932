"""Django's PostgreSQL backend, with a pool that fails fast while PostgreSQL is away and
replaces the connections a failover dropped without making requests wait.

Two behaviours of psycopg_pool, as Django uses it, made an outage worse than it is:

- While no connection can be made, ``getconn()`` waits its whole timeout (DB_POOL_TIMEOUT),
  however many attempts have failed meanwhile. Here the pool's own connection attempts tell
  a breaker shared by the worker's threads (config.postgresql.breaker): a request waiting
  for a connection stops as soon as one fails, and later ones fail at once while it is open.
- The ``check`` Django passes (CONN_HEALTH_CHECKS) finds a broken idle connection, but the
  pool then sleeps an exponential backoff (1 s, 2 s, 4 s ...) before checking the next one,
  and after ``pg_terminate_backend`` every idle connection is broken: seconds per request.
  Here a failed check drains the pool (its neighbours were dropped with it; the pool opens
  fresh ones at once) and takes the next connection without sleeping.
"""

import threading
from time import monotonic
from typing import Any

import psycopg
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql import base as postgresql
from psycopg_pool import ConnectionPool, PoolTimeout

from config.database import connection_error_reason
from config.postgresql.breaker import DatabaseBreaker

# How long a request waiting for a connection goes between looks at the breaker.
WAIT_SLICE_SECONDS = 0.1

_breaker: DatabaseBreaker | None = None
_breaker_lock = threading.Lock()


def database_breaker() -> DatabaseBreaker:
    """This process's breaker, shared by every thread and connection alias."""
    global _breaker
    with _breaker_lock:
        if _breaker is None:
            _breaker = DatabaseBreaker(open_seconds=settings.DB_BREAKER_SECONDS)
        return _breaker


class DatabaseCircuitOpen(psycopg.OperationalError):
    """No connection was tried: a recent attempt failed and the breaker is open. Django reports
    it as an OperationalError, which the API answers with 503 database_unavailable."""


class BreakerConnection(psycopg.Connection):
    """A connection that reports each attempt to open one, the pool's background ones too."""

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any):
        try:
            connection = super().connect(conninfo, **kwargs)
        except psycopg.OperationalError as exc:
            database_breaker().failed(connection_error_reason(exc))
            raise
        database_breaker().succeeded()
        return connection


class OutagePool(ConnectionPool):
    def getconn(self, timeout: float | None = None):
        breaker = database_breaker()
        allowed = breaker.acquire()
        if allowed is None:
            raise DatabaseCircuitOpen(f"PostgreSQL is unavailable: {_last_error(breaker)}")
        failures_before = breaker.state().failed_total
        deadline = monotonic() + (self.timeout if timeout is None else timeout)
        try:
            connection = self._first_good_connection(breaker, failures_before, deadline)
        finally:
            if allowed == "trial":
                breaker.release_trial()
        breaker.succeeded()
        return connection

    def _first_good_connection(self, breaker, failures_before: int, deadline: float):
        while True:
            remaining = deadline - monotonic()
            if remaining <= 0:
                breaker.failed("no connection could be made in time")
                with self._lock:
                    self._stats[self._REQUESTS_ERRORS] += 1
                raise PoolTimeout(f"couldn't get a connection after {self.timeout:.2f} sec")
            try:
                connection = super().getconn(timeout=min(WAIT_SLICE_SECONDS, remaining))
            except PoolTimeout:
                # One slice of one wait is no failed request: convoy_db_pool_errors_total
                # counts the requests that got no connection (the pool's requests_errors).
                with self._lock:
                    self._stats[self._REQUESTS_ERRORS] -= 1
                if breaker.state().failed_total > failures_before:
                    # An attempt to connect failed while this request waited: PostgreSQL is
                    # away, and waiting on would only hold the thread.
                    raise DatabaseCircuitOpen(
                        f"PostgreSQL is unavailable: {_last_error(breaker)}"
                    ) from None
                continue
            try:
                self.check_connection(connection)
            except psycopg.Error:
                self.putconn(connection)  # broken: closed, and a new one opened in its place
                self.drain()
                continue
            return connection


class DatabaseWrapper(postgresql.DatabaseWrapper):
    @property
    def pool(self):
        # Django's own property, with OutagePool and BreakerConnection; connections are
        # checked by OutagePool.getconn itself, not by the pool's backoff loop.
        pool_options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == postgresql.NO_DB_ALIAS or not pool_options:
            return None
        if self.alias not in self._connection_pools:
            if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
                raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
            connect_kwargs = self.get_connection_params()
            connect_kwargs["autocommit"] = True
            pool = OutagePool(
                kwargs=connect_kwargs,
                open=False,
                configure=self._configure_connection,
                connection_class=BreakerConnection,
                **(pool_options if isinstance(pool_options, dict) else {}),
            )
            self._connection_pools.setdefault(self.alias, pool)
        return self._connection_pools[self.alias]


def _last_error(breaker: DatabaseBreaker) -> str:
    return breaker.state().last_error or "a connection attempt failed"
