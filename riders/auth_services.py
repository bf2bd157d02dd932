"""Account flows of the rider app: register, log in, log out, change password."""

from django.contrib.auth import authenticate
from django.db import transaction

from riders.auth_tokens import IssuedToken, token_issue, token_revoke, token_revoke_all
from riders.errors import InvalidCredentials
from riders.models import AuthToken, Rider
from riders.services import rider_change_password, rider_create


def rider_register(
    *, username: str, email: str, password: str, display_name: str = "", device_name: str = ""
) -> IssuedToken:
    with transaction.atomic():
        rider = rider_create(
            username=username, email=email, password=password, display_name=display_name
        )
        return token_issue(rider=rider, device_name=device_name)


def rider_log_in(*, username: str, password: str, device_name: str = "") -> IssuedToken:
    """Log in by username or email; one message for every failure, so accounts can't be probed."""
    rider = authenticate(username=username, password=password)
    if rider is None:
        raise InvalidCredentials()
    return token_issue(rider=rider, device_name=device_name)


def rider_log_out(*, token: AuthToken) -> None:
    token_revoke(token=token)


def rider_log_out_everywhere(*, rider: Rider) -> int:
    return token_revoke_all(rider=rider)


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
