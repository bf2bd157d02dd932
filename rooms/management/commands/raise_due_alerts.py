"""Open every SOS whose countdown has ended: the ride's phones then get alert_raised. The
safety watch calls the same service every tick; this runs it once, for an operator or a
periodic job. Safe to run on several hosts at once."""

from django.core.management.base import BaseCommand

from rooms.alerts import RAISE_DUE_BATCH, alerts_raise_due


class Command(BaseCommand):
    help = (
        "Open every pending SOS whose countdown has ended, and tell its ride. Countdowns "
        "another run is opening are skipped (FOR UPDATE SKIP LOCKED), so each opens once."
    )

    def handle(self, *args, **options):
        opened = 0
        while True:
            batch = alerts_raise_due()
            opened += len(batch)
            if len(batch) < RAISE_DUE_BATCH:
                break
        self.stdout.write(f"alerts: {opened} SOS countdowns ended and raised")
