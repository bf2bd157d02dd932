"""Two real server processes share one ride through PostgreSQL and Redis.

A rider on one process sees a rider on the other join, move and be kicked: the channel layer
carries every message between processes, as it does between hosts behind a load balancer.
"""

import asyncio
import contextlib
import json

import httpx
import pytest
import websockets
from channels.db import database_sync_to_async
from django.conf import settings

from bench.harness import running_server
from riders.auth_tokens import token_issue
from rooms.services import participant_join, room_create
from sessions_rt.consumers import PROTOCOL
from sessions_rt.protocol import CloseCode
from tests.ops.processes import database_url_for
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_servers():
    """Two single-worker servers on the test database and the test Redis."""
    env = {
        "DATABASE_URL": database_url_for(settings.DATABASES["default"]["NAME"]),
        "REDIS_URL": settings.REDIS_URL,
        "CONVOY_KEY_PREFIX": "convoy-test-two-servers",
        "LOG_LEVEL": "WARNING",
        # Two connections each are plenty here and keep the suite's footprint small.
        "DB_POOL_SIZE": "2",
        "DB_CONNECTION_LIMIT": "4",
    }
    with (
        running_server(workers=1, extra_env=env) as first,
        running_server(workers=1, extra_env=env) as second,
    ):
        yield first, second


async def _receive(socket, wanted_type: str, rider_id=None, timeout: float = 5.0) -> dict:
    """The next message of ``wanted_type`` (about ``rider_id`` if given); others are skipped."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == wanted_type and rider_id in (None, message.get("rider_id")):
                return message


def _socket(base: str, code: str, key: str):
    return websockets.connect(
        f"{base.replace('http', 'ws')}/ws/rooms/{code}/",
        subprotocols=[PROTOCOL, f"bearer.{key}"],
        open_timeout=10,
    )


@pytest.fixture
def ride():
    leader, rider = RiderFactory(), RiderFactory()
    room = room_create(creator=leader, name="Two hosts")
    participant_join(rider=rider, code=room.code)
    return room, leader, rider, token_issue(rider=leader).key, token_issue(rider=rider).key


async def test_riders_on_two_processes_see_each_other_join_move_and_be_kicked(two_servers, ride):
    first, second = two_servers
    room, _leader, rider, leader_key, rider_key = ride

    async with _socket(first, room.code, leader_key) as leader_socket:
        await _receive(leader_socket, "snapshot")
        async with _socket(second, room.code, rider_key) as rider_socket:
            await _receive(rider_socket, "snapshot")

            joined = await _receive(leader_socket, "member_joined", rider_id=str(rider.pk))
            assert joined["seq"] == 2

            await rider_socket.send(json.dumps({"type": "location", "lat": 46.5, "lon": 11.35}))
            moved = await _receive(leader_socket, "location", rider_id=str(rider.pk))
            assert (moved["rider_id"], moved["lat"], moved["lon"]) == (str(rider.pk), 46.5, 11.35)

            async with httpx.AsyncClient(base_url=first) as http:
                kicked = await http.delete(
                    f"/api/v1/rooms/{room.code}/participants/{rider.pk}/",
                    headers={"Authorization": f"Bearer {leader_key}"},
                )
            assert kicked.status_code == 204, kicked.text

            removed = await _receive(rider_socket, "removed")
            assert removed["reason"] == "kicked"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(rider_socket.recv(), 5)
            assert closed.value.rcvd.code == CloseCode.KICKED

            left = await _receive(leader_socket, "member_left", rider_id=str(rider.pk))
            assert (left["rider_id"], left["payload"]["reason"]) == (str(rider.pk), "kicked")


RIDERS_PER_SERVER, ROUNDS = 3, 30


async def _frames_until_quiet(socket, quiet_seconds: float = 1.5) -> list[dict]:
    frames = []
    while True:
        try:
            frames.append(json.loads(await asyncio.wait_for(socket.recv(), quiet_seconds)))
        except TimeoutError:
            return frames


def _apply_documented_rule(snapshot: dict, frames: list[dict]) -> tuple[list[int], dict]:
    """What a phone following docs/realtime.md holds: the snapshot, then each event with a
    seq above the one it holds. Returns the seqs in arrival order and each rider's status."""
    held = snapshot["seq"]
    statuses = {member["rider_id"]: member["status"] for member in snapshot["members"]}
    arrived = []
    for frame in frames:
        if "seq" not in frame:
            continue
        arrived.append(frame["seq"])
        if frame["seq"] <= held:
            continue
        held = frame["seq"]
        if frame["type"] == "presence_changed":
            statuses[frame["rider_id"]] = frame["payload"]["status"]
    return arrived, statuses


def _ride_of(size: int):
    """A ride of ``size`` riders, and a token of each, its creator's first."""
    riders = [RiderFactory() for _ in range(size)]
    room = room_create(creator=riders[0], name="Six at once")
    for rider in riders[1:]:
        participant_join(rider=rider, code=room.code)
    return room, [token_issue(rider=rider).key for rider in riders]


async def test_every_socket_on_both_processes_gets_the_ride_events_in_seq_order(two_servers):
    """Six riders on two processes change status at the same instants, round after round:
    every socket receives the ride's events in strictly increasing seq order, none missing,
    and a phone applying the documented rule ends where the REST presence is."""
    room, keys = await database_sync_to_async(_ride_of)(2 * RIDERS_PER_SERVER)
    bases = [two_servers[index % 2] for index in range(len(keys))]

    async with contextlib.AsyncExitStack() as stack:
        sockets, snapshots = [], []
        for base, key in zip(bases, keys, strict=True):
            socket = await stack.enter_async_context(_socket(base, room.code, key))
            sockets.append(socket)
            # The first frame is the snapshot; everything after it goes through the rule.
            snapshots.append(await _receive(socket, "snapshot"))

        async def change_status(socket, round_number):
            status = "riding" if round_number % 2 == 0 else "paused"
            await socket.send(json.dumps({"type": "status", "status": status}))

        for round_number in range(ROUNDS):
            await asyncio.gather(*(change_status(socket, round_number) for socket in sockets))
        received = [await _frames_until_quiet(socket) for socket in sockets]
        # While every socket is still open: closing them takes the riders out.
        async with httpx.AsyncClient(base_url=two_servers[0]) as http:
            presence = await http.get(
                f"/api/v1/rooms/{room.code}/presence/",
                headers={"Authorization": f"Bearer {keys[0]}"},
            )

    assert presence.status_code == 200, presence.text
    truth = {member["rider_id"]: member["status"] for member in presence.json()["members"]}
    assert set(truth.values()) == {"paused"}
    last_seq = presence.json()["seq"]
    for snapshot, frames in zip(snapshots, received, strict=True):
        arrived, statuses = _apply_documented_rule(snapshot, frames)
        assert arrived == sorted(set(arrived)), "an event came after a higher seq"
        # Every event after the snapshot, and none the snapshot holds (its own member_joined).
        assert arrived == list(range(snapshot["seq"] + 1, last_seq + 1)), "an event is amiss"
        assert statuses == truth
