"""Through a real server: a removed rider no longer sees the ride's live positions."""

import httpx
import pytest

from riders.auth_tokens import token_issue
from rooms.services import participant_join, room_create
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_removed_rider_loses_presence_over_http(live_server_url):
    creator, b = RiderFactory(), RiderFactory()
    room = room_create(creator=creator, name="Grossglockner")
    participant_join(rider=b, code=room.code)
    as_creator = {"Authorization": f"Bearer {token_issue(rider=creator, device_name='a').key}"}
    as_b = {"Authorization": f"Bearer {token_issue(rider=b, device_name='b').key}"}
    presence = f"{live_server_url}/api/v1/rooms/{room.code}/presence/"

    with httpx.Client(timeout=10) as http:
        assert http.get(presence, headers=as_b).status_code == 200
        removed = http.delete(
            f"{live_server_url}/api/v1/rooms/{room.code}/participants/{b.pk}/", headers=as_creator
        )
        assert removed.status_code == 204
        refused = http.get(presence, headers=as_b)

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_room_member"
