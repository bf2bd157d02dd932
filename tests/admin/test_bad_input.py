"""Whatever support staff click or type, the console answers with a page and a message that
says what happened, never a 500."""

import pytest
from django.db.models import JSONField, Value
from django.urls import reverse

from rooms.models import Room, RoomParticipant
from rooms.services import participant_join, participant_remove, room_create, room_deactivate
from tests.admin.conftest import action_post, messages_of
from tests.riders.factories import RiderFactory
from tests.rooms.factories import RoomFactory
from tests.telemetry.factories import ConnectionLogFactory

CHANGELISTS = [
    "admin:rooms_room_changelist",
    "admin:riders_rider_changelist",
    "admin:rooms_roomparticipant_changelist",
    "admin:riders_auditentry_changelist",
]
MALFORMED_METRICS = [
    "just a string",
    [1, 2, 3],
    {"rtt_ms": {"nested": ["junk", {"deeper": None}]}, "packet_loss_pct": [5]},
    {"rtt_ms": "fast", "packet_loss_pct": "lots"},
    Value(None, output_field=JSONField()),  # the JSON literal null
]


def test_ending_a_ride_that_already_ended_says_so(staff_client, ride):
    client, member = staff_client("support")
    room_deactivate(room=ride.room, actor=member)
    response = action_post(
        client, reverse("admin:rooms_room_changelist"), "deactivate_rooms", [ride.room.pk]
    )
    assert response.status_code == 200
    assert messages_of(response) == [f"{ride.room}: This ride has already ended."]


def test_a_mixed_selection_reports_each_outcome(staff_client, ride):
    client, _ = staff_client("support")
    ended = RoomFactory(is_active=False, deactivated_at=ride.room.created_at)
    response = action_post(
        client, reverse("admin:rooms_room_changelist"), "deactivate_rooms", [ride.room.pk, ended.pk]
    )
    assert sorted(messages_of(response)) == sorted(
        [
            f"{ended}: This ride has already ended.",
            "Ended 1 ride(s); their riders were disconnected.",
        ]
    )


def test_removing_a_rider_already_removed_says_so(staff_client, ride):
    client, member = staff_client("moderator")
    rider = ride.riders[0]
    participant = RoomParticipant.objects.get(room=ride.room, user=rider)
    participant_remove(room=ride.room, rider=rider, actor=member)
    response = action_post(
        client,
        reverse("admin:rooms_roomparticipant_changelist"),
        "remove_participants",
        [participant.pk],
    )
    assert response.status_code == 200
    assert messages_of(response) == [f"{rider} in {ride.room}: That rider is not in this ride."]


@pytest.mark.parametrize("url_name", CHANGELISTS)
@pytest.mark.parametrize(
    "term",
    ["x" * 500, "ride " * 100, "%", "_", "\\", "%_\\%", "nul\x00here", "bell\x07", "' OR 1=1 --"],
    ids=[
        "500-chars",
        "100-words",
        "percent",
        "underscore",
        "backslash",
        "mixed",
        "nul",
        "control",
        "quote",
    ],
)
def test_any_search_text_gets_a_page(staff_client, ride, url_name, term):
    client, _ = staff_client("moderator")
    response = client.get(reverse(url_name), {"q": term})
    assert response.status_code == 200


def test_long_and_control_character_searches_are_explained(staff_client, ride):
    client, _ = staff_client("support")
    url = reverse("admin:rooms_room_changelist")
    assert messages_of(client.get(url, {"q": "x" * 500})) == [
        "Searches use the first 100 characters; the rest was ignored."
    ]
    assert "control characters" in messages_of(client.get(url, {"q": "a\x07b"}))[0]
    # NUL is refused by Django's own search form, with a message too.
    assert messages_of(client.get(url, {"q": "a\x00b"})) == ["Null characters are not allowed."]


def test_wildcards_are_searched_for_literally(staff_client):
    client, _ = staff_client("support")
    percent = RoomFactory(name="100% gravel_roads")
    plain = RoomFactory(name="100 gravel roads")
    url = reverse("admin:rooms_room_changelist")
    for term, expected in (("%", [percent]), ("_", [percent]), ("100", [percent, plain])):
        shown = client.get(url, {"q": term}).context["cl"].result_list
        assert sorted(room.pk for room in shown) == sorted(room.pk for room in expected)


def test_search_finds_rooms_by_code_in_any_case_and_riders_by_email(staff_client, ride):
    client, _ = staff_client("support")
    rooms = client.get(reverse("admin:rooms_room_changelist"), {"q": ride.room.code.lower()})
    assert [room.pk for room in rooms.context["cl"].result_list] == [ride.room.pk]
    rider = ride.riders[1]
    riders = client.get(reverse("admin:riders_rider_changelist"), {"q": rider.email.upper()})
    assert [r.pk for r in riders.context["cl"].result_list] == [rider.pk]


@pytest.mark.parametrize(
    "metrics", MALFORMED_METRICS, ids=["string", "list", "nested", "text-numbers", "null"]
)
def test_malformed_metrics_stored_in_the_database_are_shown_not_fatal(staff_client, ride, metrics):
    client, _ = staff_client("support")
    rider = ride.riders[0]
    log = ConnectionLogFactory(user=rider, room=ride.room, event_type="quality_report")
    # Straight into the table, past the upload validation, as a bad migration or script would.
    type(log).objects.filter(pk=log.pk).update(metrics=metrics)
    pages = [
        reverse("admin:telemetry_connectionlog_changelist"),
        reverse("admin:telemetry_connectionlog_change", args=[log.pk]),
        reverse("admin:rooms_room_change", args=[ride.room.pk]),
        reverse("admin:riders_rider_change", args=[rider.pk]),
    ]
    for url in pages:
        assert client.get(url).status_code == 200, url
    detail = client.get(pages[1]).content.decode()
    if isinstance(metrics, dict) and metrics:
        assert "<th>rtt_ms</th>" in detail
    else:
        assert "Malformed" in detail


def test_a_figure_stored_as_text_is_left_out_of_the_chart_not_fatal(staff_client, ride):
    client, _ = staff_client("support")
    rider = ride.riders[0]
    good = ConnectionLogFactory(
        user=rider, room=ride.room, event_type="quality_report", metrics={"rtt_ms": 120.0}
    )
    bad = ConnectionLogFactory(user=rider, room=ride.room, event_type="quality_report")
    type(bad).objects.filter(pk=bad.pk).update(metrics={"rtt_ms": "fast"})

    response = client.get(reverse("admin:rooms_room_change", args=[ride.room.pk]))

    assert response.status_code == 200
    assert messages_of(response) == []
    assert "<svg" in response.content.decode()
    assert rider.username in response.content.decode()
    stored = type(bad).objects.get(pk=bad.pk)
    assert (stored.rtt_ms, type(good).objects.get(pk=good.pk).rtt_ms) == (
        None,
        good.metrics["rtt_ms"],
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ride": "not a code!"}, "A room code is 6 letters and digits"),
        ({"rider": "nobody-at-all"}, "No rider has the username or email"),
        ({"rider": "nul\x00"}, "No rider has the username or email"),
    ],
)
def test_log_filters_explain_what_matches_nothing(staff_client, params, message):
    client, _ = staff_client("support")
    response = client.get(reverse("admin:telemetry_connectionlog_changelist"), params)
    assert response.status_code == 200
    assert message in messages_of(response)[0]


def test_log_filters_by_ride_code_and_rider(staff_client, ride):
    client, _ = staff_client("support")
    mine = ConnectionLogFactory(user=ride.riders[0], room=ride.room)
    ConnectionLogFactory(user=ride.riders[1], room=ride.room)
    ConnectionLogFactory(user=ride.riders[0])
    response = client.get(
        reverse("admin:telemetry_connectionlog_changelist"),
        {"ride": ride.room.code.lower(), "rider": ride.riders[0].username.upper()},
    )
    assert [log.pk for log in response.context["cl"].result_list] == [mine.pk]


@pytest.mark.parametrize("page", ["abc", "-3", "0", "1001", "99999999999999999999"])
def test_odd_page_numbers_never_fail(staff_client, page):
    client, _ = staff_client("support")
    response = client.get(reverse("admin:telemetry_connectionlog_changelist"), {"p": page})
    assert response.status_code in (200, 302)


def test_an_unknown_room_page_redirects_with_a_message(staff_client):
    client, _ = staff_client("support")
    response = client.get(reverse("admin:rooms_room_change", args=["not-a-uuid"]), follow=True)
    assert response.status_code == 200
    assert Room.objects.count() == 0


def test_the_full_filter_compares_riders_now_with_capacity(staff_client):
    client, _ = staff_client("support")
    full = room_create(creator=RiderFactory(), name="Pair ride", max_participants=2)
    participant_join(rider=RiderFactory(), code=full.code)
    roomy = room_create(creator=RiderFactory(), name="Big group")
    url = reverse("admin:rooms_room_changelist")
    for value, expected in (("yes", [full]), ("no", [roomy])):
        shown = client.get(url, {"full": value}).context["cl"].result_list
        assert [room.pk for room in shown] == [room.pk for room in expected]
    listed = client.get(url).context["cl"].result_list
    assert {room.pk: room.active_participants for room in listed} == {full.pk: 2, roomy.pk: 1}


def test_the_audit_trail_links_to_what_was_changed(staff_client, ride):
    client, _ = staff_client("support")
    page = client.get(reverse("admin:riders_auditentry_changelist")).content.decode()
    assert reverse("admin:rooms_room_change", args=[ride.room.pk]) in page
    assert str(ride.room) in page
