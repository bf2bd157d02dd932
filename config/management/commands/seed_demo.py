"""Fill the database with a demo: riders, rides and a week of connection logs.

Idempotent: riders are found by username and rooms by name and creator before anything is
created, and logs carry deterministic client_event_ids, so a second run adds nothing.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from config.errors import DomainError
from config.management.demo import (
    RIDERS,
    ROOMS,
    STAFF_USERNAME,
    DemoRoom,
    demo_logs,
    tunnel_story,
)
from riders.models import Rider
from riders.roles import SUPPORT
from riders.selectors import rider_find_by_username
from riders.services import rider_create, rider_set_staff_role
from rooms.models import Room, RoomParticipant
from rooms.services import participant_join, room_create, room_deactivate
from telemetry.models import ConnectionLog

DEFAULT_PASSWORD = "convoy-demo-ride"
DEFAULT_SEED = 2026


@dataclass
class Tally:
    created: int = 0
    present: int = 0
    created_names: set[str] = field(default_factory=set)


class Command(BaseCommand):
    help = "Create demo riders, rides and a week of connection logs; safe to run again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=DEFAULT_PASSWORD,
            help=f"Password of the riders it creates (default {DEFAULT_PASSWORD!r}).",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=DEFAULT_SEED,
            help=f"Seed of the generated logs; one seed, one data set (default {DEFAULT_SEED}).",
        )
        parser.add_argument(
            "--in-production",
            action="store_true",
            help="Seed even under the production settings.",
        )

    def handle(self, *args, password: str, seed: int, in_production: bool, **options):
        if settings.SETTINGS_MODULE.endswith(".production") and not in_production:
            raise CommandError(
                "seed_demo creates a staff account with a known password; "
                "pass --in-production to seed a production database anyway"
            )
        tallies = {name: Tally() for name in ("riders", "rooms", "participations", "logs")}
        try:
            with transaction.atomic():
                riders = _seed_riders(password, tallies["riders"])
                _give_support_role(riders[STAFF_USERNAME])
                rooms = _seed_rooms(riders, tallies["rooms"], tallies["participations"])
                _seed_logs(seed, riders, rooms, tallies["logs"])
                _fit_rides_to_their_logs(rooms)
        except DomainError as exc:
            raise CommandError(_describe(exc)) from None
        self._report(tallies, password=password, seed=seed, rooms=rooms)

    def _report(
        self, tallies: dict[str, Tally], *, password: str, seed: int, rooms: dict[str, Room]
    ) -> None:
        self.stdout.write(f"Demo data (seed {seed}):")
        for name, tally in tallies.items():
            self.stdout.write(
                f"  {name:<15} created {tally.created:>5}, already present {tally.present:>5}"
            )
        if STAFF_USERNAME in tallies["riders"].created_names:
            login = f"{STAFF_USERNAME} / {password}"
        else:
            login = f"{STAFF_USERNAME} (password as set when the demo was first seeded)"
        self.stdout.write(f"Staff login: {login}")
        open_room = next(room for room in rooms.values() if room.is_active)
        self.stdout.write(f"Join the ride {open_room.name!r} with the code {open_room.code}")


def _seed_riders(password: str, tally: Tally) -> dict[str, Rider]:
    riders = {}
    for spec in RIDERS:
        rider = rider_find_by_username(username=spec.username)
        if rider is None:
            rider = rider_create(
                username=spec.username,
                email=spec.email,
                password=password,
                display_name=spec.display_name,
                is_staff=spec.is_staff,
            )
            tally.created += 1
            tally.created_names.add(spec.username)
        else:
            tally.present += 1
        riders[spec.username] = rider
    return riders


def _give_support_role(staff: Rider) -> None:
    """The demo staff account answers riders as Support staff of the admin console."""
    if not staff.groups.filter(name=SUPPORT).exists():
        rider_set_staff_role(rider=staff, role="support", actor=None)


def _seed_rooms(riders: dict[str, Rider], tally: Tally, joins: Tally) -> dict[str, Room]:
    rooms = {}
    for spec in ROOMS:
        creator = riders[spec.creator]
        room = Room.objects.filter(creator=creator, name=spec.name).order_by("created_at").first()
        if room is None:
            room = _create_room(spec, riders)
            tally.created += 1
            joins.created += 1 + len(spec.members)
        else:
            tally.present += 1
            joins.present += RoomParticipant.objects.filter(room=room).count()
        rooms[spec.name] = room
    return rooms


def _create_room(spec: DemoRoom, riders: dict[str, Rider]) -> Room:
    creator = riders[spec.creator]
    room = room_create(creator=creator, name=spec.name, max_participants=spec.capacity)
    for username in spec.members:
        participant_join(rider=riders[username], code=room.code)
    if spec.ended:
        room = room_deactivate(room=room, actor=creator)
    return room


def _seed_logs(seed: int, riders: dict[str, Rider], rooms: dict[str, Room], tally: Tally) -> None:
    prefix = f"demo-{seed}-"
    before = ConnectionLog.objects.filter(client_event_id__startswith=prefix).count()
    logs = [
        ConnectionLog(
            user=riders[log.username],
            room=rooms[log.room_name],
            event_type=log.event_type,
            metrics=log.metrics,
            occurred_at=log.occurred_at,
            recorded_at=log.recorded_at,
            client_event_id=log.client_event_id,
        )
        for log in (
            *demo_logs(seed=seed, anchor=_start_of_today()),
            *tunnel_story(day_start=_start_of_today() - timedelta(days=1), seed=seed),
        )
    ]
    # (user, client_event_id) is unique: the logs of an earlier run are skipped.
    ConnectionLog.objects.bulk_create(logs, batch_size=1000, ignore_conflicts=True)
    after = ConnectionLog.objects.filter(client_event_id__startswith=prefix).count()
    tally.created = after - before
    tally.present = len(logs) - tally.created


def _fit_rides_to_their_logs(rooms: dict[str, Room]) -> None:
    """A ride's time holds its logs: it opened a minute before its first event and, if it
    ended, ended just after its last (the rooms are created now, their stories lie in the
    past). A demo-only correction of the stored times; nothing in the app moves them."""
    for room in rooms.values():
        span = ConnectionLog.objects.filter(room=room).aggregate(
            first=Min("occurred_at"), last=Max("occurred_at")
        )
        if span["first"] is None:
            continue
        opened = span["first"] - timedelta(minutes=1)
        changes: dict[str, datetime] = {"created_at": opened}
        if not room.is_active:
            changes["deactivated_at"] = span["last"] + timedelta(seconds=10)
        Room.objects.filter(pk=room.pk).update(**changes)
        RoomParticipant.objects.filter(room=room, joined_at__gt=opened).update(joined_at=opened)
        if not room.is_active:
            RoomParticipant.objects.filter(room=room).update(left_at=changes["deactivated_at"])
        for name, value in changes.items():
            setattr(room, name, value)


def _start_of_today() -> datetime:
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


def _describe(exc: DomainError) -> str:
    details = "; ".join(
        f"{field}: {' '.join(str(message) for message in messages)}"
        for field, messages in exc.fields.items()
    )
    return f"{exc.message} ({details})" if details else exc.message
