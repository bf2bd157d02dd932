"""The audit trail: who changed what. Services record an entry inside the transaction of the
change itself, so the entry and the change are committed, or rolled back, together."""

import re

from django.db import connection, models
from django.db.models import QuerySet

from config.text import REASON_MAX_CHARS
from riders.models import AuditAction, AuditEntry, Rider

TARGET_LABEL_MAX_LENGTH = AuditEntry._meta.get_field("target_label").max_length


def audit_record(
    *,
    action: AuditAction,
    actor: Rider | None,
    target: models.Model,
    label: str | None = None,
    details: dict | None = None,
    reason: str = "",
) -> AuditEntry:
    """Record that ``actor`` did ``action`` to ``target``; call it inside the change's atomic block.

    ``reason``: what the staff member gave as the reason (the console asks for one before any
    destructive action), kept in the details as ``reason``.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record runs inside the transaction of the change it records.")
    if len(reason) > REASON_MAX_CHARS:
        raise ValueError(f"An audit reason is at most {REASON_MAX_CHARS} characters.")
    details = dict(details or {})
    if reason:
        details["reason"] = reason
    text = label if label is not None else str(target)
    return AuditEntry.objects.create(
        actor=actor,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_label=text[:TARGET_LABEL_MAX_LENGTH],
        details=details,
    )


def audit_rewrite_names(*, entries: QuerySet[AuditEntry], replacements: dict[str, str]) -> int:
    """Replace, in the labels and details of ``entries``, each whole occurrence of a key of
    ``replacements`` (any letter case) by its value; returns how many entries changed.

    For erasing an account's names from the trail: a username inside a longer word ("ana"
    in "Banana ride") is left alone, since it is not the name. Entries are read in chunks, so
    a staff member's long trail is never held in memory at once.
    """
    if not replacements:
        return 0
    # Longest first, so an email is replaced whole before the username it starts with.
    names = sorted(replacements, key=len, reverse=True)
    pattern = re.compile(
        "|".join(f"(?<![{_NAME_CHARS}]){re.escape(name)}(?![{_NAME_CHARS}])" for name in names),
        re.IGNORECASE,
    )
    by_lower = {name.lower(): value for name, value in replacements.items()}

    def rewrite(text: str) -> str:
        return pattern.sub(lambda match: by_lower[match.group(0).lower()], text)

    changed: list[AuditEntry] = []
    count = 0
    for entry in entries.only("id", "target_label", "details").iterator(chunk_size=500):
        label = rewrite(entry.target_label)[:TARGET_LABEL_MAX_LENGTH]
        details = _rewrite_strings(entry.details, rewrite)
        if label == entry.target_label and details == entry.details:
            continue
        entry.target_label, entry.details = label, details
        changed.append(entry)
        if len(changed) == 500:
            count += _save_rewritten(changed)
    return count + _save_rewritten(changed)


# What a username or an email may be made of: a match must not run on into more of them.
_NAME_CHARS = r"A-Za-z0-9._@+\-"


def _rewrite_strings(value: object, rewrite) -> object:
    if isinstance(value, str):
        return rewrite(value)
    if isinstance(value, list):
        return [_rewrite_strings(item, rewrite) for item in value]
    if isinstance(value, dict):
        return {key: _rewrite_strings(item, rewrite) for key, item in value.items()}
    return value


def _save_rewritten(entries: list[AuditEntry]) -> int:
    count = len(entries)
    if entries:
        AuditEntry.objects.bulk_update(entries, ["target_label", "details"])
        entries.clear()
    return count
