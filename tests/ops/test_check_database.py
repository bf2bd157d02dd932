import json
import time
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from tests.ops.processes import CLOSED_DATABASE_URL, CLOSED_REDIS_URL, run_manage

# A closed port refuses at once; the command must not sit in a pool's timeout or a retry loop.
FAILURE_BUDGET_SECONDS = 10


def test_reports_both_servers_ok(test_database_env):
    result = run_manage("check_database", env=test_database_env)

    assert result.returncode == 0, result.stderr
    postgres_line, redis_line = result.stdout.strip().splitlines()
    assert postgres_line.startswith("PostgreSQL")
    assert " OK " in postgres_line
    assert redis_line.startswith("Redis")
    assert " OK " in redis_line
    assert "median round trip" in postgres_line
    assert " ms" in postgres_line
    assert "version" in redis_line


def test_json_output_describes_each_server(test_database_env):
    result = run_manage("check_database", "--json", "--pings", "3", env=test_database_env)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    postgres, redis = report["services"]["postgresql"], report["services"]["redis"]
    assert postgres["ok"]
    assert redis["ok"]
    assert postgres["version"].split(".")[0].isdigit()
    assert redis["version"].count(".") == 2
    assert postgres["latency_ms"] >= 0
    assert redis["latency_ms"] >= 0
    assert postgres["error"] is None
    assert redis["error"] is None


def test_both_servers_down_fails_quickly_with_one_line():
    started = time.monotonic()
    result = run_manage(
        "check_database", env={"DATABASE_URL": CLOSED_DATABASE_URL, "REDIS_URL": CLOSED_REDIS_URL}
    )

    assert time.monotonic() - started < FAILURE_BUDGET_SECONDS
    assert result.returncode != 0
    postgres_line, redis_line = result.stdout.strip().splitlines()
    assert "FAILED" in postgres_line
    assert "127.0.0.1:1/convoy" in postgres_line
    assert "FAILED" in redis_line
    assert "127.0.0.1:1/0" in redis_line
    assert "Traceback" not in result.stderr
    [reason] = result.stderr.strip().splitlines()
    assert "PostgreSQL check failed" in reason
    assert "Redis check failed" in reason
    assert "Connection refused" in reason


def test_database_down_redis_up():
    result = run_manage("check_database", env={"DATABASE_URL": CLOSED_DATABASE_URL})

    assert result.returncode != 0
    postgres_line, redis_line = result.stdout.strip().splitlines()
    assert "FAILED" in postgres_line
    assert " OK " in redis_line
    [reason] = result.stderr.strip().splitlines()
    assert "PostgreSQL check failed" in reason
    assert "Redis" not in reason


def test_redis_down_database_up(test_database_env):
    result = run_manage("check_database", env={**test_database_env, "REDIS_URL": CLOSED_REDIS_URL})

    assert result.returncode != 0
    postgres_line, redis_line = result.stdout.strip().splitlines()
    assert " OK " in postgres_line
    assert "FAILED" in redis_line
    [reason] = result.stderr.strip().splitlines()
    assert reason.startswith("CommandError: Redis check failed")


def test_json_output_when_down_is_still_json():
    result = run_manage(
        "check_database",
        "--json",
        env={"DATABASE_URL": CLOSED_DATABASE_URL, "REDIS_URL": CLOSED_REDIS_URL},
    )

    assert result.returncode != 0
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["services"]["postgresql"]["ok"] is False
    assert "Connection refused" in report["services"]["postgresql"]["error"]
    assert report["services"]["redis"]["latency_ms"] is None


@pytest.mark.django_db
def test_runs_in_process_against_the_test_database():
    out = StringIO()

    call_command("check_database", "--json", "--pings", "2", stdout=out)

    report = json.loads(out.getvalue())
    assert report["ok"] is True
    test_database = settings.DATABASES["default"]["NAME"]
    assert report["services"]["postgresql"]["target"].endswith(f"/{test_database}")
