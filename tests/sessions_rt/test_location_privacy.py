"""Location privacy from the phones' side: positions reach only the live riders of the ride
the socket is in, leave with a rider who leaves, expire with the ride's keys; a rider pauses
sharing their position; and battery and network type are shared only if the rider says so."""

from contextlib import AsyncExitStack

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from config.redis_config import redis_client
from riders.models import Rider
from rooms.services import participant_join, participant_leave, participant_remove
from sessions_rt.store import keys
from tests.sessions_rt.test_consumer import (
    connect_all,
    make_ride,
    opened,
    receive,
    receive_close,
    socket_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

ALPE = {"type": "location", "lat": 45.0917, "lon": 6.0706, "speed_kmh": 40.0, "heading_deg": 10}
STELVIO = {"type": "location", "lat": 46.5286, "lon": 10.4532}


async def presence_of(ride, member) -> dict:
    """GET rooms/{code}/presence/ as ``member`` sees it."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {member.key}")

    def get():
        response = client.get(f"/api/v1/rooms/{ride.room.code}/presence/")
        assert response.status_code == 200, response.content
        return response.json()

    return await database_sync_to_async(get)()


def member_of(state: dict, rider_id: str) -> dict:
    return next(member for member in state["members"] if member["rider_id"] == rider_id)


async def send_and_see(sender, others, frame: dict) -> dict:
    """Send a location and return what the first of ``others`` received."""
    await sender.send_json_to(frame)
    received = [await receive(socket) for socket in others]
    return received[0]


# --- Positions stay in the ride, and leave with the rider -----------------------------------


async def test_positions_reach_only_the_sockets_of_the_senders_ride():
    ride = await make_ride(riders=2)
    elsewhere = await make_ride(riders=1)
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        [stranger_socket], _ = await connect_all(stack, elsewhere)
        await rider_socket.send_json_to(ALPE)
        assert (await receive(leader_socket))["type"] == "location"
        assert await stranger_socket.receive_nothing(timeout=0.3)
        # Nor does the other ride's live state hold it.
        assert (
            member_of(await presence_of(elsewhere, elsewhere.members[0]), elsewhere.members[0].id)[
                "location"
            ]
            is None
        )


@pytest.mark.parametrize("how", ["left", "kicked", "moved"])
async def test_a_rider_out_of_the_ride_takes_their_position_and_hears_no_more(how):
    ride = await make_ride(riders=3)
    leader, rider, _ = ride.members
    async with AsyncExitStack() as stack:
        sockets, _ = await connect_all(stack, ride)
        leader_socket, rider_socket, third_socket = sockets
        await send_and_see(rider_socket, [leader_socket, third_socket], ALPE)
        assert member_of(await presence_of(ride, leader), rider.id)["location"] is not None

        if how == "left":
            await database_sync_to_async(participant_leave)(rider=rider.rider, code=ride.room.code)
        elif how == "kicked":
            await database_sync_to_async(participant_remove)(
                room=ride.room, rider=rider.rider, actor=leader.rider
            )
        else:
            other = await make_ride(riders=1)
            await database_sync_to_async(participant_join)(rider=rider.rider, code=other.room.code)
        code, frames = await receive_close(rider_socket)
        assert code in (4010, 4012)
        assert [frame["type"] for frame in frames] == ["removed"]
        for socket in (leader_socket, third_socket):
            left = await receive(socket)
            assert (left["type"], left["rider_id"]) == ("member_left", rider.id)

        # The ride moves on without them: positions reach the riders still in it only, and
        # neither the ride's presence nor a fresh snapshot has the rider or their position.
        await send_and_see(third_socket, [leader_socket], STELVIO)
        state = await presence_of(ride, leader)
        assert rider.id not in [member["rider_id"] for member in state["members"]]
        await leader_socket.send_json_to({"type": "sync"})
        snapshot = await receive(leader_socket)
        assert rider.id not in [member["rider_id"] for member in snapshot["members"]]
        found = redis_client().geopos(keys.room_keys(str(ride.room.pk)).locations, rider.id)
        assert found == [None]


async def test_positions_expire_with_the_rides_keys(settings):
    settings.ROOM_SESSION_TTL_SECONDS = 120
    ride = await make_ride(riders=2)
    room_keys = keys.room_keys(str(ride.room.pk))
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        await send_and_see(rider_socket, [leader_socket], ALPE)
        redis = redis_client()
        for key in (room_keys.locations, room_keys.location_details):
            assert 0 < redis.pttl(key) <= 120_000


# --- Pausing the position ------------------------------------------------------------------


async def test_pausing_removes_the_position_and_tells_every_socket_in_seq_order():
    ride = await make_ride(riders=3)
    leader, rider, sweep = ride.members
    async with AsyncExitStack() as stack:
        sockets, _ = await connect_all(stack, ride)
        leader_socket, rider_socket, sweep_socket = sockets
        await leader_socket.send_json_to({"type": "set_sweep", "rider_id": sweep.id})
        named = [await receive(socket) for socket in sockets]
        await send_and_see(rider_socket, [leader_socket, sweep_socket], ALPE)

        await rider_socket.send_json_to({"type": "location_sharing", "paused": True, "ref": 1})
        events = [await receive(socket) for socket in sockets]
        # The leader and the sweep see the pause like everyone, the sender included.
        assert events[0] == events[1] == events[2]
        paused = events[0]
        assert (paused["type"], paused["rider_id"], paused["payload"]) == (
            "location_sharing_changed",
            rider.id,
            {"location_paused": True},
        )
        assert paused["seq"] == named[0]["seq"] + 1

        # Gone from the snapshot, from REST presence, and from nearby and behind.
        await leader_socket.send_json_to({"type": "sync"})
        snapshot = await receive(leader_socket)
        assert snapshot["seq"] == paused["seq"]
        for state in (snapshot, await presence_of(ride, sweep)):
            member = member_of(state, rider.id)
            assert (member["location_paused"], member["location"]) == (True, None)
            assert member_of(state, leader.id)["location_paused"] is False
        await leader_socket.send_json_to(STELVIO)
        await receive(rider_socket), await receive(sweep_socket)
        await leader_socket.send_json_to({"type": "nearby", "radius_km": 20000})
        assert (await receive(leader_socket))["riders"] == []
        await leader_socket.send_json_to({"type": "behind", "threshold_km": 0})
        assert (await receive(leader_socket))["riders"] == []
        await rider_socket.send_json_to({"type": "nearby", "radius_km": 20000, "ref": "n"})
        refused = await receive(rider_socket)
        assert (refused["code"], refused["ref"]) == ("no_reference_position", "n")

        # While paused, positions are dropped without an answer: not stored, not relayed.
        await rider_socket.send_json_to(ALPE)
        for socket in sockets:
            assert await socket.receive_nothing(timeout=0.3)
        assert member_of(await presence_of(ride, leader), rider.id)["location"] is None

        # Pausing again changes nothing and tells no one.
        await rider_socket.send_json_to({"type": "location_sharing", "paused": True})
        assert await leader_socket.receive_nothing(timeout=0.3)

        # Sharing again: an event, then positions from the next one on.
        await rider_socket.send_json_to({"type": "location_sharing", "paused": False})
        resumed = [await receive(socket) for socket in sockets]
        assert resumed[0]["payload"] == {"location_paused": False}
        assert resumed[0]["seq"] == paused["seq"] + 1
        assert member_of(await presence_of(ride, leader), rider.id)["location"] is None
        location = await send_and_see(rider_socket, [leader_socket, sweep_socket], STELVIO)
        assert (location["rider_id"], location["lat"]) == (rider.id, STELVIO["lat"])
        member = member_of(await presence_of(ride, leader), rider.id)
        assert (member["location_paused"], member["location"]["lat"]) == (False, STELVIO["lat"])


async def test_the_pause_outlasts_a_reconnect_within_the_grace_period():
    ride = await make_ride(riders=2)
    leader, rider = ride.members
    async with AsyncExitStack() as stack:
        [leader_socket], _ = await connect_all(stack, ride, [leader])
        async with opened(socket_for(ride.room, rider.key)) as first:
            await receive(first)
            await receive(leader_socket)  # member_joined
            await first.send_json_to({"type": "location_sharing", "paused": True})
            await receive(first), await receive(leader_socket)
            await first.disconnect(code=1006)
        await receive(leader_socket)  # reconnecting
        async with opened(socket_for(ride.room, rider.key)) as again:
            snapshot = await receive(again)
            assert member_of(snapshot, rider.id)["location_paused"] is True
            await again.send_json_to(ALPE)
            back = await receive(leader_socket)
            assert back["type"] == "presence_changed"
            assert await leader_socket.receive_nothing(timeout=0.3)


async def test_a_malformed_pause_is_refused_naming_the_field():
    ride = await make_ride(riders=2)
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        for wrong in ("true", 1, None):
            await rider_socket.send_json_to({"type": "location_sharing", "paused": wrong, "ref": 3})
            error = await receive(rider_socket)
            assert (error["code"], list(error["fields"]), error["ref"]) == (
                "invalid_realtime_data",
                ["paused"],
                3,
            )
        await rider_socket.send_json_to({"type": "location_sharing"})
        assert list((await receive(rider_socket))["fields"]) == ["paused"]
        assert await leader_socket.receive_nothing(timeout=0.3)


# --- Battery and network: shared only if the rider says so ------------------------------------


STATUS = {"type": "status", "status": "riding", "battery_pct": 64, "network_type": "cellular"}


@database_sync_to_async
def patch_me(member, body) -> dict:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {member.key}")
    response = client.patch("/api/v1/riders/me/", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


async def test_a_rider_who_shares_no_battery_or_network_never_shows_them():
    ride = await make_ride(riders=2)
    leader, rider = ride.members
    await database_sync_to_async(Rider.objects.filter(pk=rider.rider.pk).update)(
        share_battery=False, share_network=False
    )
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        await rider_socket.send_json_to(STATUS)
        event = await receive(leader_socket)
        await receive(rider_socket)
        assert event["payload"] == {
            "status": "riding",
            "previous_status": "online",
            "battery_pct": None,
            "network_type": None,
        }
        # A battery or network alone changes nothing anyone sees.
        await rider_socket.send_json_to({**STATUS, "battery_pct": 12})
        assert await leader_socket.receive_nothing(timeout=0.3)
        await leader_socket.send_json_to({"type": "sync"})
        for state in (await receive(leader_socket), await presence_of(ride, leader)):
            member = member_of(state, rider.id)
            assert (member["status"], member["battery_pct"], member["network_type"]) == (
                "riding",
                None,
                None,
            )
        stored = redis_client().hget(keys.room_keys(str(ride.room.pk)).presence, rider.id)
        assert b"64" not in stored
        assert b"cellular" not in stored


async def test_turning_sharing_off_mid_ride_drops_the_values_at_once():
    ride = await make_ride(riders=2)
    leader, rider = ride.members
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        await rider_socket.send_json_to(STATUS)
        shared = await receive(leader_socket)
        await receive(rider_socket)
        assert shared["payload"]["battery_pct"] == 64

        profile = await patch_me(rider, {"share_battery": False})
        assert (profile["share_battery"], profile["share_network"]) == (False, True)
        dropped = await receive(leader_socket)
        assert await receive(rider_socket) == dropped
        assert dropped["type"] == "presence_changed"
        assert dropped["seq"] == shared["seq"] + 1
        assert dropped["payload"] == {
            "status": "riding",
            "previous_status": "riding",
            "battery_pct": None,
            "network_type": "cellular",
        }
        member = member_of(await presence_of(ride, leader), rider.id)
        assert (member["battery_pct"], member["network_type"]) == (None, "cellular")

        # Turning it back on shares from the phone's next report.
        await patch_me(rider, {"share_battery": True})
        assert await leader_socket.receive_nothing(timeout=0.3)
        await rider_socket.send_json_to({**STATUS, "battery_pct": 63})
        assert (await receive(leader_socket))["payload"]["battery_pct"] == 63


async def test_a_new_socket_applies_the_choice_it_reads_from_the_profile():
    ride = await make_ride(riders=2)
    rider = ride.members[1]
    async with AsyncExitStack() as stack:
        (leader_socket, rider_socket), _ = await connect_all(stack, ride)
        await rider_socket.send_json_to(STATUS)
        await receive(leader_socket), await receive(rider_socket)
        # Changed where no announcement reaches the live ride (as a deploy in between might).
        await database_sync_to_async(Rider.objects.filter(pk=rider.rider.pk).update)(
            share_network=False
        )
        async with opened(socket_for(ride.room, rider.key)) as second:
            snapshot = await receive(second)
            assert member_of(snapshot, rider.id)["network_type"] is None
            dropped = await receive(leader_socket)
            assert (dropped["type"], dropped["payload"]["network_type"]) == (
                "presence_changed",
                None,
            )
