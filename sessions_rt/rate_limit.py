"""A per-socket token bucket: rides send about two messages a second, bursts of ICE
candidates a few dozen; a phone in a loop sends thousands."""

import time
from typing import Literal

# A socket that keeps overflowing for this many messages in a row is closed, not just
# answered: it is broken or hostile, and it costs the other riders of the worker.
CLOSE_AFTER_DROPPED = 50


class MessageRateLimiter:
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
