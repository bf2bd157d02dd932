"""Shared set-up of the telemetry benchmarks: a migrated database, riders and rooms."""

import argparse
import uuid

from django.core.management import call_command
from django.db import connection


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    """The size of the generated log table, shared by bench.stats and bench.cleanup so both
    run on the same rows."""
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--riders", type=int, default=2000)
    parser.add_argument("--rooms", type=int, default=300)


def prepare_database() -> None:
    """Create and migrate the database named by DATABASE_URL; create partitions ahead."""
    call_command("create_database", verbosity=0)
    call_command("migrate", verbosity=0)
    from telemetry.services import connection_log_partitions_ensure

    connection_log_partitions_ensure()


def riders_and_rooms(riders: int, rooms: int, *, prefix: str = "tb"):
    """Bench riders (in bulk, no password hashing) and rides; returns (riders, rooms)."""
    from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX

    from riders.models import Rider
    from rooms.services import room_create

    run = prefix + uuid.uuid4().hex[:6]
    made = Rider.objects.bulk_create(
        [
            Rider(
                username=f"{run}{n}",
                email=f"{run}{n}@bench.convoy",
                password=UNUSABLE_PASSWORD_PREFIX,
            )
            for n in range(riders)
        ],
        batch_size=1000,
    )
    rides = [
        room_create(creator=made[n % riders], name=f"Bench {run} {n}", max_participants=50)
        for n in range(rooms)
    ]
    return made, rides


def table_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM telemetry_connectionlog")
        return cursor.fetchone()[0]


def truncate_logs() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE telemetry_connectionlog")
