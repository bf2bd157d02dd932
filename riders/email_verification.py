"""Confirming a rider's email address with a mailed single-use link.

A new account's address, and a changed one, stays unconfirmed until the rider opens the
link mailed to it. Until then the rider rides as usual, but no password reset is mailed to
the address (riders/password_reset.py): a reset link is the key to the account, and an
address nobody has proven may be a typo of a stranger's.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from riders.account_mail import account_mail_queue
from riders.email_tokens import email_token_issue, email_token_redeem
from riders.errors import EmailAlreadyVerified
from riders.mail import MailReceipt, mail_receipt
from riders.mail_limits import verification_mail_slot
from riders.models import EmailTokenPurpose, Mail, Rider


def email_verification_start(*, rider: Rider) -> Mail:
    """Mail a new confirmation link to the rider's current address, in the caller's
    transaction; earlier links stop working."""
    issued = email_token_issue(
        rider=rider,
        purpose=EmailTokenPurpose.VERIFY_EMAIL,
        lifetime=timedelta(hours=settings.EMAIL_VERIFICATION_TTL_HOURS),
    )
    return account_mail_queue(rider=rider, issued=issued)


def email_verification_resend(*, rider: Rider) -> MailReceipt:
    """A fresh confirmation link for an unconfirmed address, at most
    THROTTLE_VERIFICATION_MAIL_RATE of them (VerificationMailsLimited past it)."""
    if rider.email_verified:
        raise EmailAlreadyVerified()
    with verification_mail_slot(rider=rider), transaction.atomic():
        mail = email_verification_start(rider=rider)
    return mail_receipt(mail)


def email_verify(*, key: object) -> Rider:
    """Confirm the address the key was mailed to, if it is still the rider's."""
    with transaction.atomic():
        rider, _ = email_token_redeem(key=key, purpose=EmailTokenPurpose.VERIFY_EMAIL)
        now = timezone.now()
        Rider.objects.filter(pk=rider.pk).update(email_verified_at=now, updated_at=now)
        rider.email_verified_at = rider.updated_at = now
    return rider
