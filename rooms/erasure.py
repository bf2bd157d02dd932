"""The rides' part of deleting an account: the rider leaves their ride, their ride history
passes to the stand-in riders.erasure made, so every ride keeps its history, and the alerts
raised about them (with the positions they kept) are deleted."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import CharField, Min
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from config.domain_events import announce
from riders.audit import audit_rewrite_names
from riders.erasure import Erasure
from riders.models import AuditAction, AuditEntry, Rider
from rooms.events import RiderRemovedFromRide
from rooms.models import RideAlert, Room, RoomParticipant

# What a leader does in a ride they opened, recorded with the ride's id as target or detail.
_LEADER_ACTIONS_ON_RIDES = (AuditAction.ROOM_CREATED, AuditAction.ROOM_DEACTIVATED)
_LEADER_ACTIONS_ON_MEMBERS = (AuditAction.PARTICIPANT_REMOVED, AuditAction.PARTICIPANT_READMITTED)


@dataclass(frozen=True)
class RidesHandedOver:
    left_ride: bool  # the rider was in a ride, and left it
    participations: int
    rides_opened: int


def rider_history_start(*, rider: Rider) -> datetime | None:
    """When the rider first joined a ride, or None: the date a stand-in takes."""
    return RoomParticipant.objects.filter(user=rider).aggregate(first=Min("joined_at"))["first"]


def rides_hand_over(*, erasure: Erasure, now: datetime) -> RidesHandedOver:
    """In the caller's transaction, which holds the rider's lock: end the rider's membership
    of their ride (the others see ``member_left`` with reason ``account_deleted`` once this
    commits, and their live state is cleared), then give the stand-in their memberships,
    the rides they opened and the trail of what they did as those rides' leader.

    Rooms are locked before memberships, as everywhere: a leader's readmit (room, then the
    membership) cannot deadlock with this.
    """
    tombstone, stand_in = erasure.tombstone, erasure.stand_in
    left = _leave_current_ride(tombstone, now=now)
    opened = Room.objects.filter(creator=tombstone)
    opened_ids = opened.annotate(id_text=Cast("pk", CharField())).values("id_text")
    AuditEntry.objects.filter(
        actor=tombstone,
        action__in=_LEADER_ACTIONS_ON_RIDES,
        target_type=Room._meta.label_lower,
        target_id__in=opened_ids,
    ).update(actor=stand_in)
    AuditEntry.objects.alias(room_id=KeyTextTransform("room_id", "details")).filter(
        actor=tombstone, action__in=_LEADER_ACTIONS_ON_MEMBERS, room_id__in=opened_ids
    ).update(actor=stand_in)
    rides_opened = opened.update(creator=stand_in)
    # Entries about the rider's own memberships (removed from a ride, let back in) name the
    # rider and the membership, which is now the stand-in's.
    audit_rewrite_names(
        entries=AuditEntry.objects.alias(rider_id=KeyTextTransform("rider_id", "details")).filter(
            action__in=_LEADER_ACTIONS_ON_MEMBERS, rider_id=str(tombstone.pk)
        ),
        replacements=erasure.stand_in_names,
    )
    participations = RoomParticipant.objects.filter(user=tombstone).update(user=stand_in)
    # Alerts about the rider keep where they were: they go with the account, not to the
    # stand-in (the ones they acknowledged or resolved for others name the tombstone).
    RideAlert.objects.filter(rider=tombstone).delete()
    return RidesHandedOver(left_ride=left, participations=participations, rides_opened=rides_opened)


def _leave_current_ride(rider: Rider, *, now: datetime) -> bool:
    current = (
        RoomParticipant.objects.filter(user=rider, is_active=True)
        .values_list("pk", "room_id")
        .first()
    )
    if current is None:
        return False
    participant_id, room_id = current
    Room.objects.select_for_update(no_key=True).filter(pk=room_id).exists()
    # The ride may have ended since the read above (ending a ride locks only the room).
    ended = RoomParticipant.objects.filter(pk=participant_id, is_active=True).update(
        is_active=False, left_at=now
    )
    if not ended:
        return False
    announce(RiderRemovedFromRide(room_id=room_id, rider_id=rider.pk, reason="account_deleted"))
    return True
