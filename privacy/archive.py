"""The export archive: one zip of JSON files, written to disk as it is read.

Layout (docs/privacy.md says the same, with every field):

    README.json            what this is, when it was made, each file with its record count
    profile.json           the account: one JSON object
    devices.json           signed-in devices: a JSON array (no key, no digest)
    rides.jsonl            memberships of rides, one JSON object per line
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
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from privacy import selectors
from riders.models import Rider

FORMAT = "convoy-data-export"
FORMAT_VERSION = 1
# Lines are handed to the compressor in batches of about this many bytes.
_WRITE_BATCH_BYTES = 64 * 1024

FILE_DESCRIPTIONS = {
    "profile.json": "Your account: username, email, display name, staff roles, dates.",
    "devices.json": "Devices signed in to your account: the name each was given, the first "
    "characters of its key (never the key), when it signed in, was last used and expires.",
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
                "profile.json": _write_json(
                    archive, "profile.json", selectors.export_profile(rider=rider)
                ),
                "devices.json": _write_json(
                    archive, "devices.json", selectors.export_devices(rider=rider)
                ),
                "rides.jsonl": _write_lines(
                    archive, "rides.jsonl", selectors.export_rides(rider=rider)
                ),
                "connection_logs.jsonl": _write_lines(
                    archive,
                    "connection_logs.jsonl",
                    selectors.export_connection_logs(rider=rider),
                ),
                "audit_entries.jsonl": _write_lines(
                    archive, "audit_entries.jsonl", selectors.export_audit_entries(rider=rider)
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
