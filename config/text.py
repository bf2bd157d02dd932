"""Characters no name, code or search that Convoy stores or looks up may hold."""

import unicodedata

# Why a staff member did what they did, as typed in the console before a destructive action:
# a sentence or two and a ticket number; the audit trail keeps it.
REASON_MAX_CHARS = 500

# Control and format characters hide text or reorder it; lone surrogates cannot be stored,
# and PostgreSQL refuses NUL.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def has_forbidden_characters(value: str) -> bool:
    return any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in value)
