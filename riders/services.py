import zoneinfo
from contextlib import contextmanager
from functools import cache

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.domain_events import announce
from config.integrity import violated_constraint
from riders import roles
from riders.audit import audit_record
from riders.email_tokens import email_tokens_revoke
from riders.errors import (
    CannotDeactivateSelf,
    CannotReactivateClosedAccount,
    EmailTaken,
    InvalidRiderData,
    RiderAlreadyActive,
    RiderAlreadyInactive,
    SuperuserProtected,
    UnknownStaffRole,
    UsernameTaken,
    WeakPassword,
    WrongPassword,
)
from riders.events import RiderSharingChanged
from riders.models import AuditAction, AuthToken, EmailTokenPurpose, Rider
from riders.password_limits import password_failures_limited
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
    if password is not None:
        _check_password_strength(password, Rider(**values), field="password")
    _raise_if_taken(username=values["username"], email=values["email"], owner=None)
    with _conflicts_as_domain_errors():
        return Rider.objects.create_user(
            password=password, is_staff=is_staff, is_superuser=is_superuser, **values
        )


def rider_update(
    *,
    rider: Rider,
    username: str | None = None,
    email: str | None = None,
    display_name: str | None = None,
    share_battery: bool | None = None,
    share_network: bool | None = None,
) -> Rider:
    """Change what is given; the rider object changes only once the database has.

    A change of what the rider shares (share_battery, share_network) is announced
    (RiderSharingChanged) and reaches the ride they are live in once committed.
    """
    changes = _clean_profile(
        username=username, email=email, display_name=display_name, partial=True
    )
    sharing = _sharing_changes(rider, share_battery=share_battery, share_network=share_network)
    changes.update(sharing)
    if not changes:
        return rider
    _raise_if_taken(username=changes.get("username"), email=changes.get("email"), owner=rider)
    if email_changes(rider=rider, email=changes.get("email")):
        # A new address is unconfirmed until its own link is opened; links sent to the old
        # one stop applying (riders.email_tokens checks the address).
        changes["email_verified_at"] = None
    changes["updated_at"] = timezone.now()
    with _conflicts_as_domain_errors():
        Rider.objects.filter(pk=rider.pk).update(**changes)
    for field, value in changes.items():
        setattr(rider, field, value)
    if sharing:
        announce(
            RiderSharingChanged(
                rider_id=rider.pk,
                share_battery=rider.share_battery,
                share_network=rider.share_network,
            )
        )
    return rider


def email_changes(*, rider: Rider, email: str | None) -> bool:
    """Whether ``email`` is another mailbox than the rider's: not one differing in case only,
    which the unique index already treats as the same."""
    return email is not None and email.lower() != rider.email.lower()


def rider_check_current_password(*, rider: Rider, password: str) -> None:
    """WrongPassword unless ``password`` is the rider's; PasswordAttemptsLimited while the
    rider's window of wrong passwords is full, even for the right one, so guessing stops."""
    with password_failures_limited(rider=rider):
        if not _is_encodable(password) or not rider.check_password(password):
            raise WrongPassword()


def rider_change_password(*, rider: Rider, current_password: str, new_password: str) -> Rider:
    rider_check_current_password(rider=rider, password=current_password)
    _check_password_strength(new_password, rider, field="new_password")
    rider.set_password(new_password)
    with transaction.atomic():
        rider.save(update_fields=["password", "updated_at"])
        # A reset link mailed before the change would undo it: it stops working.
        email_tokens_revoke(rider=rider, purpose=EmailTokenPurpose.RESET_PASSWORD)
        audit_record(action=AuditAction.PASSWORD_CHANGED, actor=rider, target=rider)
    return rider


def rider_reset_password(*, rider: Rider, new_password: str) -> int:
    """Set the password of a rider who proved their mailbox and sign out every device,
    inside the caller's transaction (riders.password_reset, which has locked the rider and
    spent the link). Returns the number of devices signed out."""
    _check_password_strength(new_password, rider, field="new_password")
    rider.set_password(new_password)
    rider.save(update_fields=["password", "updated_at"])
    email_tokens_revoke(rider=rider, purpose=EmailTokenPurpose.RESET_PASSWORD)
    signed_out, _ = AuthToken.objects.filter(user=rider).delete()
    audit_record(
        action=AuditAction.PASSWORD_RESET,
        actor=rider,
        target=rider,
        details={"signed_out_devices": signed_out},
    )
    return signed_out


def rider_lock_out(*, rider: Rider, actor: Rider) -> tuple[Rider, int]:
    """The account's part of deactivating a rider, in the caller's transaction: the rider
    row locked first (the order every membership change locks in), the account deactivated
    and every device signed out. Returns the locked rider and the number of tokens revoked.

    rooms.services.rider_deactivate calls it, then ends the rider's ride and records both.
    """
    if rider.pk == actor.pk:
        raise CannotDeactivateSelf()
    locked = Rider.objects.select_for_update(no_key=True).get(pk=rider.pk)
    if not locked.is_active:
        raise RiderAlreadyInactive()
    if locked.is_superuser and not actor.is_superuser:
        raise SuperuserProtected()
    locked.is_active = False
    locked.save(update_fields=["is_active", "updated_at"])
    tokens_revoked, _ = AuthToken.objects.filter(user=locked).delete()
    return locked, tokens_revoked


def rider_reactivate(*, rider: Rider, actor: Rider, reason: str = "") -> Rider:
    """Undo a deactivation: the rider may log in again (on every device, with a new log-in:
    the tokens revoked at the deactivation stay revoked) and join rides again. A ride they
    were removed from by the deactivation still needs its leader or support to let them back.
    ``reason``: the staff member's, for the audit trail."""
    with transaction.atomic():
        locked = Rider.objects.select_for_update(no_key=True).get(pk=rider.pk)
        if locked.deleted_at is not None or locked.is_stand_in:
            raise CannotReactivateClosedAccount()
        if locked.is_active:
            raise RiderAlreadyActive()
        if locked.is_superuser and not actor.is_superuser:
            raise SuperuserProtected("Only a superuser can reactivate a superuser.")
        locked.is_active = True
        locked.save(update_fields=["is_active", "updated_at"])
        audit_record(
            action=AuditAction.RIDER_REACTIVATED, actor=actor, target=locked, reason=reason
        )
    rider.is_active = True
    return locked


def rider_set_staff_time_zone(*, rider: Rider, time_zone: str) -> Rider:
    """The IANA zone the console shows this staff member's times in; "" for UTC."""
    if time_zone and time_zone not in staff_time_zones():
        raise InvalidRiderData(
            fields={"staff_time_zone": ["Not a time zone name (e.g. Europe/Rome), or empty."]}
        )
    Rider.objects.filter(pk=rider.pk).update(staff_time_zone=time_zone)
    rider.staff_time_zone = time_zone
    return rider


def staff_time_zones() -> frozenset[str]:
    """Every zone name of the installed zone database (tzdata on machines without one)."""
    return _zone_names()


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def rider_set_staff_role(*, rider: Rider, role: str | None, actor: Rider | None) -> Rider:
    """Make the rider Support or Moderator staff (``role`` "support"/"moderator"), or, with
    None, take away both roles and staff access. Superusers keep their own powers."""
    if role is not None and role not in roles.ROLE_NAMES:
        raise UnknownStaffRole(fields={"role": [f"One of {', '.join(roles.ROLE_NAMES)}."]})
    with transaction.atomic():
        roles.staff_roles_sync()
        locked = Rider.objects.select_for_update(no_key=True).get(pk=rider.pk)
        role_groups = Group.objects.filter(name__in=roles.ROLE_PERMISSIONS)
        locked.groups.remove(*role_groups)
        if role is not None:
            locked.groups.add(Group.objects.get(name=roles.ROLE_NAMES[role]))
        locked.is_staff = role is not None or locked.is_superuser
        locked.save(update_fields=["is_staff", "updated_at"])
        audit_record(
            action=AuditAction.STAFF_ROLE_CHANGED,
            actor=actor,
            target=locked,
            details={"role": role, "is_staff": locked.is_staff},
        )
    return locked


def _sharing_changes(rider: Rider, **choices: bool | None) -> dict[str, bool]:
    """The sharing choices given that differ from the rider's; each must be a boolean."""
    wrong = {
        field: ["Must be true or false."]
        for field, value in choices.items()
        if value is not None and not isinstance(value, bool)
    }
    if wrong:
        raise InvalidRiderData(fields=wrong)
    return {
        field: value
        for field, value in choices.items()
        if value is not None and value != getattr(rider, field)
    }


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
