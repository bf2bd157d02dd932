import unicodedata
from uuid import UUID

from django.db.models import F, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from config.errors import InvalidIdentifier
from config.identifiers import parse_uuid
from config.text import has_forbidden_characters
from riders.errors import EmergencyContactNotFound, RiderNotFound
from riders.models import AuthToken, EmergencyContact, Rider


def rider_get(*, rider_id: UUID | str) -> Rider:
    rider = Rider.objects.filter(pk=parse_uuid(rider_id, what="rider_id")).first()
    if rider is None:
        raise RiderNotFound()
    return rider


def rider_get_by_username(*, username: str) -> Rider:
    rider = rider_find_by_username(username=username)
    if rider is None:
        raise RiderNotFound(f"No rider is called {username!r}.")
    return rider


def rider_find_by_username(*, username: str) -> Rider | None:
    # Usernames are stored NFKC-normalised, so a full-width spelling finds its rider too.
    key = _lookup_key(username, normalize=True)
    if key is None:
        return None
    # lower(username) = ... matches the case-insensitive unique index exactly.
    return Rider.objects.alias(username_lower=Lower("username")).filter(username_lower=key).first()


def rider_find_by_email(*, email: str) -> Rider | None:
    key = _lookup_key(email, normalize=False)
    if key is None:
        return None
    return Rider.objects.alias(email_lower=Lower("email")).filter(email_lower=key).first()


def rider_find_by_login(*, identifier: object) -> Rider | None:
    """The rider a log-in name finds, as log-in finds it: by email when it holds an @,
    else by username."""
    if not isinstance(identifier, str):
        return None
    if "@" in identifier:
        return rider_find_by_email(email=identifier)
    return rider_find_by_username(username=identifier)


def rider_devices(*, rider: Rider) -> QuerySet[AuthToken]:
    """The rider's signed-in devices (unexpired tokens), the most recently used first."""
    return (
        AuthToken.objects.filter(user=rider, expires_at__gt=timezone.now())
        .only("id", "device_name", "app_version", "created_at", "last_used_at", "expires_at")
        .order_by(F("last_used_at").desc(nulls_last=True), "-created_at", "id")
    )


def credential_lookup_key(identifier: object) -> str | None:
    """The key log-in finds an account by (email or username), or None when none can match."""
    if isinstance(identifier, str) and "@" in identifier:
        return _lookup_key(identifier, normalize=False)
    return _lookup_key(identifier, normalize=True)


def credential_account_key(identifier: object) -> str | None:
    """One key per account for counting log-in attempts, whichever name is typed.

    The rider's id when the name finds an account as the log-in backend finds it (email when
    it holds an @, else username), so guesses by username and by email share one window;
    otherwise the lookup key, so made-up names are still counted. None when nothing can match.
    """
    key = credential_lookup_key(identifier)
    if key is None:
        return None
    if "@" in key:
        rider_id = (
            Rider.objects.alias(email_lower=Lower("email"))
            .filter(email_lower=key)
            .values_list("pk", flat=True)
            .first()
        )
    else:
        rider_id = (
            Rider.objects.alias(username_lower=Lower("username"))
            .filter(username_lower=key)
            .values_list("pk", flat=True)
            .first()
        )
    return f"rider:{rider_id}" if rider_id is not None else f"name:{key}"


def _lookup_key(value: object, *, normalize: bool) -> str | None:
    """The lower-cased form to look up, or None for what no rider can be called.

    Not str(value): None must not find a rider called "none". NUL and lone surrogates cannot
    even be sent to PostgreSQL.
    """
    if not isinstance(value, str) or has_forbidden_characters(value):
        return None
    if normalize:
        value = unicodedata.normalize("NFKC", value)
    return value.strip().lower() or None


def rider_emergency_contacts(*, rider: Rider) -> QuerySet[EmergencyContact]:
    """The rider's emergency contacts, in the order they were added."""
    return EmergencyContact.objects.filter(rider=rider).order_by("created_at", "id")


def emergency_contact_get(
    *, rider: Rider, contact_id: UUID | str, for_update: bool = False
) -> EmergencyContact:
    """One of the rider's contacts (locked with ``for_update``). Another rider's contact and
    a malformed id are not found alike: neither is the rider's."""
    try:
        pk = parse_uuid(contact_id, what="contact_id")
    except InvalidIdentifier:
        raise EmergencyContactNotFound() from None
    contacts = EmergencyContact.objects.filter(pk=pk, rider=rider)
    contact = (contacts.select_for_update() if for_update else contacts).first()
    if contact is None:
        raise EmergencyContactNotFound()
    return contact
