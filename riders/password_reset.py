"""Resetting a forgotten password with a single-use link mailed to the account's address.

Asking for a reset answers the same whatever was typed: an unknown name, a closed account,
an unconfirmed address and a full mail window all end here in silence, and the mail itself
is sent in the background, so neither the answer nor its timing tells whether the account
exists. A link is mailed only to a confirmed address (riders/email_verification.py).
"""

from datetime import timedelta

import structlog
from django.conf import settings
from django.db import transaction

from riders.account_mail import account_mail_queue
from riders.email_tokens import email_token_issue, email_token_redeem
from riders.mail_limits import RESET_MAIL_SCOPE, mail_slot_return, mail_slot_take
from riders.models import EmailTokenPurpose
from riders.selectors import rider_find_by_login
from riders.services import rider_reset_password

logger = structlog.get_logger(__name__)

# The answer to every request for a reset, whatever it found.
RESET_REQUESTED_ANSWER = (
    "If that username or email belongs to an account with a confirmed email address, a "
    "link to reset its password is on its way to that address."
)


def password_reset_request(*, identifier: object) -> None:
    """Mail a reset link if ``identifier`` (a username or an email) names an active account
    with a confirmed address and its reset mail window (THROTTLE_RESET_MAIL_SCOPE_RATE)
    has room; otherwise do nothing. Earlier reset links of the account stop working."""
    rider = rider_find_by_login(identifier=identifier)
    if rider is None or not rider.is_active or not rider.email_verified:
        return
    slot, _ = mail_slot_take(scope=RESET_MAIL_SCOPE, rider=rider)
    if slot is None:
        logger.info("password reset mail not sent: the account's window is full")
        return
    try:
        with transaction.atomic():
            issued = email_token_issue(
                rider=rider,
                purpose=EmailTokenPurpose.RESET_PASSWORD,
                lifetime=timedelta(minutes=settings.PASSWORD_RESET_TTL_MINUTES),
            )
            account_mail_queue(rider=rider, issued=issued)
    except BaseException:
        mail_slot_return(slot)
        raise


def password_reset_complete(*, key: object, new_password: str) -> int:
    """Set the new password with a reset link's key (Django's password validators apply)
    and sign out every device; returns how many. All of it or, on any refusal, none: a weak
    password leaves the link unspent for another try."""
    with transaction.atomic():
        rider, _ = email_token_redeem(key=key, purpose=EmailTokenPurpose.RESET_PASSWORD)
        return rider_reset_password(rider=rider, new_password=new_password)
