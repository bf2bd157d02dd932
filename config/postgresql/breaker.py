"""The circuit breaker a worker's threads share in front of PostgreSQL.

Once a connection attempt has failed, every request of the worker would otherwise wait its
whole DB_POOL_TIMEOUT for a connection that cannot come, each holding one of the worker's few
HTTP threads while the rest queue behind it: waits that grow with the outage. With the breaker
open, a request that needs a new connection fails at once (503 database_unavailable); after
DB_BREAKER_SECONDS one request at a time is let through to try, and the first connection made,
by it or by the pool in the background, closes the breaker again.
"""

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class BreakerState:
    state: str  # "closed", "open" or "half_open" (one trial under way)
    failures: int  # in a row, since the last connection made
    failed_total: int  # since the process started: a waiting request compares it
    opened_seconds_ago: float | None
    last_error: str | None


class DatabaseBreaker:
    def __init__(self, open_seconds: float):
        self.open_seconds = open_seconds
        self._lock = threading.Lock()
        self._opened_at: float | None = None
        self._trial_running = False
        self._failures = 0
        self._failed_total = 0
        self._last_error: str | None = None

    def is_open(self) -> bool:
        """Whether a request should fail without waiting (no trial is its to make)."""
        with self._lock:
            return self._opened_at is not None and (
                self._trial_running or time.monotonic() - self._opened_at < self.open_seconds
            )

    def acquire(self) -> str | None:
        """How this caller may try to get a connection: "closed" (as usual), "trial" (the
        one try while open, after DB_BREAKER_SECONDS), or None: fail at once."""
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._trial_running or time.monotonic() - self._opened_at < self.open_seconds:
                return None
            self._trial_running = True
            return "trial"

    def succeeded(self) -> None:
        with self._lock:
            self._opened_at = None
            self._trial_running = False
            self._failures = 0
            self._last_error = None

    def failed(self, reason: str) -> None:
        with self._lock:
            self._opened_at = time.monotonic()
            self._trial_running = False
            self._failures += 1
            self._failed_total += 1
            self._last_error = reason

    def release_trial(self) -> None:
        """The trial ended without saying either way (its request was cancelled)."""
        with self._lock:
            self._trial_running = False

    def state(self) -> BreakerState:
        with self._lock:
            if self._opened_at is None:
                return BreakerState("closed", 0, self._failed_total, None, None)
            return BreakerState(
                "half_open" if self._trial_running else "open",
                self._failures,
                self._failed_total,
                round(time.monotonic() - self._opened_at, 3),
                self._last_error,
            )
