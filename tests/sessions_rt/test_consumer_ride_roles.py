"""Ride roles and distances over the socket: the leader names a sweep; riders ask who is near
them and who has fallen behind."""

from contextlib import AsyncExitStack

import pytest

from tests.sessions_rt.test_consumer import connect_all, make_ride, receive

pytestmark = pytest.mark.django_db(transaction=True)

# Along a valley road, a few kilometres apart: leader ahead, the others behind.
LEADER_AT = (46.5000, 11.3500)
SECOND_AT = (46.4900, 11.3500)  # about 1.1 km behind
THIRD_AT = (46.4500, 11.3500)  # about 5.6 km behind


async def _place(sockets, positions) -> None:
    for socket, (lat, lon) in zip(sockets, positions, strict=True):
        await socket.send_json_to({"type": "location", "lat": lat, "lon": lon})
    for socket in sockets:  # every socket sees every other rider's position
        for _ in positions[1:]:
            assert (await receive(socket))["type"] == "location"


async def test_the_leader_names_a_sweep_and_everyone_hears_it():
    ride = await make_ride(riders=3)
    sweep = ride.members[2]
    async with AsyncExitStack() as stack:
        sockets, _ = await connect_all(stack, ride)
        await sockets[0].send_json_to({"type": "set_sweep", "rider_id": sweep.id})
        events = [await receive(socket) for socket in sockets]

    assert {event["type"] for event in events} == {"sweep_changed"}
    assert events[1]["payload"]["sweep_id"] == sweep.id


async def test_only_the_leader_names_the_sweep():
    ride = await make_ride(riders=3)
    async with AsyncExitStack() as stack:
        sockets, _ = await connect_all(stack, ride)
        await sockets[1].send_json_to({"type": "set_sweep", "rider_id": ride.members[2].id})
        error = await receive(sockets[1])
        assert (error["type"], error["code"]) == ("error", "not_ride_leader")
        assert await sockets[0].receive_nothing(timeout=0.3)


async def test_nearby_lists_riders_within_the_radius_nearest_first():
    ride = await make_ride(riders=3)
    async with AsyncExitStack() as stack:
        sockets, _ = await connect_all(stack, ride)
        await _place(sockets, [LEADER_AT, SECOND_AT, THIRD_AT])
        await sockets[0].send_json_to({"type": "nearby", "radius_km": 3, "ref": "n1"})
        answer = await receive(sockets[0])

    assert (answer["type"], answer["ref"]) == ("nearby", "n1")
    assert [rider["rider_id"] for rider in answer["riders"]] == [ride.members[1].id]
    assert answer["riders"][0]["distance_km"] == pytest.approx(1.11, rel=0.02)


async def test_behind_lists_riders_farther_than_the_threshold_from_the_leader():
    ride = await make_ride(riders=3)
    async with AsyncExitStack() as stack:
        sockets, _ = await connect_all(stack, ride)
        await _place(sockets, [LEADER_AT, SECOND_AT, THIRD_AT])
        await sockets[1].send_json_to({"type": "behind", "threshold_km": 2})
        answer = await receive(sockets[1])

    assert answer["type"] == "behind"
    assert [rider["rider_id"] for rider in answer["riders"]] == [ride.members[2].id]
    assert answer["riders"][0]["distance_km"] == pytest.approx(5.56, rel=0.02)


async def test_behind_with_an_unknown_reference_is_an_error():
    ride = await make_ride(riders=1)
    async with AsyncExitStack() as stack:
        [socket], _ = await connect_all(stack, ride)
        await socket.send_json_to({"type": "behind", "threshold_km": 2, "reference": "moon"})
        error = await receive(socket)

    assert (error["type"], error["code"]) == ("error", "invalid_realtime_data")
