"""Normalising and checking what riders type into their profile."""

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from config.text import has_forbidden_characters
from riders.models import (
    DISPLAY_NAME_MAX_LENGTH,
    USERNAME_MAX_LENGTH,
    USERNAME_MIN_LENGTH,
    USERNAME_PATTERN,
    USERNAME_PATTERN_MESSAGE,
)

_USERNAME_PATTERN = re.compile(USERNAME_PATTERN)
# What an app says its version is: "2.4.1", "2.5.0-beta.2", "2.4.1+417".
APP_VERSION_PATTERN = r"[0-9A-Za-z](?:[0-9A-Za-z.+_-]*[0-9A-Za-z])?"
EMAIL_MAX_LENGTH = 254


def clean_username(raw: object) -> tuple[str | None, str | None]:
    """Return (username, None) or (None, reason)."""
    if raw is None:
        return None, "Username is required."
    if not isinstance(raw, str):
        return None, "Username must be text."
    value = unicodedata.normalize("NFKC", raw).strip()
    if not value:
        return None, "Username is required."
    if len(value) < USERNAME_MIN_LENGTH or len(value) > USERNAME_MAX_LENGTH:
        return None, (
            f"Username must be {USERNAME_MIN_LENGTH} to {USERNAME_MAX_LENGTH} characters long."
        )
    if not _USERNAME_PATTERN.fullmatch(value):
        return None, USERNAME_PATTERN_MESSAGE
    return value, None


def clean_email(raw: object) -> tuple[str | None, str | None]:
    if raw is None:
        return None, "Email is required."
    if not isinstance(raw, str):
        return None, "Email must be text."
    value = raw.strip()
    if not value:
        return None, "Email is required."
    try:
        validate_email(value)
    except ValidationError:
        return None, "Enter a valid email address."
    local, _, domain = value.rpartition("@")
    # Lower-casing can lengthen an internationalised domain, so the limit applies after it.
    value = f"{local}@{domain.lower()}"
    if len(value) > EMAIL_MAX_LENGTH:
        return None, f"Email must be at most {EMAIL_MAX_LENGTH} characters long."
    return value, None


def clean_display_name(raw: object) -> tuple[str | None, str | None]:
    if not isinstance(raw, str):
        return None, "Display name must be text."
    value = " ".join(unicodedata.normalize("NFKC", raw).split())
    # Both what was typed and what is kept: the schema's maxLength is then exactly the rule.
    if len(raw) > DISPLAY_NAME_MAX_LENGTH or len(value) > DISPLAY_NAME_MAX_LENGTH:
        return None, f"Display name must be at most {DISPLAY_NAME_MAX_LENGTH} characters long."
    if has_forbidden_characters(value):
        return None, "Display name may not contain control characters."
    return value, None
