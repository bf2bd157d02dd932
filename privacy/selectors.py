"""Reads of a rider's data, for their export: each collection as rows to write out, the large
ones streamed from the database in chunks, never held in memory whole."""

from collections.abc import Iterator

from django.db.models import Q, QuerySet

from privacy.models import ExportJob
from riders.models import AuditEntry, AuthToken, Rider
from rooms.models import RoomParticipant
from telemetry.models import ConnectionLog

# Rows per round trip of a streamed collection: a few hundred kilobytes at most.
CHUNK_ROWS = 2000


def export_latest(*, rider: Rider) -> ExportJob | None:
    """The rider's most recent export, whatever its state (at most one is open)."""
    return ExportJob.objects.filter(rider=rider).order_by("-requested_at").first()


def export_history_size(*, rider: Rider, limit: int) -> int:
    """How many rows the rider's archive would hold, counted up to ``limit`` (then it is
    built in the background anyway): each count stops early, so a rider with millions of
    connection logs costs no more than one with ``limit``."""
    total = 0
    for rows in (
        ConnectionLog.objects.filter(user=rider),
        RoomParticipant.objects.filter(user=rider),
        _audit_entries_about(rider),
    ):
        total += rows[: limit + 1 - total].count()
        if total > limit:
            break
    return total


def export_profile(*, rider: Rider) -> dict:
    return {
        "id": rider.pk,
        "username": rider.username,
        "email": rider.email,
        "display_name": rider.display_name,
        "is_active": rider.is_active,
        "is_staff": rider.is_staff,
        "staff_roles": sorted(rider.groups.values_list("name", flat=True)),
        "created_at": rider.created_at,
        "updated_at": rider.updated_at,
        "last_login": rider.last_login,
    }


def export_devices(*, rider: Rider) -> list[dict]:
    """Signed-in devices: what the rider sees of each token, never its key or digest."""
    tokens = AuthToken.objects.filter(user=rider).order_by("created_at")
    return [
        {
            "device_name": token.device_name,
            "key_prefix": token.key_prefix,
            "created_at": token.created_at,
            "last_used_at": token.last_used_at,
            "expires_at": token.expires_at,
        }
        for token in tokens.only(
            "device_name", "key_prefix", "created_at", "last_used_at", "expires_at"
        )
    ]


def export_rides(*, rider: Rider) -> Iterator[dict]:
    rows = (
        RoomParticipant.objects.filter(user=rider)
        .order_by("joined_at", "id")
        .values_list(
            "room_id",
            "room__code",
            "room__name",
            "room__created_at",
            "room__deactivated_at",
            "room__creator_id",
            "joined_at",
            "left_at",
            "is_active",
            "removed_at",
        )
    )
    for room_id, code, name, opened, ended, creator, joined, left, active, removed in rows.iterator(
        chunk_size=CHUNK_ROWS
    ):
        yield {
            "room_id": room_id,
            "code": code,
            "name": name,
            "opened_at": opened,
            "ended_at": ended,
            "opened_by_you": creator == rider.pk,
            "joined_at": joined,
            "left_at": left,
            "in_the_ride_now": active,
            "removed_at": removed,
        }


def export_connection_logs(*, rider: Rider) -> Iterator[dict]:
    columns = (
        "id",
        "occurred_at",
        "recorded_at",
        "event_type",
        "room_id",
        "room__code",
        "client_event_id",
        "metrics",
    )
    rows = (
        ConnectionLog.objects.filter(user=rider)
        .order_by("occurred_at", "id")
        .values_list(*columns)
        .iterator(chunk_size=CHUNK_ROWS)
    )
    for log_id, occurred, recorded, event_type, room_id, code, client_id, metrics in rows:
        yield {
            "id": log_id,
            "occurred_at": occurred,
            "recorded_at": recorded,
            "event_type": event_type,
            "room_id": room_id,
            "room_code": code,
            "client_event_id": client_id,
            "metrics": metrics,
        }


def export_audit_entries(*, rider: Rider) -> Iterator[dict]:
    """Entries about the rider's account or memberships, and what they did; who else acted
    is not said (staff and other riders are not the rider's data)."""
    rows = (
        _audit_entries_about(rider)
        .order_by("created_at", "id")
        .values_list(
            "id",
            "created_at",
            "action",
            "actor_id",
            "target_type",
            "target_id",
            "target_label",
            "details",
        )
        .iterator(chunk_size=CHUNK_ROWS)
    )
    for entry_id, created, action, actor_id, target_type, target_id, label, details in rows:
        yield {
            "id": entry_id,
            "created_at": created,
            "action": action,
            "done_by_you": actor_id == rider.pk,
            "target_type": target_type,
            "target_id": target_id,
            "target_label": label,
            "details": details,
        }


def _audit_entries_about(rider: Rider) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(
        Q(actor=rider)
        | Q(target_type=Rider._meta.label_lower, target_id=str(rider.pk))
        | Q(details__rider_id=str(rider.pk))
    )
