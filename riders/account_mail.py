"""The mails Convoy sends about a rider's account, each with its single-use link."""

from urllib.parse import urlencode

from django.conf import settings
from django.template.loader import render_to_string

from riders.email_tokens import IssuedEmailToken
from riders.mail import mail_enqueue
from riders.models import EmailTokenPurpose, Mail, Rider

# Where the links lead, under CONVOY_PUBLIC_URL: the app opens them (universal and app
# links on that host) and sends the token to the API; without the app, the pages there
# (riders/account_pages.py) do.
LINK_PATHS = {
    EmailTokenPurpose.VERIFY_EMAIL: "/account/verify-email/",
    EmailTokenPurpose.RESET_PASSWORD: "/account/reset-password/",
}
_MAILS = {
    EmailTokenPurpose.VERIFY_EMAIL: (
        "Confirm your email address for Convoy",
        "riders/mail/verify_email.txt",
    ),
    EmailTokenPurpose.RESET_PASSWORD: (
        "Reset your Convoy password",
        "riders/mail/reset_password.txt",
    ),
}


def account_link(*, purpose: EmailTokenPurpose, key: str) -> str:
    return f"{settings.CONVOY_PUBLIC_URL}{LINK_PATHS[purpose]}?{urlencode({'token': key})}"


def account_mail_queue(*, rider: Rider, issued: IssuedEmailToken) -> Mail:
    """Queue the mail carrying the issued link to the address it was issued for, in the
    caller's transaction; not worth delivering once the link has expired."""
    token = issued.token
    purpose = EmailTokenPurpose(token.purpose)
    subject, template = _MAILS[purpose]
    body = render_to_string(
        template,
        {
            "name": rider.public_name,
            "username": rider.username,
            "email": token.email,
            "link": account_link(purpose=purpose, key=issued.key),
            "expires_at": token.expires_at,
        },
    )
    return mail_enqueue(
        to=token.email,
        subject=subject,
        body=body,
        purpose=purpose.value,
        rider_id=rider.pk,
        deliver_by=token.expires_at,
    )
