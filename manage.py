#!/usr/bin/env python
"""Convoy's command-line entry point."""

import os
import sys

# Commands that must work, or explain themselves, while PostgreSQL is down.
COMMANDS_WITHOUT_DATABASE = {
    "help",
    "version",
    "check_database",
    "create_database",
    "makemigrations",
    "collectstatic",
    "spectacular",
}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    from django.core.management import execute_from_command_line

    from config.startup import (
        find_redis_master_or_exit,
        load_settings_or_exit,
        start_embedded_servers_or_exit,
        wait_for_database_or_exit,
    )

    # Settings only read the environment; with development or test settings and no servers
    # configured, this starts the embedded ones and exports their URLs, for this command and
    # every process it starts (the workers of `serve`).
    start_embedded_servers_or_exit()
    load_settings_or_exit()
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if command not in COMMANDS_WITHOUT_DATABASE and not command.startswith("-"):
        import django

        django.setup()
        find_redis_master_or_exit()
        wait_for_database_or_exit()
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
