"""Where riders are: last position per rider in a Redis GEO set, and distance questions.

Positions are not logged as events (see lua/location.lua): the caller broadcasts the
RiderLocation, and snapshots carry the latest position of every rider.
"""

import json
import math
import statistics
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from sessions_rt import protocol
from sessions_rt.errors import InvalidRealtimeData, NoReferencePosition
from sessions_rt.protocol import MAX_SPEED_KMH, canonical_id
from sessions_rt.store import keys
from sessions_rt.store.client import (
    async_redis_client,
    from_ms,
    iso,
    realtime_available,
    redis_client,
    to_ms,
)
from sessions_rt.store.events import Event, event_or_none
from sessions_rt.store.scripts import (
    raise_unless_member,
    run_room_script,
    run_room_script_async,
)

# The Earth radius Redis uses for GEODIST and GEOSEARCH, so distances computed here agree
# with the ones Redis returns.
EARTH_RADIUS_KM = 6372.797560856

Reference = Literal["leader", "median", "sweep"]


@dataclass(frozen=True)
class RiderLocation:
    rider_id: str
    lat: float
    lon: float
    speed_kmh: float | None
    heading_deg: float | None
    at: datetime

    def as_dict(self) -> dict:
        return {
            "rider_id": self.rider_id,
            "lat": self.lat,
            "lon": self.lon,
            "speed_kmh": self.speed_kmh,
            "heading_deg": self.heading_deg,
            "at": iso(self.at),
        }


def location_update(
    room_id: uuid.UUID | str,
    rider_id: uuid.UUID | str,
    *,
    lat: float,
    lon: float,
    speed_kmh: float | None = None,
    heading_deg: float | None = None,
    now: datetime | None = None,
    client: Redis | None = None,
) -> RiderLocation:
    """Store the rider's latest position (counts as a heartbeat) and return it to broadcast.

    While the rider has paused sharing (location_sharing_set) it is not stored: the caller
    must not broadcast it either (location_update_async's ``publish`` then sends nothing).
    """
    fix, call = _location(room_id, rider_id, lat, lon, speed_kmh, heading_deg, now)
    raise_unless_member(run_room_script(client=redis_client(client), **call))
    return fix


async def location_update_async(
    room_id: uuid.UUID | str,
    rider_id: uuid.UUID | str,
    *,
    lat: float,
    lon: float,
    speed_kmh: float | None = None,
    heading_deg: float | None = None,
    now: datetime | None = None,
    client: AsyncRedis | None = None,
    publish: Callable[[RiderLocation], tuple[str, bytes]] | None = None,
) -> RiderLocation:
    """location_update on the event loop, for the ride socket.

    With ``publish``, ``publish(fix)`` gives a pub/sub channel and a message that the same
    script publishes once the position is stored (and only if the rider is live, and shares
    their position): one round trip for the position and its fan-out.
    """
    fix, call = _location(room_id, rider_id, lat, lon, speed_kmh, heading_deg, now, publish)
    raise_unless_member(await run_room_script_async(client=async_redis_client(client), **call))
    return fix


def location_sharing_set(
    room_id: uuid.UUID | str,
    rider_id: uuid.UUID | str,
    *,
    paused: bool,
    now: datetime | None = None,
    client: Redis | None = None,
) -> Event | None:
    """Pause sharing the rider's position with the ride, or share it again.

    Paused, the position leaves the live state at once (so snapshots, presence, nearby and
    behind no longer have it) and location_update keeps none; shared again, the next position
    is stored and sent as before. Returns location_sharing_changed, or None when it already
    was so. Raises NotLiveMember when the rider is not live in the room.
    """
    room = canonical_id(room_id, field="room_id")
    rider = canonical_id(rider_id, field="rider_id")
    if not isinstance(paused, bool):
        raise InvalidRealtimeData(
            "paused must be true or false.", fields={"paused": "true or false."}
        )
    reply = run_room_script(
        "location_sharing",
        client=redis_client(client),
        room_id=room,
        now_ms=to_ms(now),
        args=(rider, "1" if paused else "0"),
    )
    raise_unless_member(reply)
    return event_or_none(room, reply[1])


def _location(
    room_id, rider_id, lat, lon, speed_kmh, heading_deg, now, publish=None
) -> tuple[RiderLocation, dict]:
    """The validated fix, and the script call that stores it (and publishes what
    ``publish(fix)`` gives, if anything)."""
    room = canonical_id(room_id, field="room_id")
    rider = canonical_id(rider_id, field="rider_id")
    fix = RiderLocation(
        rider_id=rider,
        lat=protocol.latitude(lat),
        lon=protocol.number_in_range(lon, field="lon", low=-180, high=180),
        speed_kmh=(
            protocol.number_in_range(speed_kmh, field="speed_kmh", low=0, high=MAX_SPEED_KMH)
            if speed_kmh is not None
            else None
        ),
        heading_deg=(
            protocol.number_in_range(heading_deg, field="heading_deg", low=0, high=360)
            if heading_deg is not None
            else None
        ),
        at=from_ms(to_ms(now)),
    )
    channel, message = publish(fix) if publish is not None else ("", b"")
    details = {
        "lat": fix.lat,
        "lon": fix.lon,
        "speed_kmh": fix.speed_kmh,
        "heading_deg": fix.heading_deg,
        "at": to_ms(fix.at),
    }
    call = {
        "name": "location",
        "room_id": room,
        "now_ms": to_ms(fix.at),
        "args": (
            rider,
            repr(fix.lon),
            repr(fix.lat),
            json.dumps(details),
            channel,
            message,
            keys.trail_sample_seconds() * 1000,
            keys.trail_keep_seconds() * 1000,
        ),
        "index": "periodic",
    }
    return fix, call


def rider_last_position(
    room_id: uuid.UUID | str, rider_id: uuid.UUID | str, *, client: Redis | None = None
) -> dict | None:
    """The rider's latest position in the ride ({lat, lon, speed_kmh, heading_deg, at} with
    ``at`` ISO 8601), or None: none yet, or sharing paused."""
    room = canonical_id(room_id, field="room_id")
    rider = canonical_id(rider_id, field="rider_id")
    with realtime_available():
        raw = redis_client(client).hget(keys.room_keys(room).location_details, rider)
    if raw is None:
        return None
    details = json.loads(raw)
    return {**details, "at": iso(from_ms(details["at"]))}


def riders_within(
    room_id: uuid.UUID | str,
    rider_id: uuid.UUID | str,
    *,
    radius_km: float,
    client: Redis | None = None,
) -> list[tuple[str, float]]:
    """Other riders within ``radius_km`` of this rider, nearest first, as (rider id, km)."""
    room = canonical_id(room_id, field="room_id")
    rider = canonical_id(rider_id, field="rider_id")
    radius = protocol.distance_km(radius_km, field="radius_km")
    locations = keys.room_keys(room).locations
    with realtime_available():
        # One MULTI/EXEC: the rider's own position is checked in the same snapshot of the set
        # GEOSEARCH reads, and GEOSEARCH's error for an unknown member is never needed.
        pipe = redis_client(client).pipeline(transaction=True)
        pipe.zscore(locations, rider)
        pipe.geosearch(locations, member=rider, radius=radius, unit="km", sort="ASC", withdist=True)
        own_score, found = pipe.execute(raise_on_error=False)
    if own_score is None:
        raise NoReferencePosition("Your position is not known yet.")
    if isinstance(found, Exception):
        raise found
    return [(member.decode(), distance) for member, distance in found if member.decode() != rider]


def riders_behind(
    room_id: uuid.UUID | str,
    *,
    threshold_km: float,
    reference: Reference = "leader",
    client: Redis | None = None,
) -> list[tuple[str, float]]:
    """Riders farther than ``threshold_km`` from the reference, as (rider id, km from it).

    Farthest first; equal distances in rider id order. Riders without a known position are
    left out. Distances are great-circle (the haversine formula on Redis's Earth radius) and
    count in any direction: positions carry no route, so "behind" means "too far away".

    - ``leader``: every rider but the leader, measured from the leader.
    - ``median``: every rider, the leader too, measured from the group's median point: the
      median of the known latitudes and, separately, the median of the known longitudes (the
      middle value, or the mean of the two middle values for an even count). One rider far
      off course does not drag it the way a mean would, for rides where the leader's phone is
      not reliable; it need not be any rider's position.
    - ``sweep``: what the sweep sees: riders farther from the leader than the sweep is, and
      more than ``threshold_km`` from the sweep, measured from the sweep.

    Raises NoReferencePosition when the reference rider (or everyone) has no position yet, or
    the ride has no leader or sweep: "nobody is behind" would be a guess.
    """
    room = canonical_id(room_id, field="room_id")
    threshold = protocol.distance_km(threshold_km, field="threshold_km")
    if reference not in ("leader", "median", "sweep"):
        raise InvalidRealtimeData(
            "reference must be leader, median or sweep.",
            fields={"reference": "One of leader, median, sweep."},
        )
    room_keys = keys.room_keys(room)
    with realtime_available():
        pipe = redis_client(client).pipeline(transaction=True)
        pipe.hmget(room_keys.session, "leader_id", "sweep_id")
        pipe.hgetall(room_keys.location_details)
        (leader_raw, sweep_raw), details_raw = pipe.execute()
    positions = {
        rider.decode(): _lat_lon(json.loads(details)) for rider, details in details_raw.items()
    }
    leader = leader_raw.decode() if leader_raw else None
    sweep = sweep_raw.decode() if sweep_raw else None
    if reference == "median":
        behind = _beyond(positions, origin=_median_point(positions), threshold=threshold)
    elif reference == "leader":
        origin = _position_of(positions, leader, role="leader")
        behind = _beyond(positions, origin=origin, threshold=threshold, skip={leader})
    else:
        behind = _behind_sweep(positions, leader=leader, sweep=sweep, threshold=threshold)
    return sorted(behind, key=farthest_first)


def farthest_first(found: tuple[str, float]) -> tuple[float, str]:
    """The order of distance answers: farthest first, equal distances in rider id order."""
    rider, km = found
    return -km, rider


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lat, lon) points, by the haversine formula Redis uses."""
    lat_a, lon_a, lat_b, lon_b = map(math.radians, (*a, *b))
    u = math.sin((lat_b - lat_a) / 2)
    v = math.sin((lon_b - lon_a) / 2)
    return (
        2
        * EARTH_RADIUS_KM
        * math.asin(math.sqrt(u * u + math.cos(lat_a) * math.cos(lat_b) * v * v))
    )


def _behind_sweep(
    positions: dict[str, tuple[float, float]],
    *,
    leader: str | None,
    sweep: str | None,
    threshold: float,
) -> list[tuple[str, float]]:
    sweep_at = _position_of(positions, sweep, role="sweep")
    leader_at = _position_of(positions, leader, role="leader")
    sweep_gap = distance_km(leader_at, sweep_at)
    return [
        (rider, distance_km(sweep_at, at))
        for rider, at in positions.items()
        if rider not in (leader, sweep)
        and distance_km(leader_at, at) > sweep_gap
        and distance_km(sweep_at, at) > threshold
    ]


def _beyond(
    positions: dict[str, tuple[float, float]],
    *,
    origin: tuple[float, float],
    threshold: float,
    skip: frozenset | set = frozenset(),
) -> list[tuple[str, float]]:
    distances = ((rider, distance_km(origin, at)) for rider, at in positions.items())
    return [(rider, km) for rider, km in distances if rider not in skip and km > threshold]


def _median_point(positions: dict[str, tuple[float, float]]) -> tuple[float, float]:
    if not positions:
        raise NoReferencePosition("No rider of this ride has a known position yet.")
    # Medians of latitude and longitude separately (riders_behind says why). A ride across
    # the antimeridian would need more.
    return (
        statistics.median(lat for lat, _ in positions.values()),
        statistics.median(lon for _, lon in positions.values()),
    )


def _position_of(
    positions: dict[str, tuple[float, float]], rider: str | None, *, role: str
) -> tuple[float, float]:
    if rider is None:
        raise NoReferencePosition(f"This ride has no {role}.")
    if rider not in positions:
        raise NoReferencePosition(f"The {role}'s position is not known yet.")
    return positions[rider]


def _lat_lon(details: dict) -> tuple[float, float]:
    return details["lat"], details["lon"]
