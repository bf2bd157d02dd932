"""Races through the whole HTTP stack, on real PostgreSQL: many phones press the button at once.

Each worker thread has its own APIClient (and so its own pooled database connection), waits at
a barrier so all requests start together, and closes its connection when done so the pool
(DB_CONNECTION_LIMIT) keeps serving the others.
"""

from collections import Counter
from collections.abc import Callable, Sequence

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from riders.auth_tokens import token_issue
from riders.models import Rider
from rooms.models import RoomParticipant
from tests.racing import race
from tests.rooms.factories import RoomFactory

pytestmark = pytest.mark.django_db(transaction=True)

UNTHROTTLED = {
    "rider": "100000/min",
    "credentials_ip": "100000/min",
    "credentials_account": "100000/min",
}


def _outcomes(responses) -> Counter:
    return Counter(
        (r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else None)
        for r in responses
    )


@override_settings(API_THROTTLE_RATES=UNTHROTTLED)
def test_hundred_riders_racing_for_eight_places():
    room = RoomFactory(max_participants=8)
    riders = Rider.objects.bulk_create(
        Rider(username=f"racer{n:03d}", email=f"racer{n:03d}@example.com", password="!")
        for n in range(100)
    )
    keys = [token_issue(rider=rider).key for rider in riders]
    url = f"/api/v1/rooms/{room.code}/join/"

    def join(key: str) -> Callable[[APIClient], object]:
        return lambda client: client.post(url, HTTP_AUTHORIZATION=f"Bearer {key}")

    responses = _sent_at_once([join(key) for key in keys])

    assert _outcomes(responses) == {(200, None): 8, (409, "room_full"): 92}
    assert RoomParticipant.objects.filter(room=room, is_active=True).count() == 8
    assert RoomParticipant.objects.filter(room=room).count() == 8
    # The joins ran one after another: each winner saw the count its own join produced.
    live_counts = sorted(
        r.json()["room"]["active_participants"] for r in responses if r.status_code == 200
    )
    assert live_counts == list(range(1, 9))


@override_settings(API_THROTTLE_RATES=UNTHROTTLED)
def test_twenty_registrations_of_one_username_in_any_case():
    spellings = [
        "".join(ch.upper() if (n >> i) & 1 else ch for i, ch in enumerate("convoyrace"))
        for n in range(20)
    ]
    assert len(set(spellings)) == 20

    def register(n: int, username: str) -> Callable[[APIClient], object]:
        payload = {
            "username": username,
            "email": f"racer{n}@example.com",
            "password": "gravel-Road-77",
        }
        return lambda client: client.post("/api/v1/auth/register/", payload, format="json")

    responses = _sent_at_once([register(n, name) for n, name in enumerate(spellings)])

    assert _outcomes(responses) == {(201, None): 1, (409, "username_taken"): 19}
    winner = next(r for r in responses if r.status_code == 201).json()
    assert str(Rider.objects.get().pk) == winner["rider"]["id"]
    assert Rider.objects.filter(username__iexact="convoyrace").count() == 1


def _sent_at_once(requests: Sequence[Callable[[APIClient], object]]) -> list:
    """Send every request from its own thread and client, all released at once."""
    responses = race([lambda send=send: send(APIClient()) for send in requests])
    failures = [response for response in responses if isinstance(response, Exception)]
    assert not failures, failures[:3]
    return responses
