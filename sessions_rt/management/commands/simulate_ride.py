"""Ride a simulated group against a running server, with scripted incidents."""

import asyncio
import secrets

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from riders.auth_tokens import token_issue
from riders.services import rider_create
from rooms.models import RideAlert
from rooms.services import participant_join, room_create
from sessions_rt.simulation import INCIDENT_KINDS, Incident, RideSimulation, SimulatedRider

MAX_RIDERS = 50


def _incident(text: str) -> Incident:
    """kind:at[:riders[:seconds]], riders 1-based and comma-separated."""
    parts = text.split(":")
    if not 2 <= len(parts) <= 4 or parts[0] not in INCIDENT_KINDS:
        raise CommandError(
            f"--incident {text!r}: kind:at[:riders[:seconds]], kind one of "
            f"{', '.join(INCIDENT_KINDS)}, e.g. stop:20:2 or tunnel:30:1,2:20"
        )
    try:
        at = float(parts[1])
        riders = tuple(int(n) - 1 for n in parts[2].split(",") if n) if len(parts) > 2 else ()
        seconds = float(parts[3]) if len(parts) > 3 else 0.0
    except ValueError:
        raise CommandError(f"--incident {text!r}: times and riders must be numbers") from None
    return Incident(kind=parts[0], at_seconds=at, riders=riders, seconds=seconds)


class Command(BaseCommand):
    help = (
        "Open a ride of simulated riders (new accounts), connect each to the server's ride "
        "socket, ride them along a straight route sending a position a second, play the "
        "scripted incidents, then print the alerts the server raised and how long after "
        "each incident."
    )

    def add_arguments(self, parser):
        parser.add_argument("--server", default="http://127.0.0.1:8000")
        parser.add_argument("--riders", type=int, default=5, help=f"2 to {MAX_RIDERS}")
        parser.add_argument("--speed", type=float, default=60.0, help="km/h")
        parser.add_argument("--spacing", type=float, default=50.0, help="metres between riders")
        parser.add_argument("--duration", type=float, default=120.0, help="seconds")
        parser.add_argument(
            "--incident",
            action="append",
            default=[],
            help="kind:at[:riders[:seconds]], e.g. stop:20:2, silent:30:3, group_stop:40::30",
        )

    def handle(self, *args, server, riders, speed, spacing, duration, incident, **options):
        if not 2 <= riders <= MAX_RIDERS:
            raise CommandError(f"--riders must be from 2 to {MAX_RIDERS}")
        if not 0 <= speed <= 200 or not 0 < duration <= 3600 or not 0 <= spacing <= 5000:
            raise CommandError("--speed 0-200 km/h, --duration up to 3600 s, --spacing 0-5000 m")
        incidents = [_incident(text) for text in incident]
        for planned in incidents:
            if any(not 0 <= index < riders for index in planned.riders):
                raise CommandError(f"--incident names a rider outside 1-{riders}")
        room, accounts, keys = self._open_ride(riders)
        self.stdout.write(f"Simulated ride {room.code} with {riders} riders on {server}")
        simulation = RideSimulation(
            base_url=server,
            code=room.code,
            riders=[
                SimulatedRider(key=key, offset_m=index * spacing, speed_kmh=speed)
                for index, key in enumerate(keys)
            ],
            incidents=incidents,
        )
        report = asyncio.run(simulation.run(duration))
        for planned, began in report.incidents_began:
            self.stdout.write(f"incident {planned.kind} began at {began.isoformat()}")
        number = {rider.pk: index + 1 for index, rider in enumerate(accounts)}
        for alert in RideAlert.objects.filter(room=room).order_by("raised_at"):
            self.stdout.write(
                f"alert {alert.kind} for rider {number[alert.rider_id]} raised at "
                f"{alert.raised_at.isoformat()} ({alert.status})"
            )

    @staticmethod
    def _open_ride(count: int):
        tag = secrets.token_hex(4)
        with transaction.atomic():
            accounts = [
                rider_create(
                    username=f"sim-{tag}-{index + 1}",
                    email=f"sim-{tag}-{index + 1}@simulation.invalid",
                    password=None,
                )
                for index in range(count)
            ]
            room = room_create(creator=accounts[0], name=f"Simulated ride {tag}")
            for rider in accounts[1:]:
                participant_join(rider=rider, code=room.code)
        keys = [token_issue(rider=rider, device_name="simulator").key for rider in accounts]
        return room, accounts, keys
