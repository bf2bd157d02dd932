"""The migration that brought in the removal bar keeps the removals made before it."""

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from riders.models import AuditAction, AuditEntry
from rooms.models import RoomParticipant
from rooms.services import participant_join, participant_leave, room_create
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE, AFTER = ("rooms", "0002_staff_permissions"), ("rooms", "0003_participant_removed_at")


def _migrate(target) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


def _migrate_to_latest() -> None:
    """Every app's newest migration again: later migrations of rooms (and of the apps that
    depend on it) were unapplied on the way back to BEFORE, and the next tests need them."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def _removal_audited(participant: RoomParticipant, at) -> None:
    AuditEntry.objects.create(
        action=AuditAction.PARTICIPANT_REMOVED,
        target_type="rooms.roomparticipant",
        target_id=str(participant.pk),
        target_label="removed",
        created_at=at,
    )


def test_a_membership_last_ended_by_a_removal_is_barred_after_the_migration():
    leader = RiderFactory()
    room = room_create(creator=leader, name="Before the bar")
    kicked, came_back, left = RiderFactory(), RiderFactory(), RiderFactory()
    for rider in (kicked, came_back, left):
        participant_join(rider=rider, code=room.code)
    now = timezone.now()
    rows = {
        rider: RoomParticipant.objects.get(room=room, user=rider)
        for rider in (kicked, came_back, left)
    }
    # Kicked and never back; kicked, then rejoined (a later join) and still riding; left.
    RoomParticipant.objects.filter(pk=rows[kicked].pk).update(is_active=False, left_at=now)
    _removal_audited(rows[kicked], now)
    _removal_audited(rows[came_back], now - timezone.timedelta(hours=1))
    participant_leave(rider=left, code=room.code)
    _removal_audited(RoomParticipant(pk=uuid.uuid4()), now)  # a row deleted since

    try:
        _migrate(BEFORE)
        _migrate(AFTER)
        barred = set(
            RoomParticipant.objects.filter(room=room, removed_at__isnull=False).values_list(
                "user_id", flat=True
            )
        )
    finally:
        _migrate_to_latest()

    assert barred == {kicked.pk}
