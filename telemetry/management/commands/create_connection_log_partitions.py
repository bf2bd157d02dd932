"""Create the daily partitions of the connection log ahead of time; safe to run repeatedly."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from telemetry.services import connection_log_partitions_ensure


class Command(BaseCommand):
    help = (
        "Create the missing daily partitions of the connection log, from the retention horizon "
        "to --days-ahead days from today (default: TELEMETRY_PARTITION_DAYS_AHEAD). "
        "Partitions that exist are left alone."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days-ahead", type=int, default=None, metavar="N")

    def handle(self, *args, days_ahead, **options):
        if days_ahead is None:
            days_ahead = settings.TELEMETRY_PARTITION_DAYS_AHEAD
        if days_ahead < 0 or days_ahead > 366:
            raise CommandError(f"--days-ahead must be from 0 to 366, got {days_ahead}.")
        try:
            created = connection_log_partitions_ensure(days_ahead=days_ahead)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        for name in created:
            self.stdout.write(f"Created partition {name}")
        count = len(created)
        self.stdout.write(
            f"{count} {'partition' if count == 1 else 'partitions'} created; "
            f"daily partitions reach {days_ahead} days ahead."
        )
