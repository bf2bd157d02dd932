"""Watch every live ride for riders in trouble, until SIGTERM or SIGINT."""

import signal
import threading

from django.core.management.base import BaseCommand

from sessions_rt.watcher import watch_interval_seconds, watch_rides


class Command(BaseCommand):
    help = (
        "Evaluate the safety rules (split, stopped, silent rider) over every live ride every "
        "WATCH_INTERVAL_SECONDS and raise or resolve their alerts. Run one or more: each ride "
        "is leased to one watcher at a time. SIGTERM or SIGINT stops it, releasing its rides."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--interval",
            type=float,
            help="seconds between two evaluations of a ride (WATCH_INTERVAL_SECONDS)",
        )

    def handle(self, *args, interval, **options):
        if interval is not None and not 0.1 <= interval <= 30:
            self.stderr.write("convoy: --interval must be from 0.1 to 30 seconds")
            raise SystemExit(2)
        stop = threading.Event()

        def request_stop(signum, frame):
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        period = interval or watch_interval_seconds()
        self.stdout.write(f"Convoy watching rides every {period:g} s", ending="\n")
        self.stdout.flush()
        watch_rides(stop=stop, interval=period)
        self.stdout.write("Convoy watcher stopped; its rides are released.")
