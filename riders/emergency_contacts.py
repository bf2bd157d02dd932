"""A rider's emergency contacts, the writes: who is told when the rider may be in trouble in
a ride and nobody there answers (rooms.alerts marks the alert for them). Each is kept only
with the rider's word that the contact agreed, and the time it was given.

Phone numbers are checked and stored as E.164 with Google's libphonenumber rules (the
``phonenumbers`` package): a hand-written pattern would take numbers no network routes.
"""

import uuid

import phonenumbers
from django.db import transaction
from django.utils import timezone

from config.text import has_forbidden_characters
from riders.errors import AccountClosed, EmergencyContactsFull, InvalidEmergencyContact
from riders.models import CONTACT_NAME_MAX_LENGTH, CONTACTS_PER_RIDER, EmergencyContact, Rider
from riders.selectors import emergency_contact_get
from riders.validation import clean_email

_CONSENT_RULE = (
    "Give consent: true to confirm this person agreed to be told when you may be in trouble."
)


def emergency_contact_create(
    *, rider: Rider, name: object, consent: object, phone: object = None, email: object = None
) -> EmergencyContact:
    """Add a contact, with the consent recorded now. At most CONTACTS_PER_RIDER a rider: the
    rider's row is locked while they are counted, so two at once cannot both be the fifth."""
    values = _cleaned(name=name, phone=phone, email=email)
    _require_consent(consent)
    with transaction.atomic():
        is_active = (
            Rider.objects.select_for_update(no_key=True)
            .filter(pk=rider.pk)
            .values_list("is_active", flat=True)
            .first()
        )
        if not is_active:
            raise AccountClosed()
        if EmergencyContact.objects.filter(rider=rider).count() >= CONTACTS_PER_RIDER:
            raise EmergencyContactsFull()
        return EmergencyContact.objects.create(
            rider=rider, consent_recorded_at=timezone.now(), **values
        )


def emergency_contact_update(
    *, rider: Rider, contact_id: uuid.UUID | str, changes: dict
) -> EmergencyContact:
    """Change a contact's name, phone or email. A new phone or email is a new way of reaching
    someone, so it needs ``consent: true`` again, and the consent's time is recorded anew."""
    with transaction.atomic():
        contact = emergency_contact_get(rider=rider, contact_id=contact_id, for_update=True)
        values = _cleaned(
            name=changes.get("name", contact.name),
            phone=changes.get("phone", contact.phone),
            email=changes.get("email", contact.email),
        )
        reaches_anew = (values["phone"], values["email"]) != (contact.phone, contact.email)
        if "consent" in changes or reaches_anew:
            _require_consent(changes.get("consent"))
            contact.consent_recorded_at = timezone.now()
        for field, value in values.items():
            setattr(contact, field, value)
        contact.save()
    return contact


def emergency_contact_delete(*, rider: Rider, contact_id: uuid.UUID | str) -> None:
    with transaction.atomic():
        emergency_contact_get(rider=rider, contact_id=contact_id, for_update=True).delete()


def _require_consent(consent: object) -> None:
    if consent is not True:
        raise InvalidEmergencyContact(fields={"consent": [_CONSENT_RULE]})


def _cleaned(*, name: object, phone: object, email: object) -> dict[str, str]:
    problems: dict[str, list[str]] = {}
    clean_name = _clean_name(name, problems)
    clean_phone = _clean_phone(phone, problems)
    clean_address: str | None = None
    if email not in (None, ""):
        clean_address, reason = clean_email(email)
        if reason is not None:
            problems["email"] = [reason]
    if not problems and not clean_phone and not clean_address:
        problems["phone"] = ["Give a phone number, an email address, or both."]
    if problems:
        raise InvalidEmergencyContact(fields=problems)
    return {"name": clean_name, "phone": clean_phone, "email": clean_address or ""}


def _clean_name(name: object, problems: dict) -> str:
    value = " ".join(name.split()) if isinstance(name, str) else ""
    if not value:
        problems["name"] = ["Give the contact's name."]
    elif len(value) > CONTACT_NAME_MAX_LENGTH:
        problems["name"] = [f"At most {CONTACT_NAME_MAX_LENGTH} characters."]
    elif has_forbidden_characters(value):
        problems["name"] = ["A name may not contain control characters."]
    return value


def _clean_phone(phone: object, problems: dict) -> str:
    if phone in (None, ""):
        return ""
    rule = "An international number with its country code, such as +41 79 123 45 67."
    if not isinstance(phone, str) or len(phone) > 32:
        problems["phone"] = [rule]
        return ""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        problems["phone"] = [rule]
        return ""
    if not phonenumbers.is_valid_number(number):
        problems["phone"] = ["That is not a number in use in any country's numbering plan."]
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
