"""Account flows of the rider app: register, log in, log out, change password or address,
sign out a device."""

from dataclasses import dataclass

from django.contrib.auth import authenticate
from django.db import transaction

from config.identifiers import parse_uuid
from riders.auth_tokens import IssuedToken, token_issue, token_revoke, token_revoke_all
from riders.email_verification import email_verification_start
from riders.errors import DeviceNotFound, InvalidCredentials
from riders.mail import MailReceipt, mail_receipt
from riders.mail_limits import verification_mail_slot
from riders.models import AuthToken, Rider
from riders.services import email_changes, rider_change_password, rider_create, rider_update
from riders.validation import clean_email


@dataclass(frozen=True)
class Registration:
    issued: IssuedToken
    verification_mail: MailReceipt


@dataclass(frozen=True)
class ProfileChange:
    rider: Rider
    # The confirmation mail to a new address; None when the address did not change.
    verification_mail: MailReceipt | None


def rider_register(
    *,
    username: str,
    email: str,
    password: str,
    display_name: str = "",
    device_name: str = "",
    app_version: str = "",
) -> Registration:
    """The account, this device's token and the mail confirming the address, together."""
    with transaction.atomic():
        rider = rider_create(
            username=username, email=email, password=password, display_name=display_name
        )
        issued = token_issue(rider=rider, device_name=device_name, app_version=app_version)
        mail = email_verification_start(rider=rider)
    return Registration(issued=issued, verification_mail=mail_receipt(mail))


def rider_log_in(
    *, username: str, password: str, device_name: str = "", app_version: str = ""
) -> IssuedToken:
    """Log in by username or email; one message for every failure, so accounts can't be probed."""
    rider = authenticate(username=username, password=password)
    if rider is None:
        raise InvalidCredentials()
    return token_issue(rider=rider, device_name=device_name, app_version=app_version)


def rider_update_profile(
    *,
    rider: Rider,
    username: str | None = None,
    email: str | None = None,
    display_name: str | None = None,
    share_battery: bool | None = None,
    share_network: bool | None = None,
) -> ProfileChange:
    """Change what is given; a new address is mailed a confirmation link in the same
    transaction, within the rider's window of confirmation mails (429 past it)."""
    # Compared as it will be kept: " Ana@Example.com " is the address the rider already has.
    cleaned_email, _ = clean_email(email) if email is not None else (None, None)
    if not email_changes(rider=rider, email=cleaned_email):
        rider_update(
            rider=rider,
            username=username,
            email=email,
            display_name=display_name,
            share_battery=share_battery,
            share_network=share_network,
        )
        return ProfileChange(rider=rider, verification_mail=None)
    with verification_mail_slot(rider=rider), transaction.atomic():
        rider_update(
            rider=rider,
            username=username,
            email=email,
            display_name=display_name,
            share_battery=share_battery,
            share_network=share_network,
        )
        mail = email_verification_start(rider=rider)
    return ProfileChange(rider=rider, verification_mail=mail_receipt(mail))


def rider_log_out(*, token: AuthToken) -> None:
    token_revoke(token=token)


def rider_log_out_everywhere(*, rider: Rider) -> int:
    return token_revoke_all(rider=rider)


def rider_sign_out_device(*, rider: Rider, device_id: object) -> None:
    """Revoke one of the rider's own tokens; another rider's is as unknown as a made-up id."""
    deleted, _ = AuthToken.objects.filter(
        pk=parse_uuid(device_id, what="device_id"), user=rider
    ).delete()
    if not deleted:
        raise DeviceNotFound()


def rider_change_password_from_device(
    *, rider: Rider, token: AuthToken | None, current_password: str, new_password: str
) -> int:
    """Change the password and sign out every other device; returns how many were signed out."""
    with transaction.atomic():
        rider_change_password(
            rider=rider, current_password=current_password, new_password=new_password
        )
        others = AuthToken.objects.filter(user=rider)
        if token is not None:
            others = others.exclude(pk=token.pk)
        revoked, _ = others.delete()
    return revoked
