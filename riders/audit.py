"""The audit trail: who changed what. Services record an entry inside the transaction of the
change itself, so the entry and the change are committed, or rolled back, together."""

from django.db import connection, models

from riders.models import AuditAction, AuditEntry, Rider

TARGET_LABEL_MAX_LENGTH = AuditEntry._meta.get_field("target_label").max_length


def audit_record(
    *,
    action: AuditAction,
    actor: Rider | None,
    target: models.Model,
    label: str | None = None,
    details: dict | None = None,
) -> AuditEntry:
    """Record that ``actor`` did ``action`` to ``target``; call it inside the change's atomic block."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record runs inside the transaction of the change it records.")
    text = label if label is not None else str(target)
    return AuditEntry.objects.create(
        actor=actor,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_label=text[:TARGET_LABEL_MAX_LENGTH],
        details=details or {},
    )
