"""Deliver the mail that is due: retries after a failed attempt, and anything a stopped
server left behind. Safe to run on several hosts at once."""

import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from riders.email_tokens import email_tokens_purge_spent
from riders.mail import mail_deliver_due, mail_purge_finished
from riders.outbox import Outcome


class Command(BaseCommand):
    help = (
        "Attempt every pending mail that is due, in batches claimed with FOR UPDATE SKIP "
        "LOCKED (runs side by side never send the same mail), then delete finished mail rows "
        "older than MAIL_RETENTION_DAYS and the mailed links spent or expired as long ago. With --loop, repeat every --interval seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=50, metavar="N")
        parser.add_argument("--loop", action="store_true", help="keep delivering until stopped")
        parser.add_argument("--interval", type=int, default=15, metavar="SECONDS")

    def handle(self, *args, batch_size, loop, interval, **options):
        if not 1 <= batch_size <= 1000:
            raise CommandError(f"--batch-size must be from 1 to 1000, got {batch_size}.")
        if not 1 <= interval <= 3600:
            raise CommandError(f"--interval must be from 1 to 3600 seconds, got {interval}.")
        while True:
            self._run_once(batch_size)
            if not loop:
                return
            time.sleep(interval)

    def _run_once(self, batch_size: int) -> None:
        counts = mail_deliver_due(batch_size=batch_size)
        retention = timedelta(days=settings.MAIL_RETENTION_DAYS)
        purged = mail_purge_finished(older_than=retention)
        links = email_tokens_purge_spent(older_than=retention)
        self.stdout.write(
            f"mail: {counts[Outcome.SENT]} sent, {counts[Outcome.RETRY]} to retry later, "
            f"{counts[Outcome.FAILED]} given up, {counts[Outcome.EXPIRED]} expired, "
            f"{counts[Outcome.SUPERSEDED]} taken over by another run; "
            f"{purged} finished rows and {links} spent links older than "
            f"{settings.MAIL_RETENTION_DAYS} days deleted"
        )
