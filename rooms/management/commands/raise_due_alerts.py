"""Open every SOS whose countdown has ended (the ride's phones then get alert_raised), then
mark the alerts nobody in the ride answered for the riders' emergency contacts. The safety
watch calls the same services every tick; this runs them once, for an operator or a periodic
job. Safe to run on several hosts at once."""

from django.conf import settings
from django.core.management.base import BaseCommand

from rooms.alert_escalation import alerts_escalate_due
from rooms.alerts import RAISE_DUE_BATCH, alerts_raise_due


class Command(BaseCommand):
    help = (
        "Open every pending SOS whose countdown has ended, and tell its ride (countdowns "
        "another run is opening are skipped, so each opens once); then write a notice for "
        "each emergency contact of an SOS or silent-rider alert still open "
        "ALERT_CONTACT_AFTER_SECONDS after the ride was told (each notice once)."
    )

    def handle(self, *args, **options):
        opened = 0
        while True:
            batch = alerts_raise_due()
            opened += len(batch)
            if len(batch) < RAISE_DUE_BATCH:
                break
        notices = alerts_escalate_due()
        self.stdout.write(
            f"alerts: {opened} SOS countdowns ended and raised; {notices} emergency contact "
            f"notices written for alerts open over {settings.ALERT_CONTACT_AFTER_SECONDS} s"
        )
