"""Staff of each kind, logged-in admin clients, and a ride with riders in it."""

import uuid
from dataclasses import dataclass

import pytest
from django.test import Client

from config.redis_config import redis_client
from riders.models import Rider
from riders.roles import staff_roles_sync
from riders.services import rider_set_staff_role
from rooms.models import Room
from rooms.services import participant_join, room_create
from sessions_rt.store import keys
from tests.riders.factories import RiderFactory
from tests.sessions_rt.conftest import delete_keys

# Each kind of staff member: the role given with set_staff_role, or how the account is made.
STAFF_KINDS = ("support", "moderator", "plain_staff", "superuser")


def make_staff(kind: str) -> Rider:
    if kind == "superuser":
        return RiderFactory(
            username=f"root-{uuid.uuid4().hex[:6]}", is_staff=True, is_superuser=True
        )
    rider = RiderFactory(username=f"{kind}-{uuid.uuid4().hex[:6]}", is_staff=True)
    if kind in ("support", "moderator"):
        rider = rider_set_staff_role(rider=rider, role=kind, actor=None)
    return rider


@pytest.fixture(autouse=True)
def staff_roles(db):
    """The role groups, as the data migration made them (a transactional test's flush empties
    them; post_migrate puts them back, and this makes sure of it)."""
    staff_roles_sync()


@pytest.fixture(autouse=True)
def isolated_redis_prefix(settings):
    """Live state of this test only, under a key prefix of its own."""
    settings.CONVOY_KEY_PREFIX = f"convoy-admin-test-{uuid.uuid4().hex[:12]}"
    redis = redis_client()
    yield
    delete_keys(redis, f"{keys.key_prefix()}:*")


@pytest.fixture
def staff_client():
    """``staff_client(kind)``: a logged-in admin client and its staff member."""

    def make(kind: str) -> tuple[Client, Rider]:
        member = make_staff(kind)
        client = Client()
        client.force_login(member)
        return client, member

    return make


@dataclass
class Ride:
    room: Room
    leader: Rider
    riders: list[Rider]


@pytest.fixture
def ride(db) -> Ride:
    """An open ride: its leader and two more riders in it."""
    leader = RiderFactory(username="leader-lena")
    room = room_create(creator=leader, name="Sunday Alps Loop")
    riders = [RiderFactory(username="marco-v2"), RiderFactory(username="nina-k")]
    for rider in riders:
        participant_join(rider=rider, code=room.code)
    return Ride(room=room, leader=leader, riders=riders)


# What a staff member types as the reason on a confirmation page.
REASON = {"reason": "Rider asked us to on the phone (ticket 4411)"}


def action_data(action: str, pks, *, select_across: bool = False) -> dict:
    return {
        "action": action,
        "_selected_action": [str(pk) for pk in pks],
        "index": 0,
        "select_across": "1" if select_across else "0",
    }


def action_post(client: Client, url: str, action: str, pks, *, select_across=False) -> object:
    """Run an admin action on the objects with these primary keys the way staff do: the list's
    POST, then, when it answers with the confirmation page, its POST with a reason; follows the
    redirect."""
    data = action_data(action, pks, select_across=select_across)
    first = client.post(url, data, follow=True)
    if first.status_code != 200 or b'name="confirm"' not in first.content:
        return first
    return client.post(url, {**data, "confirm": "yes", **REASON}, follow=True)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]
