"""Every audited service writes its entry in the transaction of its change: both are
committed, or neither is."""

import pytest
from django.db import transaction

from riders.audit import audit_record
from riders.models import AuditAction, AuditEntry
from riders.services import rider_change_password
from rooms import services as room_services
from rooms.models import Room, RoomParticipant
from rooms.services import (
    participant_join,
    participant_remove,
    rider_deactivate,
    room_create,
    room_deactivate,
)
from tests.riders.factories import TEST_PASSWORD, RiderFactory

NEW_PASSWORD = "gravel-and-tarmac-77"


class Crash(Exception):
    pass


@pytest.fixture
def ride(db):
    leader = RiderFactory()
    room = room_create(creator=leader, name="Vosges Twisties")
    member = RiderFactory()
    participant_join(rider=member, code=room.code)
    return room, leader, member


def entries(action: AuditAction):
    return list(AuditEntry.objects.filter(action=action))


def test_room_create_records_the_ride_and_its_creator(db):
    leader = RiderFactory()
    room = room_create(creator=leader, name="Col de la Bonette")
    [entry] = entries(AuditAction.ROOM_CREATED)
    assert (entry.actor, entry.target_type, entry.target_id) == (leader, "rooms.room", str(room.pk))
    assert entry.target_label == f"Col de la Bonette ({room.code})"
    assert entry.details == {"code": room.code, "max_participants": 10}


def test_room_deactivate_records_who_ended_it_and_how_many_were_disconnected(ride, staff):
    room, _, _ = ride
    room_deactivate(room=room, actor=staff)
    [entry] = entries(AuditAction.ROOM_DEACTIVATED)
    assert entry.actor == staff
    assert entry.details == {"code": room.code, "participants_disconnected": 2}


def test_participant_remove_records_the_rider_and_the_ride(ride):
    room, leader, member = ride
    participant = participant_remove(room=room, rider=member, actor=leader)
    [entry] = entries(AuditAction.PARTICIPANT_REMOVED)
    assert (entry.actor, entry.target_type) == (leader, "rooms.roomparticipant")
    assert entry.target_id == str(participant.pk)
    assert entry.details["username"] == member.username
    assert entry.details["code"] == room.code


def test_password_change_is_recorded_without_the_password(rider):
    rider_change_password(rider=rider, current_password=TEST_PASSWORD, new_password=NEW_PASSWORD)
    [entry] = entries(AuditAction.PASSWORD_CHANGED)
    assert (entry.actor, entry.target_id, entry.details) == (rider, str(rider.pk), {})
    assert NEW_PASSWORD not in str(entry.__dict__)


def test_an_entry_outside_a_transaction_is_refused(transactional_db, rider):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_record(action=AuditAction.PASSWORD_CHANGED, actor=rider, target=rider)
    assert not AuditEntry.objects.exists()


# --- Atomicity: the entry and the change share one fate ----------------------------------


def test_a_change_rolled_back_after_it_ran_takes_its_entry_with_it(ride, staff):
    room, _, _ = ride

    def end_the_ride_then_fail():
        with transaction.atomic():
            room_deactivate(room=room, actor=staff)
            raise Crash

    with pytest.raises(Crash):
        end_the_ride_then_fail()
    assert Room.objects.get(pk=room.pk).is_active
    assert entries(AuditAction.ROOM_DEACTIVATED) == []


@pytest.mark.parametrize(
    ("module", "call"),
    [
        (room_services, lambda room, staff, member: room_deactivate(room=room, actor=staff)),
        (
            room_services,
            lambda room, staff, member: participant_remove(room=room, rider=member, actor=staff),
        ),
        (room_services, lambda room, staff, member: rider_deactivate(rider=member, actor=staff)),
    ],
    ids=["room_deactivate", "participant_remove", "rider_deactivate"],
)
def test_a_failed_entry_rolls_the_change_back(monkeypatch, ride, staff, module, call):
    """The entry is written, then the transaction fails: nothing of the change remains."""
    room, _, member = ride
    real_record = module.audit_record

    def record_then_fail(**kwargs):
        real_record(**kwargs)
        raise Crash

    monkeypatch.setattr(module, "audit_record", record_then_fail)
    with pytest.raises(Crash):
        call(room, staff, member)
    room.refresh_from_db()
    member.refresh_from_db()
    assert room.is_active
    assert member.is_active
    assert RoomParticipant.objects.get(room=room, user=member).is_active
    assert not AuditEntry.objects.exclude(action=AuditAction.ROOM_CREATED).exists()


@pytest.mark.django_db(transaction=True)
def test_committed_changes_and_entries_are_seen_together_by_another_connection():
    """Outside any test transaction: what is committed is the change and its entry."""
    leader, member = RiderFactory(), RiderFactory()
    room = room_create(creator=leader, name="Night Ride")
    participant_join(rider=member, code=room.code)
    participant_remove(room=room, rider=member, actor=leader)
    assert list(AuditEntry.objects.order_by("created_at").values_list("action", flat=True)) == [
        AuditAction.ROOM_CREATED,
        AuditAction.PARTICIPANT_REMOVED,
    ]
