"""Rides through the HTTP API: open, find, join, leave, rejoin, end, members and statistics."""

import re
import uuid
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from rooms.api.serializers import ParticipantSerializer, RoomSerializer
from rooms.models import Room, RoomParticipant
from rooms.selectors import room_get_detail
from telemetry.models import EventType
from tests.api.assertions import api_error
from tests.riders.factories import RiderFactory
from tests.rooms.factories import RoomFactory, RoomParticipantFactory
from tests.telemetry.factories import ConnectionLogFactory

pytestmark = pytest.mark.django_db

ROOMS = "/api/v1/rooms/"
CODE_FORMAT = re.compile(r"[A-HJ-NP-Z2-9]{6}")
MALFORMED_CODES = ["0O1I00", "abc", "ABCDEFG", "ABC-DE", "ABCDE\u017f", "ÄBCDEF"]


def _room(code: str, action: str = "") -> str:
    return f"{ROOMS}{code}/{action + '/' if action else ''}"


def _unused_code() -> str:
    code = "ZZZZZZ"
    assert not Room.objects.filter(code=code).exists()
    return code


def _member(room: Room, rider, *, active: bool = True) -> RoomParticipant:
    if active:
        return RoomParticipantFactory(room=room, user=rider)
    return RoomParticipantFactory(room=room, user=rider, is_active=False, left_at=timezone.now())


def _ended(room: Room) -> Room:
    Room.objects.filter(pk=room.pk).update(is_active=False, deactivated_at=timezone.now())
    room.refresh_from_db()
    return room


# --- Create ---------------------------------------------------------------------------------


def test_create_room(auth_client, rider):
    response = auth_client(rider).post(
        ROOMS, {"name": "  Sunday   loop ", "max_participants": 6}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert CODE_FORMAT.fullmatch(body["code"])
    assert body["name"] == "Sunday loop"
    assert body["max_participants"] == 6
    assert body["active_participants"] == 1
    assert body["is_active"] is True
    assert body["deactivated_at"] is None
    assert body["creator"] == {
        "id": str(rider.pk),
        "username": rider.username,
        "display_name": rider.display_name,
    }
    room = Room.objects.get(code=body["code"])
    assert list(room.participants.values_list("user_id", "is_active")) == [(rider.pk, True)]


def test_create_room_stores_sql_text_as_a_plain_name(auth_client, rider):
    name = "'; DROP TABLE rooms_room; --"

    response = auth_client(rider).post(ROOMS, {"name": name}, format="json")

    assert response.status_code == 201
    assert Room.objects.get().name == name
    assert auth_client(rider).get(ROOMS, {"name": "drop table"}).json()["count"] == 1


def test_create_room_defaults_to_ten_places(auth_client, rider):
    response = auth_client(rider).post(ROOMS, {"name": "Coffee run"}, format="json")

    assert response.status_code == 201
    assert response.json()["max_participants"] == 10


def test_creating_a_room_leaves_the_current_one(auth_client, rider):
    first = RoomFactory()
    _member(first, rider)

    response = auth_client(rider).post(ROOMS, {"name": "Second ride"}, format="json")

    assert response.status_code == 201
    assert not RoomParticipant.objects.get(room=first, user=rider).is_active


@pytest.mark.parametrize(
    ("value", "status", "code"),
    [
        # The serializer accepts any integer; the rule (2..50 riders) is Convoy's: 422.
        (0, 422, "invalid_room"),
        (1, 422, "invalid_room"),
        (51, 422, "invalid_room"),
        (10000, 422, "invalid_room"),
        (-5, 422, "invalid_room"),
        # Not an integer at all: a malformed request, 400.
        ("abc", 400, "invalid_request"),
        (2.5, 400, "invalid_request"),
        (None, 400, "invalid_request"),
        (2**40, 400, "invalid_request"),
    ],
)
def test_create_room_with_bad_capacity(auth_client, rider, value, status, code):
    response = auth_client(rider).post(
        ROOMS, {"name": "Ride", "max_participants": value}, format="json"
    )

    error = api_error(response, status, code)
    assert "max_participants" in error["fields"]
    assert not Room.objects.exists()


@pytest.mark.parametrize("name", ["   ", "x" * 81, "bell\u0007name", "bidi\u202ename"])
def test_create_room_with_bad_name_is_422(auth_client, rider, name):
    response = auth_client(rider).post(ROOMS, {"name": name}, format="json")

    error = api_error(response, 422, "invalid_room")
    assert "name" in error["fields"]
    assert not Room.objects.exists()


def test_create_room_with_empty_name_is_422_like_a_blank_one(auth_client, rider):
    response = auth_client(rider).post(ROOMS, {"name": ""}, format="json")

    error = api_error(response, 422, "invalid_room")
    assert "name" in error["fields"]


@pytest.mark.parametrize(
    "body",
    [
        "{}",
        '{"name": ["a"]}',
        '{"name": {"nested": true}}',
        '{"name": "nul\\u0000name"}',
        '{"name": "Ride", "code": "ABCDEF"}',
        '{"name": "Ride", "creator": null}',
        '["Ride"]',
    ],
)
def test_create_room_malformed_request_is_400(auth_client, rider, body):
    response = auth_client(rider).post(ROOMS, body, content_type="application/json")

    api_error(response, 400, "invalid_request")
    assert not Room.objects.exists()


def test_create_room_needs_a_token(api_client):
    api_error(api_client.post(ROOMS, {"name": "Ride"}, format="json"), 401, "not_authenticated")


# --- List and retrieve ----------------------------------------------------------------------


def test_list_shows_active_rooms_newest_first(auth_client, rider):
    now = timezone.now()
    older = RoomFactory(created_at=now - timedelta(hours=2))
    newer = RoomFactory(created_at=now - timedelta(hours=1))
    _ended(RoomFactory())
    _member(newer, RiderFactory())
    _member(newer, RiderFactory(), active=False)

    body = auth_client(rider).get(ROOMS).json()

    assert body["count"] == 2
    assert [room["code"] for room in body["results"]] == [newer.code, older.code]
    assert [room["active_participants"] for room in body["results"]] == [1, 0]


def test_list_scope_mine_includes_ended_rooms(auth_client, rider):
    mine_live = RoomFactory(creator=rider)
    mine_ended = _ended(RoomFactory(creator=rider))
    RoomFactory()

    body = auth_client(rider).get(ROOMS, {"scope": "mine"}).json()

    assert {room["code"] for room in body["results"]} == {mine_live.code, mine_ended.code}


def test_list_scope_active_is_the_default(auth_client, rider):
    live = RoomFactory(creator=rider)
    _ended(RoomFactory(creator=rider))

    body = auth_client(rider).get(ROOMS, {"scope": "active"}).json()

    assert [room["code"] for room in body["results"]] == [live.code]


def test_list_with_unknown_scope_is_400(auth_client, rider):
    error = api_error(auth_client(rider).get(ROOMS, {"scope": "bogus"}), 400, "invalid_request")
    assert "scope" in error["fields"]


def test_list_filters_by_part_of_the_name(auth_client, rider):
    alps = RoomFactory(name="Alps Tour")
    RoomFactory(name="Coast Cruise")
    _ended(RoomFactory(name="Alps Return"))

    body = auth_client(rider).get(ROOMS, {"name": "alps"}).json()

    assert [room["code"] for room in body["results"]] == [alps.code]


def test_list_name_filter_with_sql_text_is_harmless(auth_client, rider):
    RoomFactory(name="Alps Tour")

    response = auth_client(rider).get(ROOMS, {"name": "' OR 1=1; --"})

    assert response.status_code == 200
    assert response.json()["count"] == 0
    assert Room.objects.count() == 1


@pytest.mark.parametrize("page_size", ["0", "201", "abc", "²", "\u0661\u0660"])
def test_list_page_size_out_of_range_is_400(auth_client, rider, page_size):
    api_error(auth_client(rider).get(ROOMS, {"page_size": page_size}), 400, "invalid_request")


@pytest.mark.parametrize("page", ["0", "abc", "2"])
def test_list_malformed_or_past_the_end_page_is_400(auth_client, rider, page):
    RoomFactory()

    error = api_error(auth_client(rider).get(ROOMS, {"page": page}), 400, "invalid_request")

    assert set(error["fields"]) == {"page"}


def test_list_needs_a_token(api_client):
    api_error(api_client.get(ROOMS), 401, "not_authenticated")


def test_retrieve_by_code_in_any_case_and_spacing(auth_client, rider):
    room = RoomFactory(code="ABC234")
    _member(room, RiderFactory())

    for spelling in ["ABC234", "abc234", "aBc234", "ABC%20234"]:
        response = auth_client(rider).get(_room(spelling))
        assert response.status_code == 200, (spelling, response.content)
        assert response.json()["code"] == "ABC234"
        assert response.json()["active_participants"] == 1


def test_retrieve_unknown_code_is_404(auth_client, rider):
    api_error(auth_client(rider).get(_room(_unused_code())), 404, "room_not_found")


@pytest.mark.parametrize("code", MALFORMED_CODES)
def test_retrieve_malformed_code_is_400(auth_client, rider, code):
    error = api_error(auth_client(rider).get(_room(code)), 400, "invalid_room_code")
    assert "code" in error["fields"]


# --- Join, leave, rejoin --------------------------------------------------------------------


def test_join_returns_participant_and_room_with_live_count(auth_client, rider, other_rider):
    room = RoomFactory(creator=other_rider)
    _member(room, other_rider)

    response = auth_client(rider).post(_room(room.code.lower(), "join"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["participant"]["rider"]["id"] == str(rider.pk)
    assert body["participant"]["is_active"] is True
    assert body["participant"]["left_at"] is None
    assert body["room"]["code"] == room.code
    assert body["room"]["active_participants"] == 2
    assert body["left_room_code"] is None
    assert RoomParticipant.objects.filter(room=room, is_active=True).count() == 2


def test_join_full_room_is_409(auth_client, rider):
    room = RoomFactory(max_participants=2)
    _member(room, RiderFactory())
    _member(room, RiderFactory())

    error = api_error(auth_client(rider).post(_room(room.code, "join")), 409, "room_full")

    assert error["capacity"] == 2
    assert not RoomParticipant.objects.filter(room=room, user=rider).exists()


def test_join_twice_is_409(auth_client, rider):
    room = RoomFactory()
    client = auth_client(rider)
    assert client.post(_room(room.code, "join")).status_code == 200

    api_error(client.post(_room(room.code, "join")), 409, "already_in_room")

    assert RoomParticipant.objects.filter(room=room, user=rider).count() == 1


def test_join_ended_room_is_422(auth_client, rider):
    room = _ended(RoomFactory())

    api_error(auth_client(rider).post(_room(room.code, "join")), 422, "room_inactive")


@pytest.mark.parametrize("action", ["join", "leave"])
def test_join_or_leave_unknown_room_is_404(auth_client, rider, action):
    api_error(auth_client(rider).post(_room(_unused_code(), action)), 404, "room_not_found")


@pytest.mark.parametrize("action", ["join", "leave"])
@pytest.mark.parametrize("code", MALFORMED_CODES)
def test_join_or_leave_malformed_code_is_400(auth_client, rider, code, action):
    api_error(auth_client(rider).post(_room(code, action)), 400, "invalid_room_code")


def test_joining_another_room_leaves_the_first(auth_client, rider):
    first, second = RoomFactory(), RoomFactory()
    client = auth_client(rider)
    assert client.post(_room(first.code, "join")).status_code == 200

    response = client.post(_room(second.code, "join"))

    assert response.status_code == 200
    assert response.json()["left_room_code"] == first.code
    assert list(
        RoomParticipant.objects.filter(user=rider, is_active=True).values_list("room", flat=True)
    ) == [second.pk]
    assert client.get(_room(first.code)).json()["active_participants"] == 0


def test_leave_then_leave_again(auth_client, rider):
    room = RoomFactory()
    _member(room, rider)
    client = auth_client(rider)

    response = client.post(_room(room.code, "leave"))

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert response.json()["left_at"] is not None
    api_error(client.post(_room(room.code, "leave")), 409, "not_in_room")


def test_leave_a_room_never_joined_is_409(auth_client, rider):
    api_error(auth_client(rider).post(_room(RoomFactory().code, "leave")), 409, "not_in_room")


def test_rejoin_reactivates_the_same_row(auth_client, rider):
    room = RoomFactory()
    client = auth_client(rider)
    assert client.post(_room(room.code, "join")).status_code == 200
    row_id = RoomParticipant.objects.get(room=room, user=rider).pk
    assert client.post(_room(room.code, "leave")).status_code == 200

    response = client.post(_room(room.code, "rejoin"))

    assert response.status_code == 200, response.content
    assert response.json()["participant"]["is_active"] is True
    assert response.json()["room"]["active_participants"] == 1
    rows = RoomParticipant.objects.filter(room=room, user=rider)
    assert rows.count() == 1
    assert rows.get().pk == row_id
    assert rows.get().is_active
    assert rows.get().left_at is None


def test_join_after_leaving_also_reuses_the_row(auth_client, rider):
    room = RoomFactory()
    row = _member(room, rider, active=False)

    assert auth_client(rider).post(_room(room.code, "join")).status_code == 200

    assert list(
        RoomParticipant.objects.filter(room=room, user=rider).values_list("pk", flat=True)
    ) == [row.pk]


def test_rejoin_a_room_never_joined_is_404(auth_client, rider):
    api_error(auth_client(rider).post(_room(RoomFactory().code, "rejoin")), 404, "never_joined")


def test_rejoin_while_in_the_room_is_409(auth_client, rider):
    room = RoomFactory()
    _member(room, rider)

    api_error(auth_client(rider).post(_room(room.code, "rejoin")), 409, "already_in_room")


def test_rejoin_full_room_is_409(auth_client, rider):
    room = RoomFactory(max_participants=2)
    _member(room, rider, active=False)
    _member(room, RiderFactory())
    _member(room, RiderFactory())

    api_error(auth_client(rider).post(_room(room.code, "rejoin")), 409, "room_full")


def test_rejoin_ended_room_is_422(auth_client, rider):
    room = RoomFactory()
    _member(room, rider, active=False)
    _ended(room)

    api_error(auth_client(rider).post(_room(room.code, "rejoin")), 422, "room_inactive")


def test_leave_a_room_while_riding_in_another_is_409_and_changes_nothing(auth_client, rider):
    elsewhere, room = RoomFactory(), RoomFactory()
    _member(elsewhere, rider)
    _member(room, rider, active=False)

    api_error(auth_client(rider).post(_room(room.code.lower(), "leave")), 409, "not_in_room")

    assert set(RoomParticipant.objects.filter(user=rider).values_list("room", "is_active")) == {
        (elsewhere.pk, True),
        (room.pk, False),
    }


# --- What join and leave cost, and that their answers equal a fresh read -----------------


def _warm(client) -> None:
    """A token's first use writes last_used_at once; take that write out of the count."""
    assert client.get("/api/v1/riders/me/").status_code == 200


def _fresh(room: Room, rider) -> tuple[dict, dict]:
    """The room (with its live count) and the rider's membership as read back after commit."""
    participant = RoomParticipant.objects.select_related("user").get(room=room, user=rider)
    room_data = RoomSerializer(room_get_detail(code=room.code)).data
    return room_data, ParticipantSerializer(participant).data


def test_join_runs_seven_queries(auth_client, rider, exact_queries):
    room = RoomFactory()
    _member(room, RiderFactory())
    client = auth_client(rider)
    _warm(client)

    # token; begin; lock rider and room, read room and creator; count, own row, row elsewhere;
    # insert; the outbox event (with its deliveries, in one statement); commit. The response
    # reads nothing more.
    with exact_queries(7):
        response = client.post(_room(room.code, "join"))

    assert response.status_code == 200, response.content
    assert response.json()["room"]["active_participants"] == 2


def test_join_moving_from_another_room_runs_nine_queries(auth_client, rider, exact_queries):
    first, second = RoomFactory(), RoomFactory()
    _member(first, rider)
    _member(second, rider, active=False)
    client = auth_client(rider)
    _warm(client)

    # As a plain join, with the other membership ended (and its outbox event) before this one
    # is reactivated.
    with exact_queries(9):
        response = client.post(_room(second.code, "join"))

    assert response.status_code == 200, response.content
    assert response.json()["left_room_code"] == first.code


def test_rejoin_runs_eight_queries(auth_client, rider, exact_queries):
    room = RoomFactory()
    _member(room, rider, active=False)
    client = auth_client(rider)
    _warm(client)

    # token; the room by code; then the join's six.
    with exact_queries(8):
        response = client.post(_room(room.code, "rejoin"))

    assert response.status_code == 200, response.content


def test_leave_runs_two_queries(auth_client, rider, exact_queries):
    room = RoomFactory()
    _member(room, rider)
    client = auth_client(rider)
    _warm(client)

    # token; one statement that finds the room by code, ends the membership, records its
    # outbox event and returns it.
    with exact_queries(2):
        response = client.post(_room(room.code, "leave"))

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "scenario", ["first join", "join again", "move", "rejoin", "creator gone", "leave"]
)
def test_join_and_leave_answer_exactly_what_a_fresh_read_serialises(auth_client, rider, scenario):
    leader = RiderFactory(display_name="Lena")
    room = RoomFactory(creator=leader, max_participants=3)
    _member(room, leader)
    elsewhere = RoomFactory()
    action = "rejoin" if scenario == "rejoin" else "join"
    if scenario in {"join again", "rejoin"}:
        _member(room, rider, active=False)
    if scenario in {"move", "leave"}:
        _member(elsewhere, rider)
    if scenario == "creator gone":
        leader.delete()
    if scenario == "leave":
        room = elsewhere
        action = "leave"

    response = auth_client(rider).post(_room(room.code, action))

    assert response.status_code == 200, response.content
    fresh_room, fresh_participant = _fresh(room, rider)
    if action == "leave":
        assert response.json() == fresh_participant
        return
    assert response.json() == {
        "participant": fresh_participant,
        "room": fresh_room,
        "left_room_code": elsewhere.code if scenario == "move" else None,
    }


def test_room_actions_need_a_token(api_client):
    code = RoomFactory().code
    for action in ("join", "leave", "rejoin", "deactivate"):
        api_error(api_client.post(_room(code, action)), 401, "not_authenticated")


def test_room_actions_refuse_get(auth_client, rider):
    code = RoomFactory().code
    for action in ("join", "leave", "rejoin", "deactivate"):
        api_error(auth_client(rider).get(_room(code, action)), 405, "method_not_allowed")


# --- Deactivate -----------------------------------------------------------------------------


def test_creator_ends_the_ride_for_everyone(auth_client, rider):
    room = RoomFactory(creator=rider)
    _member(room, rider)
    _member(room, RiderFactory())

    response = auth_client(rider).post(_room(room.code, "deactivate"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["is_active"] is False
    assert body["deactivated_at"] is not None
    assert body["active_participants"] == 0
    assert not RoomParticipant.objects.filter(room=room, is_active=True).exists()


def test_other_rider_cannot_end_the_ride(auth_client, rider, other_rider):
    room = RoomFactory(creator=rider)
    _member(room, other_rider)

    api_error(auth_client(other_rider).post(_room(room.code, "deactivate")), 403, "not_room_leader")

    assert Room.objects.get(pk=room.pk).is_active


def test_staff_can_end_any_ride(auth_client, staff):
    room = RoomFactory()

    response = auth_client(staff).post(_room(room.code, "deactivate"))

    assert response.status_code == 200
    assert not Room.objects.get(pk=room.pk).is_active


def test_ending_a_ride_twice_is_422(auth_client, rider):
    room = RoomFactory(creator=rider)
    client = auth_client(rider)
    assert client.post(_room(room.code, "deactivate")).status_code == 200

    api_error(client.post(_room(room.code, "deactivate")), 422, "room_inactive")


def test_ending_an_unknown_ride_is_404(auth_client, staff):
    api_error(auth_client(staff).post(_room(_unused_code(), "deactivate")), 404, "room_not_found")


# --- Participants ---------------------------------------------------------------------------


def test_participants_are_listed_to_a_current_member(auth_client, rider):
    room = RoomFactory(max_participants=10)
    _member(room, rider)
    others = [_member(room, RiderFactory()) for _ in range(2)]
    gone = _member(room, RiderFactory(), active=False)

    response = auth_client(rider).get(_room(room.code, "participants"))

    assert response.status_code == 200
    body = response.json()
    ids = {item["rider"]["id"] for item in body["results"]}
    assert ids == {str(rider.pk), *(str(p.user_id) for p in others)}
    assert str(gone.user_id) not in ids
    assert body["count"] == 3
    for item in body["results"]:
        assert set(item["rider"]) == {"id", "username", "display_name"}


def test_participants_are_hidden_from_a_past_member(auth_client, rider):
    room = RoomFactory()
    _member(room, rider, active=False)
    _member(room, RiderFactory())

    api_error(auth_client(rider).get(_room(room.code, "participants")), 403, "not_room_member")


def test_participants_are_listed_to_staff(auth_client, staff):
    room = RoomFactory()
    _member(room, RiderFactory())

    assert auth_client(staff).get(_room(room.code, "participants")).json()["count"] == 1


def test_participants_are_hidden_from_outsiders(auth_client, rider):
    room = RoomFactory()
    _member(room, RiderFactory())

    api_error(auth_client(rider).get(_room(room.code, "participants")), 403, "not_room_member")


def test_participants_need_a_token(api_client):
    api_error(api_client.get(_room(RoomFactory().code, "participants")), 401, "not_authenticated")


def test_participants_of_unknown_room_is_404(auth_client, rider):
    api_error(auth_client(rider).get(_room(_unused_code(), "participants")), 404, "room_not_found")


# --- Remove a participant -------------------------------------------------------------------


def _remove(room: Room, rider_id) -> str:
    return f"{_room(room.code, 'participants')}{rider_id}/"


def test_creator_removes_a_participant(auth_client, rider, other_rider):
    room = RoomFactory(creator=rider)
    _member(room, rider)
    _member(room, other_rider)

    response = auth_client(rider).delete(_remove(room, other_rider.pk))

    assert response.status_code == 204
    assert not response.content
    membership = RoomParticipant.objects.get(room=room, user=other_rider)
    assert not membership.is_active
    assert membership.left_at is not None


def test_staff_removes_a_participant(auth_client, staff, other_rider):
    room = RoomFactory()
    _member(room, other_rider)

    assert auth_client(staff).delete(_remove(room, other_rider.pk)).status_code == 204


def test_other_rider_cannot_remove_a_participant(auth_client, rider, other_rider):
    room = RoomFactory()
    _member(room, rider)
    _member(room, other_rider)

    api_error(auth_client(rider).delete(_remove(room, other_rider.pk)), 403, "not_room_leader")

    assert RoomParticipant.objects.get(room=room, user=other_rider).is_active


def test_removing_someone_not_in_the_room_is_409(auth_client, rider, other_rider):
    room = RoomFactory(creator=rider)
    _member(room, other_rider, active=False)

    api_error(auth_client(rider).delete(_remove(room, other_rider.pk)), 409, "not_in_room")


def test_removing_an_unknown_rider_is_404(auth_client, rider):
    room = RoomFactory(creator=rider)

    api_error(auth_client(rider).delete(_remove(room, uuid.uuid4())), 404, "rider_not_found")


def test_removing_a_malformed_rider_id_is_400(auth_client, rider):
    room = RoomFactory(creator=rider)

    api_error(auth_client(rider).delete(_remove(room, "not-a-uuid")), 400, "invalid_identifier")


# --- When the live layer fails after the commit ---------------------------------------------


def _leave(client, room, leader, member):
    return client(member).post(_room(room.code, "leave"))


def _kick(client, room, leader, member):
    return client(leader).delete(_remove(room, member.pk))


def _end(client, room, leader, member):
    return client(leader).post(_room(room.code, "deactivate"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("change", "status", "listener"),
    [
        (_leave, 200, "realtime_rider_removed"),
        (_kick, 204, "realtime_rider_removed"),
        (_end, 200, "realtime_room_closed"),
    ],
    ids=["leave", "remove", "end"],
)
def test_a_failing_live_layer_neither_undoes_nor_fails_the_committed_change(
    auth_client, rider, other_rider, monkeypatch, caplog, change, status, listener
):
    """Really committed (no test transaction): the listeners run inside the request."""
    room = RoomFactory(creator=rider)
    _member(room, rider)
    _member(room, other_rider)

    def crash(**kwargs):
        raise RuntimeError("the live layer broke")

    monkeypatch.setattr(f"sessions_rt.services.{listener}", crash)

    response = change(auth_client, room, rider, other_rider)

    assert response.status_code == status, response.content
    assert not RoomParticipant.objects.get(room=room, user=other_rider).is_active
    [failure] = [r for r in caplog.records if r.name == "config.domain_events"]
    assert failure.exc_info[0] is RuntimeError


# --- Room statistics ------------------------------------------------------------------------


def _room_with_logs(rider) -> tuple[Room, datetime]:
    room = RoomFactory()
    _member(room, rider)
    start = (timezone.now() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    for minutes, rtt in ((5, 40), (10, 60), (70, 100)):
        ConnectionLogFactory(
            user=rider,
            room=room,
            event_type=EventType.QUALITY_REPORT,
            metrics={"rtt_ms": rtt},
            occurred_at=start + timedelta(minutes=minutes),
        )
    ConnectionLogFactory(user=rider, room=None, occurred_at=start + timedelta(minutes=5))
    return room, start


def test_room_stats_with_hourly_buckets(auth_client, rider):
    room, start = _room_with_logs(rider)
    window = {
        "since": start.isoformat(),
        "until": (start + timedelta(hours=2)).isoformat(),
        "bucket": "1h",
    }

    response = auth_client(rider).get(_room(room.code, "stats"), window)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["bucket"] == "1h"
    assert body["total_events"] == 3
    assert body["events_by_type"]["quality_report"] == 3
    assert body["rtt_ms"]["samples"] == 3
    assert body["rtt_ms"]["average"] == pytest.approx(200 / 3)
    assert body["rtt_ms"]["p50"] == pytest.approx(60)
    assert [bucket["total_events"] for bucket in body["buckets"]] == [2, 1]
    assert [bucket["rtt_ms"]["average"] for bucket in body["buckets"]] == [50, 100]


def test_room_stats_window_excludes_events_outside_it(auth_client, rider):
    room, start = _room_with_logs(rider)
    window = {
        "since": (start + timedelta(minutes=8)).isoformat(),
        "until": (start + timedelta(minutes=60)).isoformat(),
    }

    body = auth_client(rider).get(_room(room.code, "stats"), window).json()

    assert body["total_events"] == 1
    assert body["bucket"] is None
    assert body["buckets"] == []


def test_room_stats_default_window_is_the_last_day(auth_client, rider):
    room, _ = _room_with_logs(rider)
    ConnectionLogFactory(user=rider, room=room, occurred_at=timezone.now() - timedelta(hours=25))

    body = auth_client(rider).get(_room(room.code, "stats")).json()

    assert body["total_events"] == 3


def test_room_stats_open_to_active_members_and_staff_not_past_members(
    auth_client, rider, other_rider, staff
):
    room = RoomFactory()
    _member(room, rider, active=False)
    _member(room, other_rider)

    api_error(auth_client(rider).get(_room(room.code, "stats")), 403, "not_room_member")
    assert auth_client(other_rider).get(_room(room.code, "stats")).status_code == 200
    assert auth_client(staff).get(_room(room.code, "stats")).status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [({"bucket": "2h"}, "bucket"), ({"since": "yesterday"}, "since"), ({"until": "x"}, "until")],
)
def test_room_stats_malformed_query_is_400(auth_client, rider, query, field):
    room = RoomFactory()
    _member(room, rider)

    error = api_error(
        auth_client(rider).get(_room(room.code, "stats"), query), 400, "invalid_request"
    )
    assert field in error["fields"]


def test_room_stats_since_after_until_is_422(auth_client, rider):
    room = RoomFactory()
    _member(room, rider)
    now = timezone.now()
    window = {"since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()}

    api_error(auth_client(rider).get(_room(room.code, "stats"), window), 422, "invalid_time_window")


def test_room_stats_too_many_buckets_is_422(auth_client, rider):
    room = RoomFactory()
    _member(room, rider)
    now = timezone.now()
    window = {
        "since": (now - timedelta(days=3)).isoformat(),
        "until": now.isoformat(),
        "bucket": "1m",
    }

    api_error(auth_client(rider).get(_room(room.code, "stats"), window), 422, "invalid_time_window")


def test_room_stats_hidden_from_outsiders(auth_client, rider):
    room, _ = _room_with_logs(RiderFactory())

    api_error(auth_client(rider).get(_room(room.code, "stats")), 403, "not_room_member")
