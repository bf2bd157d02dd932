"""Running manage.py in a child process, the way an operator runs it."""

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

from django.conf import settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Where a child process would otherwise look for its servers and settings.
CONFIGURATION_PREFIXES = (
    "DATABASE_URL",
    "DB_",
    "REDIS_",
    "LOG_",
    "METRICS_",
    "PROMETHEUS_",
    "EMAIL_",
)

# What production settings require of mail besides the servers; never contacted by `check`.
PRODUCTION_MAIL = {
    "EMAIL_HOST": "smtp.example.com",
    "EMAIL_FROM": "Convoy <no-reply@example.com>",
    "CONVOY_PUBLIC_URL": "https://convoy.example.com",
}

CLOSED_DATABASE_URL = "postgresql://postgres@127.0.0.1:1/convoy"
CLOSED_REDIS_URL = "redis://127.0.0.1:1/0"


def run_manage(
    *args: str,
    env: dict[str, str] | None = None,
    isolate: bool = False,
    timeout: float = 30,
    user: int | None = None,
) -> subprocess.CompletedProcess:
    """Run manage.py in a child process, as an operator would.

    The child inherits this process's environment, so it reaches the same servers: those of
    DATABASE_URL and REDIS_URL, which the test run sets to the embedded ones' when the shell
    names none. ``isolate`` drops every database, Redis and logging variable first, so only
    ``env`` configures it (and manage.py starts the embedded servers for what it leaves out).
    """
    child_env = {
        name: value
        for name, value in os.environ.items()
        if not (isolate and name.startswith(CONFIGURATION_PREFIXES))
    }
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        user=user,
    )


def database_url_for(name: str, **params: str) -> str:
    """A DATABASE_URL for the named database on the server the tests use, with ``params``
    (application_name=...) as its query string."""
    db = settings.DATABASES["default"]
    user = quote(db["USER"] or "postgres", safe="")
    credentials = f"{user}:{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else user
    host, port = db["HOST"] or "localhost", db["PORT"] or 5432
    if host.startswith("/"):  # the embedded server's socket directory
        params = {"host": host, **params}
        host = ""
    query = f"?{urlencode(params)}" if params else ""
    return f"postgresql://{credentials}@{host}:{port}/{quote(name)}{query}"


def server_environment(database_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a test server on the test database and the test Redis, with a
    small pool so several servers fit in the suite's footprint."""
    return {
        "DATABASE_URL": database_url or database_url_for(settings.DATABASES["default"]["NAME"]),
        "REDIS_URL": settings.REDIS_URL,
        "CONVOY_KEY_PREFIX": "convoy-test-ops",
        "LOG_LEVEL": "WARNING",
        "DB_POOL_SIZE": "2",
        "DB_CONNECTION_LIMIT": "6",
        **extra,
    }


def stop_process(process: subprocess.Popen, *, timeout: float = 15) -> None:
    """SIGTERM, as a deploy sends it; one that has not stopped after ``timeout`` seconds is
    killed, and the test fails: a command that ignores SIGTERM is a bug."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
