"""When a ride socket's heartbeat needs a trip to Redis.

The app sends a heartbeat every second and, while riding, a position every second too; each
position (and each status) already marks the rider as seen. A heartbeat arriving within
WS_HEARTBEAT_REFRESH_SECONDS of the last refresh is answered without touching Redis: last seen
stays within that many seconds of the truth, far inside PRESENCE_TTL_SECONDS, and a worker
saves a script run per rider per second.
"""

import time


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
