"""Wrong current passwords per account, counted in Redis like the API's rate limits.

Only failures count: each check takes a place in the rider's window first (so simultaneous
guesses cannot all slip in under the limit) and gives it back when the password was right.
While the window is full every check is refused, the right password too, until it frees.
"""

import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from config.api.throttles import rate_window, sliding_window_admit, sliding_window_forget
from riders.errors import PasswordAttemptsLimited, WrongPassword
from riders.models import Rider


@contextmanager
def password_failures_limited(*, rider: Rider) -> Iterator[None]:
    """Counts the block as a failure when it raises WrongPassword."""
    rate = settings.API_THROTTLE_RATES.get("password_failures")
    if rate is None:
        yield
        return
    limit, window_ms = rate_window(rate)
    key = f"throttle_password_failures_{rider.pk}:window"
    member = uuid.uuid4().hex
    admitted, wait = sliding_window_admit(key, window_ms=window_ms, limit=limit, member=member)
    if not admitted:
        raise PasswordAttemptsLimited(retry_after_seconds=max(math.ceil(wait), 1))
    failed = False
    try:
        yield
    except WrongPassword:
        failed = True
        raise
    finally:
        if not failed:
            sliding_window_forget(key, member)
