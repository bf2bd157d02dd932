from uuid import UUID

from django.db.models import Prefetch
from django.db.models.functions import Lower

from config.identifiers import parse_uuid
from riders.errors import RiderNotFound
from riders.models import Rider
from rooms.models import RoomParticipant


def rider_get(*, rider_id: UUID | str) -> Rider:
    rider = Rider.objects.filter(pk=parse_uuid(rider_id, what="rider_id")).first()
    if rider is None:
        raise RiderNotFound()
    return rider


def rider_get_by_username(*, username: str) -> Rider:
    rider = rider_find_by_username(username=username)
    if rider is None:
        raise RiderNotFound(f"No rider is called {username!r}.")
    return rider


def rider_find_by_username(*, username: str) -> Rider | None:
    # lower(username) = ... matches the case-insensitive unique index exactly.
    return (
        Rider.objects.alias(username_lower=Lower("username"))
        .filter(username_lower=str(username).strip().lower())
        .first()
    )


def rider_get_by_email(*, email: str) -> Rider:
    rider = rider_find_by_email(email=email)
    if rider is None:
        raise RiderNotFound("No rider has that email address.")
    return rider


def rider_find_by_email(*, email: str) -> Rider | None:
    return (
        Rider.objects.alias(email_lower=Lower("email"))
        .filter(email_lower=str(email).strip().lower())
        .first()
    )


def rider_with_rooms(*, rider_id: UUID | str) -> Rider:
    """The rider with ``room_participations``: every room they joined, newest first.

    Two queries whatever the number of rooms: the rider, then participations joined to rooms.
    """
    memberships = RoomParticipant.objects.select_related("room").order_by("-joined_at")
    rider = (
        Rider.objects.filter(pk=parse_uuid(rider_id, what="rider_id"))
        .prefetch_related(
            Prefetch("participations", queryset=memberships, to_attr="room_participations")
        )
        .first()
    )
    if rider is None:
        raise RiderNotFound()
    return rider
