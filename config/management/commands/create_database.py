"""Create the configured PostgreSQL database on its server, unless it is already there."""

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg import errors, sql

from config.database import connection_error_reason, describe_database, direct_connection_params

# The database a server always has, to connect to before ours exists; some hosted servers
# drop "postgres", never "template1".
MAINTENANCE_DATABASES = ("postgres", "template1")


class Command(BaseCommand):
    help = "Create the database named by DATABASE_URL (or DB_NAME) if it does not exist."
    # Runs before the database exists: no start-up checks first.
    requires_system_checks = []

    def handle(self, *args, verbosity=1, **options):
        say = self.stdout.write if verbosity >= 1 else (lambda message: None)
        name = settings.DATABASES["default"]["NAME"]
        where = describe_database()
        try:
            with _connect_to_maintenance_database() as conn:
                if _database_exists(conn, name):
                    say(f"Database {name!r} already exists ({where})")
                    return
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except errors.DuplicateDatabase:
            # Another process created it between our look and our create.
            say(f"Database {name!r} already exists ({where})")
            return
        except errors.InsufficientPrivilege as exc:
            raise CommandError(
                f"PostgreSQL at {where} refused to create the database: "
                f"{connection_error_reason(exc)}"
            ) from None
        except psycopg.OperationalError as exc:
            raise CommandError(
                f"PostgreSQL at {where} is unreachable: {connection_error_reason(exc)}"
            ) from None
        say(self.style.SUCCESS(f"Database {name!r} created ({where})"))


def _connect_to_maintenance_database() -> psycopg.Connection:
    *preferred, fallback = MAINTENANCE_DATABASES
    for dbname in preferred:
        try:
            return _connect(dbname)
        except psycopg.OperationalError as exc:
            if "does not exist" not in str(exc):
                raise
    return _connect(fallback)


def _connect(dbname: str) -> psycopg.Connection:
    # CREATE DATABASE cannot run inside a transaction.
    return psycopg.connect(**direct_connection_params(dbname=dbname), autocommit=True)


def _database_exists(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return row is not None
