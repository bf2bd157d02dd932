import io
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from telemetry.models import ConnectionLog
from tests.telemetry.factories import ConnectionLogFactory

pytestmark = pytest.mark.django_db

COMMAND = "cleanup_connection_logs"
# Whole daily partitions before the cutoff (empty ones included) are listed first.
DROPPED = (
    r"(?:Dropped partition telemetry_connectionlog_p\d{8} \(\d{4}-\d\d-\d\d, [\d,]+ logs\)\n)*"
)
WHOLE = r"(?: \(\d+ whole partitions?, [\d,]+ rows deleted\))?"
SUMMARY = re.compile(
    DROPPED + r"Deleted (?P<count>[\d,]+) connection logs? older than "
    r"(?P<cutoff>\d{4}-\d\d-\d\d \d\d:\d\d) UTC" + WHOLE + r" in (?P<batches>\d+) batch(es)? "
    r"\(\d+\.\d s\)\.\n$"
)
REPO = Path(__file__).resolve().parents[2]


class TerminalOutput(io.StringIO):
    def isatty(self):
        return True


def ago(**delta):
    return timezone.now() - timedelta(**delta)


def run(*args, stdout=None, **options):
    out = stdout or io.StringIO()
    call_command(COMMAND, *args, stdout=out, **options)
    return out.getvalue()


def assert_cutoff_near(text, expected):
    cutoff = datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert abs(cutoff - expected.replace(second=0, microsecond=0)) <= timedelta(minutes=1)


def test_deletes_logs_older_than_the_given_days_and_says_so(rider):
    for days in (45, 31):
        ConnectionLogFactory(user=rider, occurred_at=ago(days=days))
    kept = ConnectionLogFactory(user=rider, occurred_at=ago(days=29))
    output = run("--older-than", "30d")
    match = SUMMARY.fullmatch(output)
    assert match, output
    assert (match["count"], match["batches"]) == ("2", "1")
    assert_cutoff_near(match["cutoff"], ago(days=30))
    assert list(ConnectionLog.objects.values_list("pk", flat=True)) == [kept.pk]
    assert "\r" not in output


@pytest.mark.parametrize(
    ("age", "old", "young"),
    [("12h", {"hours": 13}, {"hours": 11}), ("90m", {"minutes": 95}, {"minutes": 85})],
)
def test_ages_in_hours_and_minutes(rider, age, old, young):
    ConnectionLogFactory(user=rider, occurred_at=ago(**old))
    kept = ConnectionLogFactory(user=rider, occurred_at=ago(**young))
    output = run(older_than=age)
    assert SUMMARY.fullmatch(output)["count"] == "1"
    assert list(ConnectionLog.objects.values_list("pk", flat=True)) == [kept.pk]


def test_the_default_age_is_the_retention_setting(rider, settings):
    settings.TELEMETRY_RETENTION_DAYS = 10
    ConnectionLogFactory(user=rider, occurred_at=ago(days=11))
    kept = ConnectionLogFactory(user=rider, occurred_at=ago(days=9))
    output = run()
    match = SUMMARY.fullmatch(output)
    assert match["count"] == "1"
    assert_cutoff_near(match["cutoff"], ago(days=10))
    assert list(ConnectionLog.objects.values_list("pk", flat=True)) == [kept.pk]


def test_counts_are_grouped_by_thousands_and_batches_counted(rider):
    moment = ago(days=40)
    ConnectionLog.objects.bulk_create(
        ConnectionLogFactory.build(user=rider, occurred_at=moment) for _ in range(1200)
    )
    output = run("--older-than", "30d", "--batch-size", "500")
    match = SUMMARY.fullmatch(output)
    assert (match["count"], match["batches"]) == ("1,200", "3")
    assert not ConnectionLog.objects.exists()


def test_dry_run_reports_and_deletes_nothing(rider):
    for days in (40, 35, 31):
        ConnectionLogFactory(user=rider, occurred_at=ago(days=days))
    output = run("--older-than", "30d", "--dry-run", "--batch-size", "2")
    assert re.fullmatch(
        DROPPED.replace("Dropped", "Would drop")
        + r"Would delete 3 connection logs older than \d{4}-\d\d-\d\d \d\d:\d\d UTC"
        + WHOLE
        + r" in 2 batches \(dry run: nothing deleted\)\.\n",
        output,
    ), output
    assert ConnectionLog.objects.count() == 3


def test_a_terminal_sees_progress_on_one_line(rider):
    for minutes in range(5):
        ConnectionLogFactory(user=rider, occurred_at=ago(days=31, minutes=minutes))
    output = run("--older-than", "30d", "--batch-size", "2", stdout=TerminalOutput())
    progress, summary = output.split("\n", 1)
    assert progress == "\rdeleted 2/5 (40%)\rdeleted 4/5 (80%)\rdeleted 5/5 (100%)"
    match = SUMMARY.fullmatch(summary)
    assert (match["count"], match["batches"]) == ("5", "3")


def test_nothing_to_delete(rider):
    ConnectionLogFactory(user=rider, occurred_at=ago(days=1))
    output = run("--older-than", "30d", stdout=TerminalOutput())
    assert SUMMARY.fullmatch(output)["count"] == "0"
    assert ConnectionLog.objects.count() == 1


@pytest.mark.parametrize("age", ["abc", "0d", "-3d", "30", "30w", "d", "1.5d", "", "99999999999d"])
def test_a_malformed_age_is_a_command_error(rider, age):
    ConnectionLogFactory(user=rider, occurred_at=ago(days=400))
    with pytest.raises(CommandError, match="--older-than must be"):
        run(older_than=age)
    assert ConnectionLog.objects.count() == 1


@pytest.mark.parametrize("size", [0, -1])
def test_a_batch_size_below_one_is_a_command_error(rider, size):
    ConnectionLogFactory(user=rider, occurred_at=ago(days=400))
    with pytest.raises(CommandError, match="--batch-size must be a whole number of at least 1"):
        run("--older-than", "30d", batch_size=size)
    assert ConnectionLog.objects.count() == 1


def test_arguments_are_checked_when_parsed_from_a_command_line():
    with pytest.raises(CommandError, match="--older-than must be"):
        run("--older-than=-3d")
    with pytest.raises(CommandError, match="invalid int value"):
        run("--batch-size", "many")


def test_a_bad_argument_exits_non_zero_with_one_line_and_no_traceback():
    finished = subprocess.run(
        [sys.executable, "manage.py", COMMAND, "--skip-checks", "--older-than", "abc"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 1
    assert "Traceback" not in finished.stderr
    assert finished.stderr.strip().splitlines()[-1] == (
        "CommandError: --older-than must be a whole number followed by d, h or m "
        "(e.g. 30d), got 'abc'."
    )
