"""What each ride socket carries besides the protocol: the Origin check at the door, the
message rate limit, when a heartbeat needs Redis, the registry of this process's open
sockets, so a shutting-down server can close each one, and when a closed phone should come
back."""

import asyncio
import re
import secrets
import time
import weakref
from typing import Literal

from channels.security.websocket import OriginValidator
from django.conf import settings


class PhoneOrBrowserOriginValidator(OriginValidator):
    """Phones send no Origin header and are let through (they authenticate with a token);
    a browser page must come from one of ALLOWED_HOSTS, so no other site can open a socket
    with a rider's ambient credentials."""

    def __init__(self, application):
        super().__init__(application, settings.ALLOWED_HOSTS)

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


# A socket that keeps overflowing for this many messages in a row is closed, not just
# answered: it is broken or hostile, and it costs the other riders of the worker.
CLOSE_AFTER_DROPPED = 50


class MessageRateLimiter:
    """A token bucket per socket, and the rule that closes a flooding one.

    The bucket holds ``burst`` tokens (WS_MESSAGE_BURST), starts full and refills at
    ``per_second`` (WS_MESSAGES_PER_SECOND), continuously. Every frame takes one: binary,
    malformed and refused frames too. A frame that finds less than one token is dropped
    unread ("drop": the phone gets a rate_limited error); the CLOSE_AFTER_DROPPED-th frame
    dropped in a row, with no frame taken in between, closes the socket ("close": 4008)
    instead. Any frame taken resets that count.
    """

    def __init__(self, *, per_second: float, burst: int):
        self.per_second = per_second
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self.dropped_in_a_row = 0

    def check(self) -> Literal["ok", "drop", "close"]:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.dropped_in_a_row = 0
            return "ok"
        self.dropped_in_a_row += 1
        return "close" if self.dropped_in_a_row >= CLOSE_AFTER_DROPPED else "drop"


class PresenceRefresh:
    def __init__(self, interval_seconds: float):
        self.interval = interval_seconds
        self.refreshed_at: float | None = None

    def due(self) -> bool:
        """Whether the next heartbeat should refresh the rider's presence in Redis."""
        return self.refreshed_at is None or time.monotonic() - self.refreshed_at >= self.interval

    def done(self) -> None:
        """The rider's presence was just refreshed (a heartbeat, a position, a status)."""
        self.refreshed_at = time.monotonic()


# A phone told to come back is told when: a whole host's phones reconnecting in the same
# second would be a stampede on the other hosts (and on Redis, once it is back). Each socket
# gets its own delay, uniform over the window, never under this floor.
RECONNECT_FLOOR_MS = 1000
RETRY_AFTER = re.compile(r"retry_after_ms=(\d+)")


def reconnect_reason(reason: str, *, window_seconds: int) -> str:
    """A close reason that says when to reconnect: ``"<reason>; retry_after_ms=<n>"``, with
    ``n`` drawn uniformly from RECONNECT_FLOOR_MS to ``window_seconds``."""
    window_ms = max(window_seconds * 1000, RECONNECT_FLOOR_MS)
    after_ms = RECONNECT_FLOOR_MS + secrets.randbelow(window_ms - RECONNECT_FLOOR_MS + 1)
    return f"{reason}; retry_after_ms={after_ms}"


def retry_after_ms(reason: str) -> int | None:
    """The delay a close reason asks for, as a phone reads it."""
    found = RETRY_AFTER.search(reason)
    return int(found.group(1)) if found else None


_OPEN: "weakref.WeakSet" = weakref.WeakSet()
# Set once this process has begun its shutdown: a handshake that got through just before the
# listening socket closed is answered with 1001 and a reconnect hint, not accepted and reset.
_STOPPING = False


def socket_opened(consumer) -> None:
    _OPEN.add(consumer)


def socket_closed(consumer) -> None:
    _OPEN.discard(consumer)


def shutting_down() -> bool:
    return _STOPPING


async def close_every_socket_for_shutdown(*, wait_seconds: float) -> None:
    """Close every socket with 1001 (server shutdown), then give phones ``wait_seconds`` to
    answer the close, so each rider shows as reconnecting (not gone) while the phone moves
    to another worker. A socket that opens meanwhile (its handshake was already under way)
    is closed the same way."""
    global _STOPPING
    _STOPPING = True
    closed: weakref.WeakSet = weakref.WeakSet()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        # One still in its handshake closes itself once accepted (RideConsumer.connect).
        fresh = [c for c in list(_OPEN) if c.accepted and c not in closed]
        closed.update(fresh)
        if fresh:
            await asyncio.gather(
                *(consumer.server_shutdown() for consumer in fresh), return_exceptions=True
            )
        if not _OPEN or loop.time() >= deadline:
            return
        await asyncio.sleep(0.05)
