"""Start-up for every entry point: load settings, or stop with one line saying what is wrong."""

import asyncio
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from django.core.exceptions import ImproperlyConfigured


def start_embedded_servers_or_exit() -> None:
    """Before settings load, with development or test settings: the embedded PostgreSQL and
    Redis for whichever the environment leaves unconfigured (config/embedded.py). Production
    settings start nothing; they name the variable that is missing."""
    from config import embedded

    if os.environ.get("DJANGO_SETTINGS_MODULE") not in embedded.EMBEDDED_SETTINGS_MODULES:
        return
    try:
        embedded.start_unconfigured_servers()
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"convoy: configuration error: {one_line(exc)}\n")
        raise SystemExit(2) from None


def load_settings_or_exit() -> None:
    from django.conf import settings

    from config.database import retry_attempts

    try:
        settings.INSTALLED_APPS  # noqa: B018 - importing the settings validates the environment
        # Read only when waiting for the database, yet a bad value must stop every command.
        retry_attempts()
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"convoy: configuration error: {one_line(exc)}\n")
        raise SystemExit(2) from None


def find_redis_master_or_exit() -> None:
    """With Redis behind Sentinel, one sentinel at least must answer with the master."""
    from django.conf import settings

    from config.redis_config import RedisUnreachable, check_sentinel

    if settings.REDIS_SENTINEL is None:
        return
    try:
        check_sentinel(settings.REDIS_SENTINEL)
    except RedisUnreachable as exc:
        sys.stderr.write(f"convoy: {one_line(exc)}\n")
        raise SystemExit(1) from None


def wait_for_database_or_exit() -> None:
    from config.database import DatabaseUnavailable, wait_for_database

    try:
        wait_for_database()
    except DatabaseUnavailable as exc:
        sys.stderr.write(f"convoy: {one_line(exc)}\n")
        raise SystemExit(1) from None


def one_line(exc: BaseException) -> str:
    """A message folded onto one line, so log collectors keep it as one record."""
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def boot() -> None:
    """Settings first, then django.setup(), then a database that answers."""
    import django

    load_settings_or_exit()
    django.setup()
    find_redis_master_or_exit()
    _outside_event_loop(wait_for_database_or_exit)


def _outside_event_loop(check) -> None:
    """uvicorn workers import the app inside their event loop, where Django refuses blocking
    database calls; run the check on a short-lived thread there (its connection closed after)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        check()
        return

    def check_and_close():
        from django.db import connection

        try:
            check()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(check_and_close).result()
