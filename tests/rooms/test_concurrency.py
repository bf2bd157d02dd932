"""Races on a real PostgreSQL: row locks and indexes, not Python, keep the invariants.

Every worker thread opens its own pooled connection and closes it when done, so the pool
(DB_CONNECTION_LIMIT, 20 by default) keeps serving the others.
"""

import threading
import time
from collections import Counter
from collections.abc import Callable

import psycopg
import pytest
from django.db import connection

from config.database import direct_connection_params
from riders.errors import EmailTaken, UsernameTaken
from riders.models import Rider
from riders.services import rider_create
from rooms.errors import RoomFull, RoomInactive
from rooms.models import Room, RoomParticipant
from rooms.services import JoinOutcome, participant_join, room_create, room_deactivate
from tests.racing import race
from tests.riders.factories import RiderFactory
from tests.rooms.factories import RoomFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _riders(count: int, prefix: str) -> list[Rider]:
    return Rider.objects.bulk_create(
        Rider(username=f"{prefix}{n:03d}", email=f"{prefix}{n:03d}@example.com", password="!")
        for n in range(count)
    )


def _kinds(results: list[object]) -> Counter:
    return Counter(type(result).__name__ for result in results)


def _join(rider: Rider, code: str) -> Callable[[], JoinOutcome]:
    return lambda: participant_join(rider=rider, code=code)


def test_two_hundred_riders_racing_for_ten_places():
    room = RoomFactory(max_participants=10)
    riders = _riders(200, "racer")

    results = race([_join(rider, room.code) for rider in riders])

    assert _kinds(results) == {"JoinOutcome": 10, "RoomFull": 190}
    assert RoomParticipant.objects.filter(room=room, is_active=True).count() == 10
    assert RoomParticipant.objects.filter(room=room).count() == 10
    # Each winner saw the count its own join produced: the joins ran one after another.
    counts = sorted(r.active_count for r in results if isinstance(r, JoinOutcome))
    assert counts == list(range(1, 11))
    assert all(r.extra == {"capacity": 10} for r in results if isinstance(r, RoomFull))


@pytest.mark.parametrize("repetition", range(5))
def test_a_rider_joining_two_rooms_at_once_ends_up_in_exactly_one(repetition):
    # Twenty riders each move twice, some left-then-right and some right-then-left: riders
    # swap between the same two rooms, which deadlocks if a join locks a second room row.
    riders = _riders(20, f"twin{repetition}x")
    start, left, right = (RoomFactory(max_participants=50) for _ in range(3))
    for rider in riders:
        participant_join(rider=rider, code=start.code)

    results = race([_join(rider, room.code) for rider in riders for room in (left, right)])

    assert _kinds(results) == {"JoinOutcome": 40}
    active = Counter(
        RoomParticipant.objects.filter(is_active=True).values_list("user_id", flat=True)
    )
    assert active == Counter({rider.pk: 1 for rider in riders})
    assert not RoomParticipant.objects.filter(room=start, is_active=True).exists()
    # Per rider, one join moved them out of the start room and the other out of the first.
    for rider_index in range(len(riders)):
        pair = results[2 * rider_index : 2 * rider_index + 2]
        assert sorted(outcome.left_room.pk == start.pk for outcome in pair) == [False, True]


LOCK_SQL = {
    "rider": "SELECT 1 FROM riders_rider WHERE id = %s FOR NO KEY UPDATE",
    "room": "SELECT 1 FROM rooms_room WHERE id = %s FOR NO KEY UPDATE",
}


def _wait_until_a_join_waits_for_a_lock(probe: psycopg.Connection, holder_pid: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        waiting = probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE '%%FOR NO KEY UPDATE%%' "
            "AND pid <> %s AND pid <> pg_backend_pid()",
            [holder_pid],
        ).fetchone()[0]
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("the join never waited for the held row")


@pytest.mark.parametrize(("held", "other"), [("room", "rider"), ("rider", "room")])
def test_a_join_locks_the_rider_before_the_room(held, other):
    """The one order of every membership change (rooms.services._lock_rider), in the join's
    single locking statement: a join waiting for the room already holds the rider; a join
    waiting for the rider holds nothing yet."""
    rider, room = RiderFactory(), RoomFactory()
    ids = {"rider": rider.pk, "room": room.pk}
    results = []

    def join():
        try:
            results.append(participant_join(rider=rider, code=room.code))
        finally:
            connection.close()

    with (
        psycopg.connect(**direct_connection_params()) as holder,
        psycopg.connect(**direct_connection_params(), autocommit=True) as probe,
    ):
        holder.execute(LOCK_SQL[held], [ids[held]])
        joining = threading.Thread(target=join, daemon=True)
        joining.start()
        _wait_until_a_join_waits_for_a_lock(probe, holder.info.backend_pid)
        try:
            probe.execute(LOCK_SQL[other] + " NOWAIT", [ids[other]])
            other_taken = False
        except psycopg.errors.LockNotAvailable:
            other_taken = True
        holder.rollback()
        joining.join(15)

    assert other_taken is (held == "room")
    assert [type(result) for result in results] == [JoinOutcome]


def _case_variants(base: str, count: int) -> list[str]:
    return [
        "".join(ch.upper() if (n >> k) & 1 else ch for k, ch in enumerate(base))
        for n in range(count)
    ]


def test_twenty_registrations_of_one_username_in_different_cases():
    names = _case_variants("convoyrider", 20)
    assert len(set(names)) == 20

    results = race(
        [
            lambda name=name, n=n: rider_create(
                username=name, email=f"signup{n}@example.com", password="gravel-switchback-77"
            )
            for n, name in enumerate(names)
        ]
    )

    assert _kinds(results) == {"Rider": 1, "UsernameTaken": 19}
    assert all(r.code == "username_taken" for r in results if isinstance(r, UsernameTaken))
    assert list(Rider.objects.values_list("username", flat=True)) == [
        next(r.username for r in results if isinstance(r, Rider))
    ]


def test_twenty_registrations_of_one_email_in_different_cases():
    emails = [f"{local}@example.com" for local in _case_variants("convoyrider", 20)]

    results = race(
        [
            lambda email=email, n=n: rider_create(
                username=f"signup{n}", email=email, password="gravel-switchback-77"
            )
            for n, email in enumerate(emails)
        ]
    )

    assert _kinds(results) == {"Rider": 1, "EmailTaken": 19}
    assert all(isinstance(r, Rider | EmailTaken) for r in results)
    assert Rider.objects.count() == 1


@pytest.mark.parametrize("repetition", range(3))
def test_deactivation_racing_with_joins_leaves_nobody_in_the_ended_room(repetition):
    leader = RiderFactory()
    room = room_create(creator=leader, name="Last ride", max_participants=50)
    joiners = _riders(30, f"late{repetition}x")
    work = [_join(rider, room.code) for rider in joiners]
    work.insert(len(work) // 2, lambda: room_deactivate(room=room, actor=leader))

    results = race(work)

    kinds = _kinds(results)
    assert kinds["Room"] == 1
    assert kinds["JoinOutcome"] + kinds["RoomInactive"] == 30
    assert all(isinstance(r, JoinOutcome | RoomInactive | Room) for r in results)
    stored = Room.objects.get(pk=room.pk)
    assert not stored.is_active
    assert not RoomParticipant.objects.filter(room=room, is_active=True).exists()
    # Whoever got in before the end was ended with the room, at its closing time.
    ended = RoomParticipant.objects.filter(room=room)
    assert ended.count() == kinds["JoinOutcome"] + 1
    assert set(ended.values_list("left_at", flat=True)) == {stored.deactivated_at}
