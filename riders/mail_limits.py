"""How many mails of one kind a rider's account may cause, counted in Redis like the API's
rate limits: each mail takes a place in the account's window first (so simultaneous
requests cannot all slip in under the limit) and gives it back if it was not sent after all.

Confirmation mails (THROTTLE_VERIFICATION_MAIL_RATE) are refused with 429 once the window
is full: the rider asking is signed in and may be told. Reset mails
(THROTTLE_PASSWORD_RESET_MAIL_RATE) are skipped without a word: telling would reveal that
the account exists.
"""

import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from config.api.throttles import rate_window, sliding_window_admit, sliding_window_forget
from riders.errors import VerificationMailsLimited
from riders.models import Rider

VERIFICATION_MAIL_SCOPE = "verification_mail"
RESET_MAIL_SCOPE = "password_reset_mail"


@dataclass(frozen=True)
class MailSlot:
    key: str
    member: str


def mail_slot_take(*, scope: str, rider: Rider) -> tuple[MailSlot | None, float]:
    """A place for one more mail in the rider's window: (slot, 0), or (None, seconds until
    one frees) when the window is full. A scope without a rate always admits."""
    rate = settings.API_THROTTLE_RATES.get(scope)
    slot = MailSlot(key=f"throttle_{scope}_{rider.pk}:window", member=uuid.uuid4().hex)
    if rate is None:
        return slot, 0.0
    limit, window_ms = rate_window(rate)
    admitted, wait = sliding_window_admit(
        slot.key, window_ms=window_ms, limit=limit, member=slot.member
    )
    return (slot, 0.0) if admitted else (None, wait)


def mail_slot_return(slot: MailSlot) -> None:
    sliding_window_forget(slot.key, slot.member)


@contextmanager
def verification_mail_slot(*, rider: Rider) -> Iterator[None]:
    """Room for one confirmation mail, or VerificationMailsLimited; the place is given back
    when the block raises (the mail was not queued)."""
    slot, wait = mail_slot_take(scope=VERIFICATION_MAIL_SCOPE, rider=rider)
    if slot is None:
        raise VerificationMailsLimited(retry_after_seconds=max(math.ceil(wait), 1))
    try:
        yield
    except BaseException:
        mail_slot_return(slot)
        raise
