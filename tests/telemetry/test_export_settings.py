"""The export settings come from the environment like every other: a malformed one stops
start-up with one line naming it."""

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_path
from tests.ops.processes import CLOSED_DATABASE_URL, CLOSED_REDIS_URL, run_manage


def test_env_path_takes_an_absolute_path_and_defaults(monkeypatch):
    monkeypatch.delenv("EXPORT_DIR", raising=False)
    assert env_path("EXPORT_DIR", Path("/srv/default")) == Path("/srv/default")
    monkeypatch.setenv("EXPORT_DIR", " /var/lib/convoy/exports ")
    assert env_path("EXPORT_DIR", Path("/srv/default")) == Path("/var/lib/convoy/exports")


@pytest.mark.parametrize("raw", ["exports", "./exports", "~/exports"])
def test_env_path_refuses_what_is_not_an_absolute_path(monkeypatch, raw):
    monkeypatch.setenv("EXPORT_DIR", raw)
    with pytest.raises(ImproperlyConfigured, match=r"^EXPORT_DIR must be an absolute path, got "):
        env_path("EXPORT_DIR", Path("/srv/default"))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EXPORT_DIR", "relative/exports"),
        ("EXPORT_EXPIRY_HOURS", "0"),
        ("EXPORT_INLINE_MAX_ROWS", "-1"),
        ("EXPORT_BUILD_TIMEOUT_SECONDS", "soon"),
    ],
)
def test_a_malformed_export_setting_stops_start_up_with_one_line(variable, value):
    result = run_manage(
        "check",
        env={"DATABASE_URL": CLOSED_DATABASE_URL, "REDIS_URL": CLOSED_REDIS_URL, variable: value},
        isolate=True,
    )
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"convoy: configuration error: {variable} must be ")
