from contextlib import contextmanager

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.integrity import violated_constraint
from riders.errors import (
    EmailTaken,
    InvalidRiderData,
    UsernameTaken,
    WeakPassword,
    WrongPassword,
)
from riders.models import Rider
from riders.selectors import rider_find_by_email, rider_find_by_username
from riders.validation import clean_display_name, clean_email, clean_username

_CONFLICT_BY_CONSTRAINT = {
    "rider_username_ci_unique": UsernameTaken,
    "rider_email_ci_unique": EmailTaken,
}


def rider_create(
    *,
    username: str,
    email: str,
    password: str | None,
    display_name: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
) -> Rider:
    """Register a rider. A password of None makes an account that cannot log in yet."""
    values = _clean_profile(
        username=username, email=email, display_name=display_name, partial=False
    )
    rider = Rider(is_staff=is_staff, is_superuser=is_superuser, **values)
    if password is None:
        rider.set_unusable_password()
    else:
        _check_password_strength(password, rider, field="password")
        rider.set_password(password)
    _raise_if_taken(username=rider.username, email=rider.email, owner=None)
    with _conflicts_as_domain_errors():
        rider.save(force_insert=True)
    return rider


def rider_update(
    *,
    rider: Rider,
    username: str | None = None,
    email: str | None = None,
    display_name: str | None = None,
) -> Rider:
    """Change what is given; the rider object changes only once the database has."""
    changes = _clean_profile(
        username=username, email=email, display_name=display_name, partial=True
    )
    if not changes:
        return rider
    _raise_if_taken(username=changes.get("username"), email=changes.get("email"), owner=rider)
    changes["updated_at"] = timezone.now()
    with _conflicts_as_domain_errors():
        Rider.objects.filter(pk=rider.pk).update(**changes)
    for field, value in changes.items():
        setattr(rider, field, value)
    return rider


def rider_change_password(*, rider: Rider, current_password: str, new_password: str) -> Rider:
    if not _is_encodable(current_password) or not rider.check_password(current_password):
        raise WrongPassword()
    _check_password_strength(new_password, rider, field="new_password")
    rider.set_password(new_password)
    rider.save(update_fields=["password", "updated_at"])
    return rider


def _clean_profile(*, partial: bool, **raw: object) -> dict:
    """Cleaned values by field; with ``partial``, a None means "leave unchanged"."""
    cleaners = {
        "username": clean_username,
        "email": clean_email,
        "display_name": clean_display_name,
    }
    values, errors = {}, {}
    for field, value in raw.items():
        if value is None and partial:
            continue
        cleaned, problem = cleaners[field](value)
        if problem:
            errors[field] = [problem]
        else:
            values[field] = cleaned
    if errors:
        raise InvalidRiderData(fields=errors)
    return values


def _check_password_strength(password: object, rider: Rider, *, field: str) -> None:
    if not isinstance(password, str) or not password:
        raise WeakPassword(fields={field: ["A password is required."]})
    if len(password) > 256:
        raise WeakPassword(fields={field: ["A password must be at most 256 characters long."]})
    if not _is_encodable(password):
        raise WeakPassword(fields={field: ["A password may not contain unpaired surrogates."]})
    try:
        validate_password(password, user=rider)
    except ValidationError as exc:
        raise WeakPassword(fields={field: list(exc.messages)}) from None


def _is_encodable(text: object) -> bool:
    # A lone surrogate (valid in JSON, not in UTF-8) makes every password hasher raise.
    if not isinstance(text, str):
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _raise_if_taken(*, username: str | None, email: str | None, owner: Rider | None) -> None:
    """The friendly check; the unique indexes remain the guarantee when two requests race."""
    owner_pk = owner.pk if owner is not None else None
    if username is not None:
        holder = rider_find_by_username(username=username)
        if holder is not None and holder.pk != owner_pk:
            raise UsernameTaken(fields={"username": [UsernameTaken.default_message]})
    if email is not None:
        holder = rider_find_by_email(email=email)
        if holder is not None and holder.pk != owner_pk:
            raise EmailTaken(fields={"email": [EmailTaken.default_message]})


@contextmanager
def _conflicts_as_domain_errors():
    """A unique index that loses a race answers with the same error as the friendly check."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        conflict = _CONFLICT_BY_CONSTRAINT.get(violated_constraint(exc))
        if conflict is None:
            raise
        field = "username" if conflict is UsernameTaken else "email"
        raise conflict(fields={field: [conflict.default_message]}) from None
