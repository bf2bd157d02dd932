"""The export archive: the rider's data, read from every app, in one zip of JSON files
written to disk as it is read.

Layout (docs/privacy.md says the same, with every field):

    README.json            what this is, when it was made, each file with its record count
    profile.json           the account: one JSON object
    devices.json           signed-in devices: a JSON array (no key, no digest)
    emergency_contacts.json  emergency contacts: a JSON array
    rides.jsonl            memberships of rides, one JSON object per line
    ride_alerts.jsonl      alerts raised about the rider in rides, one per line, oldest first
    connection_logs.jsonl  connection events, one JSON object per line, oldest first
    audit_entries.jsonl    audit trail entries about the rider or by them, one per line

The large collections are JSON Lines, streamed from a database cursor straight into the
compressed entry, so memory stays flat however long the history is. Everything is read in
one REPEATABLE READ transaction: the files agree with one another, as of one instant.
"""

import json
import os
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from riders.models import AuditEntry, AuthToken, Rider
from riders.selectors import rider_emergency_contacts
from rooms.alerts import position_of
from rooms.models import RideAlert, RoomParticipant
from telemetry.models import ConnectionLog

FORMAT = "convoy-data-export"
FORMAT_VERSION = 1
# Lines are handed to the compressor in batches of about this many bytes.
_WRITE_BATCH_BYTES = 64 * 1024
# Rows per round trip of a streamed collection: a few hundred kilobytes at most.
CHUNK_ROWS = 2000

FILE_DESCRIPTIONS = {
    "profile.json": (
        "Your account: username, email and when it was confirmed, display name, what you "
        "share with your ride (battery, network), staff roles, dates."
    ),
    "devices.json": "Devices signed in to your account: the name each was given, the first "
    "characters of its key (never the key), when it signed in, was last used and expires.",
    "emergency_contacts.json": "The people you asked Convoy to tell when you may be in "
    "trouble in a ride and nobody there answers: name, phone, email, when you recorded "
    "their consent.",
    "ride_alerts.jsonl": "Alerts raised about you in rides (cut off, stopped, silent, SOS), "
    "oldest first: when, the position and recent trail they kept, who acknowledged and "
    "resolved them, and how they ended.",
    "rides.jsonl": "Every ride you have been in: the ride, when you joined and left, whether "
    "you opened it, whether its leader or support removed you.",
    "connection_logs.jsonl": "Connection events your phone reported, or the server recorded "
    "for it, oldest first: type, time, ride, and figures such as round-trip time and loss.",
    "audit_entries.jsonl": "Changes recorded about your account or your rides, and changes "
    "you made: what, when, and whether you made it.",
}


def archive_write(*, rider_id: uuid.UUID, destination: Path) -> int:
    """Write the rider's archive to ``destination`` (a new file, readable by its owner
    only); returns its size in bytes."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            _read_one_snapshot()
        rider = Rider.objects.get(pk=rider_id)
        descriptor = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with (
            os.fdopen(descriptor, "wb") as raw,
            zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        ):
            records = {
                "profile.json": _write_json(archive, "profile.json", export_profile(rider=rider)),
                "devices.json": _write_json(archive, "devices.json", export_devices(rider=rider)),
                "emergency_contacts.json": _write_json(
                    archive, "emergency_contacts.json", export_emergency_contacts(rider=rider)
                ),
                "rides.jsonl": _write_lines(archive, "rides.jsonl", export_rides(rider=rider)),
                "ride_alerts.jsonl": _write_lines(
                    archive, "ride_alerts.jsonl", export_ride_alerts(rider=rider)
                ),
                "connection_logs.jsonl": _write_lines(
                    archive,
                    "connection_logs.jsonl",
                    export_connection_logs(rider=rider),
                ),
                "audit_entries.jsonl": _write_lines(
                    archive, "audit_entries.jsonl", export_audit_entries(rider=rider)
                ),
            }
            _write_json(archive, "README.json", _manifest(rider, records))
    return destination.stat().st_size


def _read_one_snapshot() -> None:
    # The first statement of the transaction, as PostgreSQL requires (inside a caller's
    # transaction, the caller's snapshot rules).
    with connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def _manifest(rider: Rider, records: dict[str, int]) -> dict:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "generated_at": timezone.now(),
        "rider_id": rider.pk,
        "times": "ISO 8601, UTC",
        "files": [
            {
                "name": name,
                "format": "json" if name.endswith(".json") else "json-lines",
                "records": count,
                "description": FILE_DESCRIPTIONS[name],
            }
            for name, count in records.items()
        ],
    }


def _write_json(archive: zipfile.ZipFile, name: str, value: dict | list) -> int:
    archive.writestr(name, json.dumps(value, default=_encode, ensure_ascii=False, indent=2))
    return len(value) if isinstance(value, list) else 1


def _write_lines(archive: zipfile.ZipFile, name: str, rows: Iterable[dict]) -> int:
    count = 0
    batch: list[bytes] = []
    size = 0
    # force_zip64: the entry's size is not known before it is written.
    with archive.open(name, "w", force_zip64=True) as entry:
        for row in rows:
            line = json.dumps(row, default=_encode, ensure_ascii=False, separators=(",", ":"))
            batch.append(line.encode() + b"\n")
            size += len(batch[-1])
            count += 1
            if size >= _WRITE_BATCH_BYTES:
                entry.write(b"".join(batch))
                batch.clear()
                size = 0
        entry.write(b"".join(batch))
    return count


def _encode(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not part of an export")


# --- What it holds -----------------------------------------------------------------------
# Each collection as rows to write out, the large ones streamed from the database in chunks,
# never held in memory whole.


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
        "email_verified_at": rider.email_verified_at,
        "display_name": rider.display_name,
        "share_battery": rider.share_battery,
        "share_network": rider.share_network,
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
            "app_version": token.app_version,
            "key_prefix": token.key_prefix,
            "created_at": token.created_at,
            "last_used_at": token.last_used_at,
            "expires_at": token.expires_at,
        }
        for token in tokens.only(
            "device_name", "app_version", "key_prefix", "created_at", "last_used_at", "expires_at"
        )
    ]


def export_emergency_contacts(*, rider: Rider) -> list[dict]:
    return [
        {
            "name": contact.name,
            "phone": contact.phone or None,
            "email": contact.email or None,
            "consent_recorded_at": contact.consent_recorded_at,
            "created_at": contact.created_at,
        }
        for contact in rider_emergency_contacts(rider=rider)
    ]


def export_ride_alerts(*, rider: Rider) -> Iterator[dict]:
    alerts = RideAlert.objects.filter(rider=rider).order_by("raised_at", "id")
    for alert in alerts.iterator(chunk_size=CHUNK_ROWS):
        yield {
            "room_id": alert.room_id,
            "kind": alert.kind,
            "status": alert.status,
            "raised_at": alert.raised_at,
            "due_at": alert.due_at,
            "position": position_of(alert),
            "trail": alert.trail,
            "details": alert.details,
            "acknowledged_at": alert.acknowledged_at,
            "acknowledged_by_you": alert.acknowledged_by_id == rider.pk,
            "resolved_at": alert.resolved_at,
            "resolution": alert.resolution,
            "resolved_by_you": alert.resolved_by_id == rider.pk,
        }


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
