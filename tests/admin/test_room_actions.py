"""Ending a ride, removing a rider from it and deactivating a rider, from their own pages and
after a confirmation."""

import pytest
from django.urls import reverse

from riders.auth_tokens import token_issue
from riders.models import AuditAction, AuditEntry
from rooms.models import RoomParticipant
from rooms.services import participant_remove
from tests.admin.conftest import REASON, STAFF_KINDS, messages_of

CAN_ACT = {"support": True, "moderator": True, "plain_staff": False, "superuser": True}


def end_url(room):
    return reverse("admin:rooms_room_end", args=[room.pk])


def remove_url(room, rider):
    return reverse("admin:rooms_room_remove_rider", args=[room.pk, rider.pk])


def test_the_room_page_offers_ending_it_and_removing_each_rider_riding_now(staff_client, ride):
    client, _ = staff_client("support")
    page = client.get(reverse("admin:rooms_room_change", args=[ride.room.pk])).content.decode()
    assert end_url(ride.room) in page
    assert page.count('class="remove-rider"') == 3
    assert remove_url(ride.room, ride.riders[0]) in page


def test_asking_is_not_doing(staff_client, ride):
    client, _ = staff_client("support")
    confirm = client.get(end_url(ride.room))
    assert confirm.status_code == 200
    assert f"End the ride {ride.room}?" in confirm.content.decode()
    client.get(remove_url(ride.room, ride.riders[0]))
    ride.room.refresh_from_db()
    assert ride.room.is_active
    assert RoomParticipant.objects.filter(room=ride.room, is_active=True).count() == 3


@pytest.mark.parametrize("kind", STAFF_KINDS)
def test_ending_a_ride_from_its_page(staff_client, ride, kind):
    client, member = staff_client(kind)
    response = client.post(end_url(ride.room), REASON, follow=True)
    ride.room.refresh_from_db()
    assert ride.room.is_active is not CAN_ACT[kind]
    if CAN_ACT[kind]:
        assert messages_of(response) == [
            f"Ended the ride {ride.room}; its riders were disconnected."
        ]
        assert AuditEntry.objects.get(action=AuditAction.ROOM_DEACTIVATED).actor == member
        # Ended: the page no longer offers it.
        assert end_url(ride.room) not in response.content.decode()
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("kind", STAFF_KINDS)
def test_removing_a_rider_from_the_ride_page(staff_client, ride, kind):
    client, member = staff_client(kind)
    marco = ride.riders[0]
    response = client.post(remove_url(ride.room, marco), REASON, follow=True)
    still_in = RoomParticipant.objects.get(room=ride.room, user=marco).is_active
    assert still_in is not CAN_ACT[kind]
    if CAN_ACT[kind]:
        assert "Removed marco-v2" in messages_of(response)[0]
        entry = AuditEntry.objects.get(action=AuditAction.PARTICIPANT_REMOVED)
        assert entry.actor == member
    else:
        assert response.status_code == 403


def readmit_url(room, rider):
    return reverse("admin:rooms_room_readmit_rider", args=[room.pk, rider.pk])


@pytest.mark.parametrize("kind", STAFF_KINDS)
def test_letting_a_removed_rider_back_in_from_the_ride_page(staff_client, ride, kind):
    client, member = staff_client(kind)
    marco = ride.riders[0]
    participant_remove(room=ride.room, rider=marco, actor=ride.leader)
    page = client.get(reverse("admin:rooms_room_change", args=[ride.room.pk])).content.decode()
    if CAN_ACT[kind]:
        assert readmit_url(ride.room, marco) in page
        assert 'class="readmit-rider"' in page

    response = client.post(readmit_url(ride.room, marco), REASON, follow=True)

    removed_at = RoomParticipant.objects.get(room=ride.room, user=marco).removed_at
    if CAN_ACT[kind]:
        assert removed_at is None
        assert messages_of(response) == [f"marco-v2 may join {ride.room} again."]
        entry = AuditEntry.objects.get(action=AuditAction.PARTICIPANT_READMITTED)
        assert entry.actor == member
        again = client.post(readmit_url(ride.room, marco), REASON, follow=True)
        assert messages_of(again) == ["That rider has not been removed from this ride."]
    else:
        assert response.status_code == 403
        assert removed_at is not None


def test_doing_it_twice_says_it_is_already_done(staff_client, ride):
    client, _ = staff_client("moderator")
    marco = ride.riders[0]
    client.post(remove_url(ride.room, marco), REASON, follow=True)
    again = client.post(remove_url(ride.room, marco), REASON, follow=True)
    assert messages_of(again) == ["That rider is not in this ride."]
    client.post(end_url(ride.room), REASON, follow=True)
    again = client.post(end_url(ride.room), REASON, follow=True)
    assert messages_of(again) == ["This ride has already ended."]


@pytest.mark.parametrize(
    "path",
    [
        "/admin/rooms/room/not-a-uuid/end/",
        "/admin/rooms/room/00000000-0000-0000-0000-000000000000/end/",
        "/admin/rooms/room/00000000-0000-0000-0000-000000000000/remove/"
        "00000000-0000-0000-0000-000000000000/",
    ],
)
def test_unknown_rides_and_riders_are_not_found(staff_client, path):
    client, _ = staff_client("support")
    assert client.post(path).status_code == 404


def test_an_unknown_rider_of_a_real_ride_is_not_found(staff_client, ride):
    client, _ = staff_client("support")
    path = f"/admin/rooms/room/{ride.room.pk}/remove/00000000-0000-0000-0000-000000000000/"
    assert client.post(path).status_code == 404


# --- Deactivating a rider from their page -------------------------------------------------

CAN_VIEW_RIDERS = CAN_ACT
CAN_DEACTIVATE = {"support": False, "moderator": True, "plain_staff": False, "superuser": True}


@pytest.mark.parametrize("kind", STAFF_KINDS)
def test_deactivating_a_rider_from_their_page(staff_client, ride, kind):
    client, member = staff_client(kind)
    marco = ride.riders[0]
    url = reverse("admin:riders_rider_deactivate", args=[marco.pk])
    page = client.get(reverse("admin:riders_rider_change", args=[marco.pk]))
    if CAN_VIEW_RIDERS[kind]:
        assert (url in page.content.decode()) is CAN_DEACTIVATE[kind]
    response = client.post(url, REASON, follow=True)
    marco.refresh_from_db()
    assert marco.is_active is not CAN_DEACTIVATE[kind]
    if CAN_DEACTIVATE[kind]:
        assert messages_of(response) == [
            "Deactivated marco-v2: signed out on every device and out of their ride."
        ]
        assert not RoomParticipant.objects.get(room=ride.room, user=marco).is_active
        entry = AuditEntry.objects.get(action=AuditAction.RIDER_DEACTIVATED)
        assert entry.actor == member
        again = client.post(url, REASON, follow=True)
        assert messages_of(again) == ["This rider is already deactivated."]
    else:
        assert response.status_code == 403


def test_the_rider_page_lists_signed_in_devices_without_their_keys(staff_client, ride):
    client, _ = staff_client("support")
    issued = token_issue(rider=ride.riders[0], device_name="Pixel 8 on the handlebar")
    page = client.get(reverse("admin:riders_rider_change", args=[ride.riders[0].pk]))
    html = page.content.decode()
    assert "Pixel 8 on the handlebar" in html
    assert issued.token.key_prefix in html
    assert issued.key not in html
    assert issued.token.key_digest not in html
