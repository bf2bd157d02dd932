"""Positions in the room's GEO set, and the distance questions asked of them.

The ride runs due south along a meridian from 45°N 7°E: 0.01° of latitude is 1.1119 km
there, independently of the formula, so expected distances are plain arithmetic.
"""

import math
from datetime import timedelta

import pytest

from sessions_rt.errors import InvalidRealtimeData, NoReferencePosition, NotLiveMember
from sessions_rt.store import keys
from sessions_rt.store.events import snapshot
from sessions_rt.store.members import member_join, sweep_set
from sessions_rt.store.positions import location_update, riders_behind, riders_within
from tests.sessions_rt.conftest import new_id

START_LAT, LON = 45.0, 7.0
# Mean Earth radius (IUGG), deliberately not the one Redis and the module use: the two agree
# to 0.03 %, far inside the 1 % tolerance.
MEAN_EARTH_RADIUS_KM = 6371.0088


def km_south(lat_a, lat_b):
    return MEAN_EARTH_RADIUS_KM * math.radians(abs(lat_a - lat_b))


def assert_close(actual, expected):
    assert actual == pytest.approx(expected, rel=0.01)


@pytest.fixture
def ride(room_id, leader_id):
    """Join riders and place them at the given latitudes (on the meridian); the first is the
    leader. Returns their ids."""

    def place(*latitudes):
        riders = [leader_id] + [new_id() for _ in latitudes[1:]]
        for rider, lat in zip(riders, latitudes, strict=True):
            member_join(room_id, rider, leader_id=leader_id)
            location_update(room_id, rider, lat=lat, lon=LON)
        return riders

    return place


def test_location_update_stores_the_position_and_returns_it_for_broadcast(
    redis, room_id, leader_id, t0
):
    member_join(room_id, leader_id, leader_id=leader_id)
    at = t0 + timedelta(seconds=3)

    fix = location_update(
        room_id, leader_id, lat=45.123456, lon=7.654321, speed_kmh=88.5, heading_deg=271, now=at
    )

    assert fix.as_dict() == {
        "rider_id": leader_id,
        "lat": 45.123456,
        "lon": 7.654321,
        "speed_kmh": 88.5,
        "heading_deg": 271.0,
        "at": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    [(lon, lat)] = redis.geopos(keys.room_keys(room_id).locations, leader_id)
    assert (lat, lon) == (pytest.approx(45.123456, abs=1e-5), pytest.approx(7.654321, abs=1e-5))
    shown = snapshot(room_id)["members"][0]
    assert shown["location"] == {
        key: value for key, value in fix.as_dict().items() if key != "rider_id"
    }
    assert shown["last_seen"] == fix.as_dict()["at"]


def test_positions_are_not_logged_as_events(room_id, leader_id):
    member_join(room_id, leader_id, leader_id=leader_id)
    for step in range(5):
        location_update(room_id, leader_id, lat=45 + step / 1000, lon=LON)
    assert snapshot(room_id)["seq"] == 1


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        ({"lat": 85.06, "lon": 0}, "lat", "85.05112878"),
        ({"lat": -85.06, "lon": 0}, "lat", "85.05112878"),
        ({"lat": 90.5, "lon": 0}, "lat", "-90 to 90"),
        ({"lat": 0, "lon": 180.01}, "lon", "-180 to 180"),
        ({"lat": 0, "lon": -181}, "lon", "-180 to 180"),
        ({"lat": math.nan, "lon": 0}, "lat", "number"),
        ({"lat": "45", "lon": 0}, "lat", "number"),
        ({"lat": True, "lon": 0}, "lat", "number"),
        ({"lat": 0, "lon": 10**400}, "lon", "number"),
        ({"lat": 0, "lon": 0, "speed_kmh": -1}, "speed_kmh", "0 to 400"),
        ({"lat": 0, "lon": 0, "speed_kmh": 400.1}, "speed_kmh", "0 to 400"),
        ({"lat": 0, "lon": 0, "speed_kmh": math.inf}, "speed_kmh", "0 to 400"),
        ({"lat": 0, "lon": 0, "heading_deg": 360.5}, "heading_deg", "0 to 360"),
        ({"lat": 0, "lon": 0, "heading_deg": math.nan}, "heading_deg", "0 to 360"),
    ],
)
def test_location_update_refuses_values_out_of_range(room_id, leader_id, options, field, words):
    member_join(room_id, leader_id, leader_id=leader_id)
    with pytest.raises(InvalidRealtimeData) as caught:
        location_update(room_id, leader_id, **options)
    assert field in caught.value.fields
    assert words in caught.value.message


def test_the_edges_of_the_allowed_ranges_are_accepted(room_id, leader_id):
    member_join(room_id, leader_id, leader_id=leader_id)
    location_update(room_id, leader_id, lat=85.05112878, lon=-180, speed_kmh=400, heading_deg=360)
    location_update(room_id, leader_id, lat=-85.05112878, lon=180, speed_kmh=0, heading_deg=0)


def test_a_position_from_a_rider_who_is_not_live_is_refused(room_id):
    with pytest.raises(NotLiveMember):
        location_update(room_id, new_id(), lat=45, lon=7)


def test_riders_within_a_radius_nearest_first_with_distances(room_id, ride):
    me, near, farther, far = ride(45.0, 44.99, 44.97, 44.90)

    found = riders_within(room_id, me, radius_km=5)

    assert [rider for rider, _ in found] == [near, farther]
    assert_close(found[0][1], km_south(45.0, 44.99))
    assert_close(found[1][1], km_south(45.0, 44.97))
    everyone = riders_within(room_id, far, radius_km=20)
    assert [rider for rider, _ in everyone] == [farther, near, me]
    assert_close(everyone[-1][1], km_south(45.0, 44.90))


def test_riders_within_needs_the_asking_riders_position(room_id, leader_id):
    member_join(room_id, leader_id, leader_id=leader_id)
    with pytest.raises(NoReferencePosition):
        riders_within(room_id, leader_id, radius_km=1)


@pytest.mark.parametrize("radius", [-1, math.nan, "5", 20_039])
def test_riders_within_refuses_a_bad_radius(room_id, leader_id, radius):
    with pytest.raises(InvalidRealtimeData):
        riders_within(room_id, leader_id, radius_km=radius)


def test_riders_behind_the_leader_farthest_first(room_id, ride):
    _, close, behind, far_behind = ride(45.0, 44.996, 44.98, 44.95)

    found = riders_behind(room_id, threshold_km=1)

    assert [rider for rider, _ in found] == [far_behind, behind]
    assert_close(found[0][1], km_south(45.0, 44.95))
    assert_close(found[1][1], km_south(45.0, 44.98))
    assert close not in dict(riders_behind(room_id, threshold_km=0.5))
    assert len(riders_behind(room_id, threshold_km=0)) == 3


def test_riders_behind_the_median_point_of_the_group(room_id, ride):
    # Median latitude 44.99: the straggler is 9 km (0.08°) from it, the leader only 1.1 km.
    riders = ride(45.0, 44.995, 44.99, 44.985, 44.91)

    found = riders_behind(room_id, threshold_km=3, reference="median")

    assert [rider for rider, _ in found] == [riders[-1]]
    assert_close(found[0][1], km_south(44.99, 44.91))
    assert len(riders_behind(room_id, threshold_km=1, reference="median")) == 2


def test_the_sweep_sees_who_is_behind_them(room_id, leader_id, ride):
    ahead, sweep, just_behind, far_behind = ride(45.0, 44.97, 44.95, 44.94, 44.90)[1:]
    sweep_set(room_id, by_rider_id=leader_id, sweep_id=sweep)

    found = riders_behind(room_id, threshold_km=0.5, reference="sweep")

    assert [rider for rider, _ in found] == [far_behind, just_behind]
    assert_close(found[0][1], km_south(44.95, 44.90))
    assert_close(found[1][1], km_south(44.95, 44.94))
    assert ahead not in dict(found)
    assert [r for r, _ in riders_behind(room_id, threshold_km=2, reference="sweep")] == [far_behind]


def test_riders_behind_needs_a_reference_position(room_id, leader_id):
    rider = new_id()
    member_join(room_id, leader_id, leader_id=leader_id)
    member_join(room_id, rider, leader_id=leader_id)
    with pytest.raises(NoReferencePosition):
        riders_behind(room_id, threshold_km=1, reference="median")
    location_update(room_id, rider, lat=45, lon=7)
    with pytest.raises(NoReferencePosition, match="leader"):
        riders_behind(room_id, threshold_km=1)
    with pytest.raises(NoReferencePosition, match="no sweep"):
        riders_behind(room_id, threshold_km=1, reference="sweep")
    assert riders_behind(room_id, threshold_km=1, reference="median") == []


def test_riders_behind_refuses_an_unknown_reference(room_id):
    with pytest.raises(InvalidRealtimeData) as caught:
        riders_behind(room_id, threshold_km=1, reference="front")
    assert "reference" in caught.value.fields


def test_riders_behind_at_equal_distances_come_in_rider_id_order(room_id, leader_id):
    """Two riders at the same point, 2.2 km behind the leader: an order that holds from one
    answer to the next."""
    member_join(room_id, leader_id, leader_id=leader_id)
    location_update(room_id, leader_id, lat=45.0, lon=LON)
    riders = [new_id() for _ in range(4)]
    for rider in riders:
        member_join(room_id, rider, leader_id=leader_id)
        location_update(room_id, rider, lat=44.98, lon=LON)

    found = riders_behind(room_id, threshold_km=1)

    assert [rider for rider, _ in found] == sorted(riders)
