"""Through a real server: a removed rider no longer sees the ride's live positions, and
cannot come back, over REST or the ride socket, until the leader readmits them."""

import asyncio
import json

import httpx
import pytest
import websockets

from riders.auth_tokens import token_issue
from rooms.services import participant_join, room_create
from sessions_rt.consumers import PROTOCOL
from sessions_rt.protocol import CloseCode
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


def _socket(base: str, code: str, key: str):
    return websockets.connect(
        f"{base.replace('http', 'ws')}/ws/rooms/{code}/",
        subprotocols=[PROTOCOL, f"bearer.{key}"],
        open_timeout=10,
    )


async def _first_message_or_close(base: str, code: str, key: str):
    """("snapshot", None) if the socket is let in, ("closed", code) if it is closed out."""
    async with _socket(base, code, key) as socket:
        try:
            async with asyncio.timeout(10):
                message = json.loads(await socket.recv())
        except websockets.ConnectionClosed as closed:
            return "closed", closed.rcvd.code if closed.rcvd else None
        return message["type"], None


def test_a_removed_rider_stays_out_over_rest_and_the_socket_until_readmitted(live_server_url):
    leader, removed = RiderFactory(), RiderFactory()
    room = room_create(creator=leader, name="Susten pass")
    participant_join(rider=removed, code=room.code)
    leader_key = token_issue(rider=leader, device_name="a").key
    removed_key = token_issue(rider=removed, device_name="b").key
    as_leader = {"Authorization": f"Bearer {leader_key}"}
    as_removed = {"Authorization": f"Bearer {removed_key}"}
    api = f"{live_server_url}/api/v1/rooms/{room.code}"

    with httpx.Client(timeout=10) as http:
        assert (
            http.delete(f"{api}/participants/{removed.pk}/", headers=as_leader).status_code == 204
        )
        refused = [http.post(f"{api}/{how}/", headers=as_removed) for how in ("join", "rejoin")]
        socket_refused = asyncio.run(
            _first_message_or_close(live_server_url, room.code, removed_key)
        )
        readmitted = http.post(f"{api}/participants/{removed.pk}/readmit/", headers=as_leader)
        socket_before_joining = asyncio.run(
            _first_message_or_close(live_server_url, room.code, removed_key)
        )
        joined = http.post(f"{api}/join/", headers=as_removed)
        socket_after_joining = asyncio.run(
            _first_message_or_close(live_server_url, room.code, removed_key)
        )

    assert [(r.status_code, r.json()["error"]["code"]) for r in refused] == [
        (403, "removed_from_ride"),
        (403, "removed_from_ride"),
    ]
    # The socket says why, as REST does: removed (4010), not "join first" (4003).
    assert socket_refused == ("closed", CloseCode.KICKED)
    assert readmitted.status_code == 204
    # Readmitted is not in the ride: the socket still wants a join first.
    assert socket_before_joining == ("closed", CloseCode.NOT_PARTICIPANT)
    assert joined.status_code == 200, joined.text
    assert socket_after_joining == ("snapshot", None)
