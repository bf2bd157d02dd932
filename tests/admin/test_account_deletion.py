"""A moderator deletes a rider's account from the rider's page, after a confirmation; staff
see the tombstone from then on, never the old email."""

import pytest
from django.urls import reverse

from riders.models import AuditAction, AuditEntry, Rider
from rooms.models import RoomParticipant
from tests.admin.conftest import REASON, STAFF_KINDS, make_staff, messages_of
from tests.riders.factories import RiderFactory

CAN_DELETE = {"support": False, "moderator": True, "plain_staff": False, "superuser": True}
CAN_VIEW_RIDERS = {"support": True, "moderator": True, "plain_staff": False, "superuser": True}


def delete_url(rider) -> str:
    return reverse("admin:riders_rider_delete_account", args=[rider.pk])


def page_of(client, rider) -> str:
    return client.get(reverse("admin:riders_rider_change", args=[rider.pk])).content.decode()


@pytest.mark.parametrize("kind", STAFF_KINDS)
def test_only_moderators_and_superusers_delete_accounts(staff_client, ride, kind):
    client, member = staff_client(kind)
    marco = ride.riders[0]
    if CAN_VIEW_RIDERS[kind]:
        assert (delete_url(marco) in page_of(client, marco)) is CAN_DELETE[kind]

    response = client.post(delete_url(marco), REASON, follow=True)

    deleted = Rider.objects.get(pk=marco.pk).deleted_at is not None
    assert deleted is CAN_DELETE[kind]
    if not CAN_DELETE[kind]:
        assert response.status_code == 403
        return
    assert messages_of(response) == [
        "Deleted the account: it is now a tombstone with no personal data, signed out "
        "everywhere and out of its ride."
    ]
    entry = AuditEntry.objects.get(action=AuditAction.RIDER_DELETED)
    assert (entry.actor, entry.details["by"]) == (member, "staff")
    assert not RoomParticipant.objects.filter(room=ride.room, user=marco).exists()


def test_asking_is_not_deleting(staff_client, ride):
    client, _ = staff_client("moderator")
    marco = ride.riders[0]
    confirm = client.get(delete_url(marco))
    assert confirm.status_code == 200
    assert f"Delete the account of {marco} for good?" in confirm.content.decode()
    marco.refresh_from_db()
    assert marco.deleted_at is None


def test_staff_see_the_tombstone_and_never_the_old_email(staff_client, ride):
    client, _ = staff_client("moderator")
    marco = ride.riders[0]
    old_username, old_email = marco.username, marco.email
    client.post(delete_url(marco), REASON)
    tombstone = Rider.objects.get(pk=marco.pk)

    page = page_of(client, marco)
    listing = client.get(reverse("admin:riders_rider_changelist"), {"q": old_email}).content
    trail = client.get(reverse("admin:riders_auditentry_changelist")).content.decode()
    room_page = client.get(reverse("admin:rooms_room_change", args=[ride.room.pk])).content

    assert tombstone.username in page
    for text in (page, trail, room_page.decode()):
        assert old_email not in text
    assert old_username not in trail
    # Searching by the old email finds no one (the box shows what was typed).
    assert b"0 results" in listing
    # Deleted: the page offers neither deletion nor anything else to do to it.
    assert delete_url(marco) not in page


def test_refusals_are_said_on_the_page(staff_client, db):
    client, moderator = staff_client("moderator")
    root = make_staff("superuser")
    refused = client.post(delete_url(root), REASON, follow=True)
    yourself = client.post(delete_url(moderator), REASON, follow=True)
    target = RiderFactory()
    client.post(delete_url(target), REASON)
    stand_in = Rider.objects.get(is_stand_in=True)
    stand_in_page = page_of(client, stand_in)
    again = client.post(delete_url(target), REASON, follow=True)
    of_stand_in = client.post(delete_url(stand_in), REASON, follow=True)

    assert messages_of(refused) == ["Only a superuser can delete a superuser's account."]
    assert messages_of(yourself) == [
        "Staff delete their own account from the app, with their password."
    ]
    assert messages_of(again) == ["This account has already been deleted."]
    assert messages_of(of_stand_in) == [
        "This rider is the anonymous stand-in of a deleted account; it holds no one's data."
    ]
    assert delete_url(stand_in) not in stand_in_page
    assert Rider.objects.get(pk=root.pk).deleted_at is None


def test_the_reason_for_a_deletion_keeps_no_name_of_the_account(staff_client, ride):
    client, _ = staff_client("moderator")
    marco = ride.riders[0]
    old_username, old_email = marco.username, marco.email
    reason = f"{old_username} asked by mail from {old_email} (ticket 9)"
    client.post(delete_url(marco), {"reason": reason})
    tombstone = Rider.objects.get(pk=marco.pk)
    entry = AuditEntry.objects.get(action=AuditAction.RIDER_DELETED)
    assert (
        entry.details["reason"]
        == f"{tombstone.username} asked by mail from {tombstone.email} (ticket 9)"
    )
    assert old_username not in str(entry.details)
    assert old_email not in str(entry.details)
