"""Building exports: one job per rider however often it is asked, builders that share the
queue, leases that pass on, a disk that refuses, archives that expire, memory that stays flat."""

import io
import json
import os
import time
import zipfile
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from telemetry.account_deletion import account_delete_own
from telemetry.exports import (
    MAX_BUILD_ATTEMPTS,
    archive_path,
    export_build,
    export_claim_next,
    export_request,
    exports_sweep_orphans,
)
from telemetry.models import ExportJob, ExportState
from tests.ops.processes import run_manage, server_environment
from tests.racing import race
from tests.riders.factories import TEST_PASSWORD, RiderFactory


def _pending(rider) -> ExportJob:
    return ExportJob.objects.create(rider=rider)


@pytest.mark.django_db(transaction=True)
def test_fifty_requests_at_once_make_one_export():
    rider = RiderFactory()

    results = race([lambda: export_request(rider=rider) for _ in range(50)])

    assert all(isinstance(result, tuple) for result in results), results
    assert sum(created for _, created in results) == 1
    assert len({job.pk for job, _ in results}) == 1
    job = ExportJob.objects.get()
    assert job.state == ExportState.READY
    assert [path.name for path in archive_path(job.pk).parent.iterdir()] == [f"{job.pk}.zip"]


@pytest.mark.django_db(transaction=True)
def test_two_builders_never_take_the_same_job():
    jobs = {_pending(RiderFactory()).pk for _ in range(2)}

    claimed = race([export_claim_next, export_claim_next])

    assert {job.pk for job in claimed} == jobs
    assert export_claim_next() is None


def test_a_build_whose_lease_ran_out_passes_to_the_next_builder(rider):
    _pending(rider)
    slow = export_claim_next()
    ExportJob.objects.filter(pk=slow.pk).update(lease_expires_at=timezone.now())

    taken_over = export_claim_next()
    late = export_build(job=slow)
    done = export_build(job=taken_over)

    assert taken_over.pk == slow.pk
    assert taken_over.attempts == 2
    # The first builder's archive is thrown away; the second's is offered.
    assert late.state == ExportState.BUILDING
    assert done.state == ExportState.READY
    assert sorted(path.name for path in archive_path(slow.pk).parent.iterdir()) == [
        f"{slow.pk}.zip"
    ]


def test_a_job_that_keeps_failing_stops_being_tried_and_the_queue_goes_on(rider, other_rider):
    job = _pending(rider)
    ExportJob.objects.filter(pk=job.pk).update(attempts=MAX_BUILD_ATTEMPTS)
    behind = _pending(other_rider)
    assert export_claim_next().pk == behind.pk
    job.refresh_from_db()
    assert (job.state, job.failure) == (ExportState.FAILED, "Building it failed repeatedly.")


def test_an_export_being_built_when_the_account_is_deleted_is_thrown_away(rider):
    _pending(rider)
    claimed = export_claim_next()
    account_delete_own(rider=rider, password=TEST_PASSWORD)

    export_build(job=claimed)

    assert not ExportJob.objects.exists()
    assert list(archive_path(claimed.pk).parent.iterdir()) == []


def test_a_disk_that_refuses_the_archive_fails_the_export(rider, settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings.EXPORT_DIR = blocker / "exports"

    job, created = export_request(rider=rider)

    assert created
    assert (job.state, job.failure) == (ExportState.FAILED, "The archive could not be written.")
    # Failed is not open: asking again tries again.
    assert export_request(rider=rider)[1]


def test_build_exports_names_a_directory_it_cannot_write(settings, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings.EXPORT_DIR = blocker
    with pytest.raises(CommandError, match=f"EXPORT_DIR {blocker} cannot hold export archives"):
        call_command("build_exports")


def test_build_exports_builds_the_queue_and_expires_what_is_past_its_time(
    rider, other_rider, django_capture_on_commit_callbacks
):
    stale, _ = export_request(rider=rider)
    ExportJob.objects.filter(pk=stale.pk).update(expires_at=timezone.now())
    waiting = _pending(other_rider)
    out = io.StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("build_exports", stdout=out)

    assert ExportJob.objects.get(pk=stale.pk).state == ExportState.EXPIRED
    assert not archive_path(stale.pk).exists()
    assert ExportJob.objects.get(pk=waiting.pk).state == ExportState.READY
    assert out.getvalue().splitlines()[-1] == (
        "Built 1, failed 0, dropped 0, expired 1, removed 0 stray files."
    )


def test_finished_exports_are_forgotten_after_a_month(rider):
    old = ExportJob.objects.create(
        rider=rider, state=ExportState.DOWNLOADED, finished_at=timezone.now() - timedelta(days=31)
    )
    recent = ExportJob.objects.create(
        rider=rider, state=ExportState.DOWNLOADED, finished_at=timezone.now() - timedelta(days=1)
    )
    call_command("build_exports", stdout=io.StringIO())
    assert list(ExportJob.objects.values_list("pk", flat=True)) == [recent.pk]
    assert old.pk


def test_stray_archive_files_are_swept_once_old_and_only_ours(rider, export_dir, settings):
    offered, _ = export_request(rider=rider)
    export_dir.mkdir(parents=True, exist_ok=True)
    orphan = export_dir / "0f0e0d0c-0b0a-4909-8807-060504030201.zip"
    dead_build = export_dir / "0f0e0d0c-0b0a-4909-8807-060504030202.abcd1234.partial"
    fresh = export_dir / "0f0e0d0c-0b0a-4909-8807-060504030203.zip"
    someone_elses = export_dir / "notes.txt"
    for path in (orphan, dead_build, fresh, someone_elses):
        path.write_bytes(b"x")
    hours_ago = time.time() - settings.EXPORT_BUILD_TIMEOUT_SECONDS - 60
    for path in (orphan, dead_build, someone_elses, archive_path(offered.pk)):
        os.utime(path, (hours_ago, hours_ago))

    assert exports_sweep_orphans() == 2

    assert sorted(path.name for path in export_dir.iterdir()) == sorted(
        [f"{offered.pk}.zip", fresh.name, someone_elses.name]
    )


def test_archives_are_readable_by_their_owner_only(rider):
    job, _ = export_request(rider=rider)
    assert oct(archive_path(job.pk).stat().st_mode & 0o777) == "0o600"
    assert oct(archive_path(job.pk).parent.stat().st_mode & 0o777) == "0o700"


def _insert_logs(rider, count: int) -> None:
    """``count`` quality reports over the last hour, generated by PostgreSQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO telemetry_connectionlog
                (id, user_id, event_type, metrics, occurred_at, recorded_at, client_event_id)
            SELECT gen_random_uuid(), %(rider)s, 'quality_report',
                jsonb_build_object('rtt_ms', 40 + n %% 200, 'jitter_ms', n %% 30,
                                   'packet_loss_pct', (n %% 50) / 10.0),
                now() - make_interval(secs => n * 0.03), now(), 'bulk-' || n
            FROM generate_series(1, %(count)s) AS n
            """,
            {"rider": rider.pk, "count": count},
        )


def _build_exports_peak_kib() -> int:
    """Run build_exports in a process of its own, as cron would, on the test database; its
    peak resident memory in KiB."""
    measured = run_manage(
        "shell",
        "-c",
        "import resource; from django.core.management import call_command; "
        "call_command('build_exports'); "
        "print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)",
        env=server_environment(
            DJANGO_SETTINGS_MODULE="config.settings.test", EXPORT_DIR=str(settings.EXPORT_DIR)
        ),
        timeout=300,
    )
    assert measured.returncode == 0, measured.stderr
    line = next(line for line in measured.stdout.splitlines() if line.startswith("peak "))
    return int(line.split()[1])


@pytest.mark.django_db(transaction=True)
def test_a_hundred_thousand_logs_are_exported_in_the_memory_of_ten():
    small, large = RiderFactory(), RiderFactory()
    _insert_logs(small, 10)
    _insert_logs(large, 100_000)
    _pending(small)
    small_peak = _build_exports_peak_kib()
    _pending(large)
    large_peak = _build_exports_peak_kib()

    # Held whole, 100,000 rows would take well over 100 MB as Python objects; streamed from
    # the cursor 2,000 rows at a time into the zip on disk, they cost a few megabytes.
    print(f"build_exports peak: {small_peak} KiB for 10 logs, {large_peak} KiB for 100,000")
    assert large_peak - small_peak < 24 * 1024, (small_peak, large_peak)
    job = ExportJob.objects.get(rider=large)
    with zipfile.ZipFile(archive_path(job.pk)) as archive:
        readme = json.loads(archive.read("README.json"))
        with archive.open("connection_logs.jsonl") as logs:
            count = sum(1 for _ in logs)
    records = {entry["name"]: entry["records"] for entry in readme["files"]}
    assert records["connection_logs.jsonl"] == count == 100_000
