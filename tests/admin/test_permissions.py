"""Who sees what and who may do what, for Support, Moderator, staff without a role and
superusers, on every page and every action of the console."""

import pytest
from django.urls import reverse

from riders.models import AuditAction, AuditEntry
from rooms.models import RoomParticipant
from telemetry.models import ConnectionLog
from tests.admin.conftest import STAFF_KINDS, action_post
from tests.riders.factories import RiderFactory
from tests.telemetry.factories import ConnectionLogFactory

MODELS = {
    "rider": "riders_rider",
    "room": "rooms_room",
    "participant": "rooms_roomparticipant",
    "log": "telemetry_connectionlog",
    "audit": "riders_auditentry",
}
CAN_VIEW = {"support": True, "moderator": True, "plain_staff": False, "superuser": True}
CAN_DEACTIVATE_RIDERS = {
    "support": False,
    "moderator": True,
    "plain_staff": False,
    "superuser": True,
}


@pytest.fixture
def objects(ride):
    log = ConnectionLogFactory(user=ride.riders[0], room=ride.room)
    return {
        "rider": ride.riders[0],
        "room": ride.room,
        "participant": RoomParticipant.objects.get(room=ride.room, user=ride.riders[0]),
        "log": log,
        "audit": AuditEntry.objects.first(),
    }


@pytest.mark.parametrize("kind", STAFF_KINDS)
@pytest.mark.parametrize("model", MODELS)
def test_pages_are_seen_by_support_moderators_and_superusers_only(
    staff_client, objects, kind, model
):
    client, _ = staff_client(kind)
    expected = 200 if CAN_VIEW[kind] else 403
    changelist = client.get(reverse(f"admin:{MODELS[model]}_changelist"))
    change = client.get(reverse(f"admin:{MODELS[model]}_change", args=[objects[model].pk]))
    assert (changelist.status_code, change.status_code) == (expected, expected)


@pytest.mark.parametrize("kind", STAFF_KINDS)
@pytest.mark.parametrize("model", MODELS)
def test_nobody_adds_edits_or_deletes_in_the_console(staff_client, objects, kind, model):
    """Changes go through actions (services) only; logs and the audit trail never change."""
    client, _ = staff_client(kind)
    obj = objects[model]
    assert client.get(reverse(f"admin:{MODELS[model]}_add")).status_code == 403
    assert (
        client.post(reverse(f"admin:{MODELS[model]}_change", args=[obj.pk]), {}).status_code == 403
    )
    assert (
        client.post(
            reverse(f"admin:{MODELS[model]}_delete", args=[obj.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert type(obj).objects.filter(pk=obj.pk).exists()


@pytest.mark.parametrize("kind", STAFF_KINDS)
def test_the_audit_trail_and_logs_stay_unchanged_even_for_superusers(staff_client, objects, kind):
    client, _ = staff_client(kind)
    before = list(AuditEntry.objects.values_list("pk", "action", "target_label"))
    log = objects["log"]
    client.post(
        reverse("admin:telemetry_connectionlog_change", args=[log.pk]), {"event_type": "left"}
    )
    client.post(
        reverse("admin:riders_auditentry_change", args=[objects["audit"].pk]), {"action": "x"}
    )
    assert list(AuditEntry.objects.values_list("pk", "action", "target_label")) == before
    assert ConnectionLog.objects.get(pk=log.pk).event_type == log.event_type


@pytest.mark.parametrize("kind", STAFF_KINDS)
def test_ending_a_ride(staff_client, ride, kind):
    client, member = staff_client(kind)
    response = action_post(
        client, reverse("admin:rooms_room_changelist"), "deactivate_rooms", [ride.room.pk]
    )
    ride.room.refresh_from_db()
    assert ride.room.is_active is not CAN_VIEW[kind]
    if CAN_VIEW[kind]:
        entry = AuditEntry.objects.get(action=AuditAction.ROOM_DEACTIVATED)
        assert entry.actor == member
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("kind", STAFF_KINDS)
def test_removing_a_rider_from_a_ride(staff_client, ride, kind):
    client, member = staff_client(kind)
    participant = RoomParticipant.objects.get(room=ride.room, user=ride.riders[0])
    action_post(
        client,
        reverse("admin:rooms_roomparticipant_changelist"),
        "remove_participants",
        [participant.pk],
    )
    participant.refresh_from_db()
    assert participant.is_active is not CAN_VIEW[kind]
    removed = AuditEntry.objects.filter(action=AuditAction.PARTICIPANT_REMOVED, actor=member)
    assert removed.exists() is CAN_VIEW[kind]


@pytest.mark.parametrize("kind", STAFF_KINDS)
def test_only_moderators_and_superusers_deactivate_riders(staff_client, kind):
    client, _ = staff_client(kind)
    target = RiderFactory()
    changelist = reverse("admin:riders_rider_changelist")
    if CAN_VIEW[kind]:
        offered = b'value="deactivate_riders"' in client.get(changelist).content
        assert offered is CAN_DEACTIVATE_RIDERS[kind]
    action_post(client, changelist, "deactivate_riders", [target.pk])
    target.refresh_from_db()
    assert target.is_active is not CAN_DEACTIVATE_RIDERS[kind]


@pytest.mark.parametrize("kind", STAFF_KINDS)
def test_password_hashes_are_shown_to_superusers_only(staff_client, kind):
    client, _ = staff_client(kind)
    target = RiderFactory()
    if not CAN_VIEW[kind]:
        return
    page = client.get(reverse("admin:riders_rider_change", args=[target.pk])).content.decode()
    assert (target.password in page) is (kind == "superuser")
    assert ("md5$" in page) is (kind == "superuser")


def test_inactive_staff_cannot_use_the_console(staff_client):
    client, member = staff_client("moderator")
    member.is_active = False
    member.save(update_fields=["is_active"])
    response = client.get(reverse("admin:rooms_room_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
