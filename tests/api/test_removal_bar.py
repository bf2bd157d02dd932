"""A rider the ride's leader (or staff) removed cannot come back until readmitted.

Leaving on one's own bars nothing, and neither does the end of a ride. The leader lists the
removed riders and lets one back in; that lifts the bar but does not put them in the ride.
"""

import pytest

from riders.models import AuditAction, AuditEntry
from rooms.errors import NotInRoom, RemovedFromRide
from rooms.models import RoomParticipant
from rooms.services import (
    participant_join,
    participant_leave,
    participant_rejoin,
    participant_remove,
    room_create,
)
from tests.api.assertions import api_error
from tests.racing import race
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db


def _removed_from_a_ride():
    leader, removed, rider = RiderFactory(), RiderFactory(), RiderFactory()
    room = room_create(creator=leader, name="Furka pass")
    participant_join(rider=removed, code=room.code)
    participant_join(rider=rider, code=room.code)
    participant_remove(room=room, rider=removed, actor=leader)
    return room, leader, removed, rider


def _readmit(client, room, rider_id):
    return client.post(f"/api/v1/rooms/{room.code}/participants/{rider_id}/readmit/")


@pytest.mark.parametrize("how", ["join", "rejoin"])
def test_a_removed_rider_cannot_come_back_by_code_or_rejoin(auth_client, how):
    room, _leader, removed, _rider = _removed_from_a_ride()

    response = auth_client(removed).post(f"/api/v1/rooms/{room.code}/{how}/")

    api_error(response, 403, "removed_from_ride")
    assert not RoomParticipant.objects.filter(room=room, user=removed, is_active=True).exists()


def test_the_bar_holds_when_the_removed_rider_is_in_another_ride_meanwhile(auth_client):
    room, _leader, removed, _rider = _removed_from_a_ride()
    elsewhere = room_create(creator=removed, name="Solo")

    api_error(
        auth_client(removed).post(f"/api/v1/rooms/{room.code}/join/"), 403, "removed_from_ride"
    )

    # The refused join did not take them out of the ride they are in.
    assert RoomParticipant.objects.get(user=removed, is_active=True).room_id == elsewhere.pk


@pytest.mark.parametrize("by", ["leader", "staff"])
def test_readmitted_the_rider_may_join_again(auth_client, staff, by):
    room, leader, removed, _rider = _removed_from_a_ride()
    actor = leader if by == "leader" else staff

    assert _readmit(auth_client(actor), room, removed.pk).status_code == 204
    # Readmitting does not put them back in the ride.
    assert not RoomParticipant.objects.filter(room=room, user=removed, is_active=True).exists()
    joined = auth_client(removed).post(f"/api/v1/rooms/{room.code}/join/")

    assert joined.status_code == 200, joined.content
    assert joined.json()["participant"]["is_active"] is True
    entry = AuditEntry.objects.get(action=AuditAction.PARTICIPANT_READMITTED)
    assert (entry.actor, entry.details["rider_id"]) == (actor, str(removed.pk))


def test_removed_again_after_readmission_the_rider_is_barred_again(auth_client):
    room, leader, removed, _rider = _removed_from_a_ride()
    _readmit(auth_client(leader), room, removed.pk)
    participant_join(rider=removed, code=room.code)

    removal = auth_client(leader).delete(f"/api/v1/rooms/{room.code}/participants/{removed.pk}/")

    assert removal.status_code == 204
    api_error(
        auth_client(removed).post(f"/api/v1/rooms/{room.code}/join/"), 403, "removed_from_ride"
    )


def test_readmitting_twice_or_a_rider_never_removed_is_409(auth_client):
    room, leader, removed, rider = _removed_from_a_ride()
    client = auth_client(leader)

    assert _readmit(client, room, removed.pk).status_code == 204
    api_error(_readmit(client, room, removed.pk), 409, "not_removed")
    api_error(_readmit(client, room, rider.pk), 409, "not_removed")
    api_error(_readmit(client, room, RiderFactory().pk), 409, "not_removed")


def test_only_the_leader_and_staff_readmit(auth_client):
    room, _leader, removed, rider = _removed_from_a_ride()

    for who in (rider, removed, RiderFactory()):
        api_error(_readmit(auth_client(who), room, removed.pk), 403, "not_room_leader")
    assert RoomParticipant.objects.get(room=room, user=removed).removed_at is not None


@pytest.mark.parametrize(
    ("rider_id", "status", "code"),
    [
        ("not-a-uuid", 400, "invalid_identifier"),
        ("00000000-0000-0000-0000-000000000000", 404, None),
    ],
)
def test_readmitting_a_malformed_or_unknown_rider(auth_client, rider_id, status, code):
    room, leader, _removed, _rider = _removed_from_a_ride()

    response = _readmit(auth_client(leader), room, rider_id)

    assert response.status_code == status, response.content
    if code:
        assert response.json()["error"]["code"] == code


def test_readmit_takes_no_body(auth_client):
    room, leader, removed, _rider = _removed_from_a_ride()

    response = auth_client(leader).post(
        f"/api/v1/rooms/{room.code}/participants/{removed.pk}/readmit/",
        {"evil": 1},
        format="json",
    )

    api_error(response, 400, "invalid_request")
    assert RoomParticipant.objects.get(room=room, user=removed).removed_at is not None


def test_leaving_on_ones_own_and_the_end_of_a_ride_bar_nothing(auth_client):
    leader, rider = RiderFactory(), RiderFactory()
    room = room_create(creator=leader, name="Stelvio")
    participant_join(rider=rider, code=room.code)
    participant_leave(rider=rider, code=room.code)

    assert auth_client(rider).post(f"/api/v1/rooms/{room.code}/rejoin/").status_code == 200
    ended = auth_client(leader).post(f"/api/v1/rooms/{room.code}/deactivate/")
    assert ended.status_code == 200
    assert not RoomParticipant.objects.filter(room=room, removed_at__isnull=False).exists()


def test_the_leader_lists_the_removed_riders_newest_first(auth_client, staff):
    room, leader, removed, rider = _removed_from_a_ride()
    participant_remove(room=room, rider=rider, actor=leader)

    for viewer in (leader, staff):
        response = auth_client(viewer).get(f"/api/v1/rooms/{room.code}/removed/")
        assert response.status_code == 200, response.content
        listed = response.json()["results"]
        assert [entry["rider"]["id"] for entry in listed] == [str(rider.pk), str(removed.pk)]
        assert all(entry["removed_at"] for entry in listed)
    _readmit(auth_client(leader), room, rider.pk)
    after = auth_client(leader).get(f"/api/v1/rooms/{room.code}/removed/").json()["results"]
    assert [entry["rider"]["id"] for entry in after] == [str(removed.pk)]


def test_riders_of_the_ride_do_not_see_who_was_removed(auth_client):
    room, _leader, removed, rider = _removed_from_a_ride()

    for who in (rider, removed):
        api_error(
            auth_client(who).get(f"/api/v1/rooms/{room.code}/removed/"), 403, "not_room_leader"
        )


@pytest.mark.django_db(transaction=True)
def test_a_removal_racing_the_riders_rejoin_never_leaves_a_removed_rider_in_the_ride():
    """A rider who left rejoins at the instant the leader removes them. The room lock orders
    the two: rejoin first, then the removal takes them out and bars them; removal first
    finds them not in the ride (409), and the rejoin lets them in. Never a removed rider
    riding, nor a bar the leader was told failed."""
    for _ in range(6):
        leader, rider = RiderFactory(), RiderFactory()
        room = room_create(creator=leader, name="Race")
        participant_join(rider=rider, code=room.code)
        participant_leave(rider=rider, code=room.code)

        removal, rejoin = race(
            [
                lambda room=room, rider=rider, leader=leader: participant_remove(
                    room=room, rider=rider, actor=leader
                ),
                lambda room=room, rider=rider: participant_rejoin(rider=rider, room=room),
            ]
        )

        membership = RoomParticipant.objects.get(room=room, user=rider)
        if isinstance(removal, NotInRoom):
            assert not isinstance(rejoin, Exception), rejoin
            assert (membership.is_active, membership.removed_at) == (True, None)
        else:
            assert not isinstance(removal, Exception), removal
            assert membership.is_active is False
            assert membership.removed_at is not None
            # The rejoin either came first (and was undone) or met the bar.
            assert isinstance(rejoin, RemovedFromRide) or not isinstance(rejoin, Exception)
