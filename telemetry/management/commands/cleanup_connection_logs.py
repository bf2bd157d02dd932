"""Remove connection logs past their retention: drop whole expired daily partitions, delete
the remainder in batches, with progress on a terminal."""

import re
import time
from datetime import UTC, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from telemetry.services import CleanupResult, connection_log_cleanup

_AGE = re.compile(r"(\d{1,9})([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
MAX_AGE = timedelta(days=36_500)


def parse_age(text: str) -> timedelta:
    """'30d', '12h' or '90m' as a timedelta; anything else is a CommandError."""
    match = _AGE.fullmatch(text.strip().lower()) if isinstance(text, str) else None
    if match is None:
        raise CommandError(
            f"--older-than must be a whole number followed by d, h or m (e.g. 30d), got {text!r}."
        )
    age = timedelta(**{_UNITS[match[2]]: int(match[1])})
    if not timedelta(0) < age <= MAX_AGE:
        raise CommandError(
            f"--older-than must be more than zero and at most {MAX_AGE.days} days, got {text!r}."
        )
    return age


class Command(BaseCommand):
    help = (
        "Remove connection logs older than a given age (default: TELEMETRY_RETENTION_DAYS): "
        "drop the daily partitions wholly past it, delete the rest in batches."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            metavar="AGE",
            help="Age such as 30d, 12h or 90m (days, hours, minutes). "
            "Default: TELEMETRY_RETENTION_DAYS days.",
        )
        parser.add_argument("--batch-size", type=int, default=5000, metavar="N")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="List the partitions that would be dropped and count what would be deleted; "
            "change nothing.",
        )

    def handle(self, *args, older_than, batch_size, dry_run, **options):
        if older_than is None:
            older_than = f"{settings.TELEMETRY_RETENTION_DAYS}d"
        age = parse_age(older_than)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise CommandError(
                f"--batch-size must be a whole number of at least 1, got {batch_size!r}."
            )
        show_progress = self.stdout.isatty() and not dry_run
        started = time.monotonic()
        try:
            result = connection_log_cleanup(
                older_than=age,
                batch_size=batch_size,
                dry_run=dry_run,
                progress=self._show_progress if show_progress else None,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if show_progress and result.batches:
            self.stdout.write("")
        self.stdout.write(_summary(result, seconds=time.monotonic() - started))

    def _show_progress(self, done: int, total: int) -> None:
        percent = done * 100 // total if total else 100
        self.stdout.write(f"\rdeleted {done:,}/{total:,} ({percent}%)", ending="")
        self.stdout.flush()


def _summary(result: CleanupResult, *, seconds: float) -> str:
    logs = "connection log" if result.count == 1 else "connection logs"
    batches = "batch" if result.batches == 1 else "batches"
    cutoff = result.cutoff.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = []
    for partition in result.partitions:
        verb = "Would drop" if result.dry_run else "Dropped"
        lines.append(
            f"{verb} partition {partition.name} ({partition.day_start:%Y-%m-%d}, "
            f"{'about ' if partition.estimated else ''}{partition.rows:,} logs)"
        )
    split = ""
    if result.partitions:
        dropped = len(result.partitions)
        split = (
            f" ({dropped} whole {'partition' if dropped == 1 else 'partitions'}, "
            f"{result.deleted_in_batches:,} rows deleted)"
        )
    if result.dry_run:
        lines.append(
            f"Would delete {result.count:,} {logs} older than {cutoff}{split} "
            f"in {result.batches} {batches} (dry run: nothing deleted)."
        )
    else:
        lines.append(
            f"Deleted {result.count:,} {logs} older than {cutoff}{split} "
            f"in {result.batches} {batches} ({seconds:.1f} s)."
        )
    return "\n".join(lines)
