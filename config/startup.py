"""Start-up for every entry point: load settings, or stop with one line saying what is wrong."""

import sys

from django.core.exceptions import ImproperlyConfigured


def load_settings_or_exit() -> None:
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - importing the settings validates the environment
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"convoy: configuration error: {exc}\n")
        raise SystemExit(2) from None


def wait_for_database_or_exit() -> None:
    from config.database import DatabaseUnavailable, wait_for_database

    try:
        wait_for_database()
    except DatabaseUnavailable as exc:
        sys.stderr.write(f"convoy: {exc}\n")
        raise SystemExit(1) from None


def boot() -> None:
    """Settings first, then django.setup(), then a database that answers."""
    import django

    load_settings_or_exit()
    django.setup()
    wait_for_database_or_exit()
