"""Nothing destructive happens by accident: every action, bulk or single, first shows what it
will act on (count and names) and asks for a reason the audit trail keeps; moderators can
undo a deactivation; refusals say which role is needed."""

import pytest
from django.urls import reverse

from config.admin_console import CONFIRM_NAMES_SHOWN
from config.text import REASON_MAX_CHARS
from riders.models import AuditAction, AuditEntry, Rider
from rooms.models import Room, RoomParticipant
from rooms.services import room_create, room_deactivate
from tests.admin.conftest import REASON, action_data, action_post, messages_of
from tests.riders.factories import RiderFactory

RIDERS = reverse("admin:riders_rider_changelist")
ROOMS = reverse("admin:rooms_room_changelist")
PARTICIPANTS = reverse("admin:rooms_roomparticipant_changelist")


def deactivate_url(rider):
    return reverse("admin:riders_rider_deactivate", args=[rider.pk])


def reactivate_url(rider):
    return reverse("admin:riders_rider_reactivate", args=[rider.pk])


@pytest.mark.parametrize(
    ("url", "action", "pks_of", "names_of"),
    [
        (
            RIDERS,
            "deactivate_riders",
            lambda ride: [r.pk for r in ride.riders],
            lambda ride: [r.username for r in ride.riders],
        ),
        (ROOMS, "deactivate_rooms", lambda ride: [ride.room.pk], lambda ride: [str(ride.room)]),
        (
            PARTICIPANTS,
            "remove_participants",
            lambda ride: list(
                RoomParticipant.objects.filter(user__in=ride.riders).values_list("pk", flat=True)
            ),
            lambda ride: [f"{r.username} in {ride.room}" for r in ride.riders],
        ),
    ],
)
def test_every_bulk_action_asks_first_and_changes_nothing_until_confirmed(
    staff_client, ride, url, action, pks_of, names_of
):
    client, _ = staff_client("moderator")
    pks = pks_of(ride)
    before = set(AuditEntry.objects.values_list("pk", flat=True))

    page = client.post(url, action_data(action, pks))
    html = page.content.decode()
    assert page.status_code == 200
    assert f"{len(pks)} " in html
    assert 'name="reason"' in html
    assert all(f"<li>{name}</li>" in html for name in names_of(ride))

    no_reason = client.post(url, {**action_data(action, pks), "confirm": "yes"})
    assert no_reason.status_code == 400
    assert "Say why" in no_reason.content.decode()

    too_long = client.post(
        url,
        {**action_data(action, pks), "confirm": "yes", "reason": "x" * (REASON_MAX_CHARS + 1)},
    )
    control = client.post(
        url, {**action_data(action, pks), "confirm": "yes", "reason": "ticket\x00 4411"}
    )
    assert (too_long.status_code, control.status_code) == (400, 400)

    assert set(AuditEntry.objects.values_list("pk", flat=True)) == before
    assert Room.objects.get(pk=ride.room.pk).is_active
    assert RoomParticipant.objects.filter(room=ride.room, is_active=True).count() == 3
    assert Rider.objects.filter(pk__in=[r.pk for r in ride.riders], is_active=True).count() == 2

    done = client.post(url, {**action_data(action, pks), "confirm": "yes", **REASON}, follow=True)
    assert done.status_code == 200
    entries = AuditEntry.objects.exclude(pk__in=before)
    assert entries.exists()
    assert {entry.details.get("reason") for entry in entries} == {REASON["reason"]}


def test_select_all_confirms_with_the_count_and_a_bounded_list(staff_client, exact_queries):
    client, _ = staff_client("moderator")
    RiderFactory.create_batch(CONFIRM_NAMES_SHOWN + 25)
    total = Rider.objects.count() - 1  # the moderator is left out
    data = action_data("deactivate_riders", [Rider.objects.first().pk], select_across=True)

    # session, moderator, permissions (2), the changelist's count, whether the moderator is
    # among them, the count to confirm, the first names: never every row
    with exact_queries(8):
        page = client.post(RIDERS, data)

    html = page.content.decode()
    assert f"Deactivate {total} rider(s)?" in html
    names = html.split('class="convoy-bulk-names"')[1].split("</ul>")[0]
    assert names.count("<li>") == CONFIRM_NAMES_SHOWN
    assert f"and {total - CONFIRM_NAMES_SHOWN} more" in html
    assert "Your own account is among those selected" in html
    assert Rider.objects.filter(is_active=False).count() == 0

    client.post(RIDERS, {**data, "confirm": "yes", **REASON})
    assert Rider.objects.filter(is_active=False).count() == total
    assert AuditEntry.objects.filter(action=AuditAction.RIDER_DEACTIVATED).count() == total


def test_a_bulk_confirmation_keeps_the_lists_filters(staff_client, ride):
    client, _ = staff_client("support")
    other = room_create(creator=RiderFactory(), name="Other ride")
    url = f"{ROOMS}?is_active__exact=1&q={ride.room.code}"
    page = client.post(url, action_data("deactivate_rooms", [ride.room.pk], select_across=True))
    assert "End 1 ride(s)?" in page.content.decode()
    client.post(
        url,
        {
            **action_data("deactivate_rooms", [ride.room.pk], select_across=True),
            "confirm": "yes",
            **REASON,
        },
    )
    assert not Room.objects.get(pk=ride.room.pk).is_active
    assert Room.objects.get(pk=other.pk).is_active


def test_a_moderator_is_not_offered_to_deactivate_themselves(staff_client):
    client, moderator = staff_client("moderator")
    page = client.get(reverse("admin:riders_rider_change", args=[moderator.pk]))
    assert deactivate_url(moderator) not in page.content.decode()
    refused = client.post(deactivate_url(moderator), REASON, follow=True)
    assert messages_of(refused) == ["Staff cannot deactivate their own account."]
    moderator.refresh_from_db()
    assert moderator.is_active


def test_a_moderator_reactivates_a_rider_with_a_reason(staff_client, ride):
    client, moderator = staff_client("moderator")
    marco = ride.riders[0]
    client.post(deactivate_url(marco), REASON)
    page = client.get(reverse("admin:riders_rider_change", args=[marco.pk])).content.decode()
    assert reactivate_url(marco) in page
    assert deactivate_url(marco) not in page

    confirm = client.get(reactivate_url(marco))
    assert "Reactivate the account of marco-v2?" in confirm.content.decode()
    marco.refresh_from_db()
    assert not marco.is_active

    done = client.post(reactivate_url(marco), {"reason": "Appeal accepted, ticket 77"}, follow=True)
    assert messages_of(done) == ["Reactivated marco-v2: they can log in again."]
    marco.refresh_from_db()
    assert marco.is_active
    entry = AuditEntry.objects.get(action=AuditAction.RIDER_REACTIVATED)
    assert (entry.actor, entry.details) == (moderator, {"reason": "Appeal accepted, ticket 77"})
    again = client.post(reactivate_url(marco), REASON, follow=True)
    assert messages_of(again) == ["This rider is already active."]


def test_reactivating_in_bulk(staff_client, ride):
    client, _ = staff_client("moderator")
    for rider in ride.riders:
        client.post(deactivate_url(rider), REASON)
    action_post(client, RIDERS, "reactivate_riders", [r.pk for r in ride.riders])
    assert Rider.objects.filter(pk__in=[r.pk for r in ride.riders], is_active=True).count() == 2
    assert AuditEntry.objects.filter(action=AuditAction.RIDER_REACTIVATED).count() == 2


@pytest.mark.parametrize(
    ("url_of", "role"),
    [
        (deactivate_url, "Moderator"),
        (reactivate_url, "Moderator"),
        (lambda rider: reverse("admin:riders_rider_delete_account", args=[rider.pk]), "Moderator"),
    ],
)
def test_a_refusal_names_the_role_and_links_back(staff_client, ride, url_of, role):
    client, _ = staff_client("support")
    marco = ride.riders[0]
    for response in (client.get(url_of(marco)), client.post(url_of(marco), REASON)):
        html = response.content.decode()
        assert response.status_code == 403
        assert f"it takes the {role} role" in html
        assert "Your role: Support" in html
        assert reverse("admin:riders_rider_change", args=[marco.pk]) in html
        assert 'id="site-name"' in html  # the console's own page
    marco.refresh_from_db()
    assert marco.is_active


def test_the_end_ride_page_of_an_ended_ride_says_it_has_ended(staff_client, ride):
    client, member = staff_client("support")
    room_deactivate(room=ride.room, actor=member)
    page = client.get(reverse("admin:rooms_room_end", args=[ride.room.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert f"The ride {ride.room} has already ended" in html
    assert 'name="reason"' not in html
