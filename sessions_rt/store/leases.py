"""Which watcher evaluates which ride: a lease per ride in Redis.

A lease is redis-py's ``Lock`` (SET NX PX with a random token; extend and release are Lua
scripts that first check the token), so a watcher never renews or releases a lease another
has taken since: the library's well-tested version of exactly this, rather than our own.
A watcher that dies stops renewing; its leases lapse after WATCH_LEASE_SECONDS and the
next watcher to try takes them.
"""

from django.conf import settings
from redis import Redis
from redis.exceptions import LockError
from redis.lock import Lock

from sessions_rt.protocol import canonical_id
from sessions_rt.store import keys
from sessions_rt.store.client import realtime_available, redis_client
from sessions_rt.store.expiry import live_room_ids

WATCH_LEASE_SECONDS = 10


def watch_lease_seconds() -> int:
    return getattr(settings, "WATCH_LEASE_SECONDS", WATCH_LEASE_SECONDS)


class RideLease:
    """This process's hold on one ride, or its attempt at one."""

    def __init__(self, room_id: str, *, client: Redis | None = None) -> None:
        self.room_id = canonical_id(room_id, field="room_id")
        self._lock = Lock(
            redis_client(client),
            keys.watch_lease_key(self.room_id),
            timeout=watch_lease_seconds(),
            blocking=False,
            thread_local=False,
        )

    def take(self) -> bool:
        """Take the lease if no one holds it; True if this process holds it now."""
        with realtime_available():
            return bool(self._lock.acquire(blocking=False))

    def renew(self) -> bool:
        """Another full lease time; False when it lapsed (and maybe went to another)."""
        with realtime_available():
            try:
                return bool(self._lock.extend(watch_lease_seconds(), replace_ttl=True))
            except LockError:
                return False

    def release(self) -> None:
        """Give the ride up at once, for another watcher to take; a lapsed lease is left be."""
        with realtime_available():
            try:
                self._lock.release()
            except LockError:
                return


def watched_room_ids(*, client: Redis | None = None) -> list[str]:
    """Every ride with live state: the ones a watcher may evaluate."""
    return live_room_ids(redis_client(client))
