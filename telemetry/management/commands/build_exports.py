"""Build the data exports riders asked for, and delete the archives whose time is up."""

import tempfile

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from telemetry.exports import (
    export_build,
    export_claim_next,
    export_directory,
    exports_expire,
    exports_sweep_orphans,
)
from telemetry.models import ExportState


class Command(BaseCommand):
    help = (
        "Expire ready export archives past EXPORT_EXPIRY_HOURS (their files deleted), build "
        "every export waiting in the queue, then delete archive files no export offers. "
        "Safe to run on a schedule and several at once: each job is built by one run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-jobs",
            type=int,
            default=None,
            help="Build at most this many exports, then stop (default: until none waits).",
        )

    def handle(self, *args, max_jobs=None, **options):
        if max_jobs is not None and max_jobs < 1:
            raise CommandError("--max-jobs must be at least 1.")
        _require_writable_directory()
        expired = exports_expire()
        outcomes = {ExportState.READY: 0, ExportState.FAILED: 0, "dropped": 0}
        while max_jobs is None or sum(outcomes.values()) < max_jobs:
            claimed = export_claim_next()
            if claimed is None:
                break
            job = export_build(job=claimed)
            if job.state == ExportState.READY:
                self.stdout.write(f"Built export {job.pk} ({job.size_bytes} bytes).")
            elif job.state == ExportState.FAILED:
                self.stdout.write(f"Export {job.pk} failed: {job.failure}")
            else:
                # Its rider deleted the account meanwhile, or another run took it over.
                self.stdout.write(f"Export {job.pk} was no longer ours to build; dropped.")
            outcomes[job.state if job.state in outcomes else "dropped"] += 1
        swept = exports_sweep_orphans()
        self.stdout.write(
            f"Built {outcomes[ExportState.READY]}, failed {outcomes[ExportState.FAILED]}, "
            f"dropped {outcomes['dropped']}, expired {expired}, "
            f"removed {swept} stray file{'' if swept == 1 else 's'}."
        )


def _require_writable_directory() -> None:
    """One line naming EXPORT_DIR when the archives cannot be written there."""
    directory = export_directory()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CommandError(
            f"EXPORT_DIR {settings.EXPORT_DIR} cannot hold export archives ({reason})."
        ) from None
