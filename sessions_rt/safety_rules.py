"""The ride-safety rules: pure functions from one ride's live state to what must alarm.

No Redis and no ORM in here: the watcher (sessions_rt/watcher.py) reads the state
(store.trail.ride_live_state) and the ride's thresholds, asks ``riders_needing_trails`` whose
trails to read (store.trail.ride_trails), calls ``evaluate``, and raises or resolves alerts
from the answer. Every rule takes its history ("stopped for 90 s", "split
since") from the trail and the drop records in that state, so an evaluation needs nothing
from an earlier one and any watcher can take a ride over. What each rule means, and why, is
in docs/realtime.md ("What the server watches").
"""

import bisect
import itertools
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sessions_rt.store.trail import DROP_DECISION_SECONDS, Fix, RideLiveState

Kind = Literal["split", "stopped", "silent"]
OpenAlerts = frozenset[tuple[str, str]] | set[tuple[str, str]]
Resolution = Literal["rider_back", "condition_cleared"]

# Below this a rider is at a standstill or pushing the bike, not riding.
WALKING_SPEED_KMH = 6.0
# A position older than this is not where the rider is: the rules leave the rider out.
STALE_FIX_SECONDS = 60
# A speed at a drop counts only if the fix is at most this much older than the drop.
DROP_FIX_MAX_AGE_SECONDS = 30
# The group's direction is the mean of its moving riders' headings; below this resultant
# length (0 when they ride opposite ways, 1 when all agree) the group has no direction.
MIN_HEADING_AGREEMENT = 0.5
# How far back the trail is searched for a direction when a phone sends no heading.
HEADING_LOOKBACK_SECONDS = 30
EARTH_RADIUS_M = 6_372_797.560856
# Two riders' trail points this close in time count as taken together (samples are about
# TRAIL_SAMPLE_SECONDS apart, each rider's on its own clock).
NEAR_SAMPLE_MS = 7_500


@dataclass(frozen=True)
class Thresholds:
    split_distance_m: int
    stopped_seconds: int
    silent_speed_kmh: int
    grace_seconds: int


@dataclass(frozen=True)
class Alarm:
    """A condition that holds now: the alert to raise (one per rider and kind)."""

    kind: Kind
    rider_id: str
    position: dict | None
    trail: list[dict]
    details: dict


@dataclass(frozen=True)
class Clear:
    """A condition known not to hold now: any open alert of it resolves."""

    kind: Kind
    rider_id: str
    resolution: Resolution


@dataclass
class Verdict:
    alarms: list[Alarm] = field(default_factory=list)
    clears: list[Clear] = field(default_factory=list)


def riders_needing_trails(
    state: RideLiveState, thresholds: Thresholds, open_alerts: OpenAlerts = frozenset()
) -> set[str]:
    """Whose trail ``evaluate`` needs, judged from the state without trails: riders slow or
    without a speed or heading (the stopped rule's history, a speed or direction from their
    positions), every rider once someone is cut off (when the split began compares the
    group's past positions), and riders whose silence is being decided (their alert carries
    the trail). A ride of riders on the move with nobody cut off needs none, and neither do
    conditions already in ``open_alerts``: whether they still hold is told without history."""
    riders = riding_fixes(state)
    needed = {
        rider
        for rider, fix in riders.items()
        if fix.speed_kmh is None
        or fix.heading_deg is None
        or (fix.speed_kmh < WALKING_SPEED_KMH and (rider, "stopped") not in open_alerts)
    }
    if len(riders) >= 2:
        heading = group_heading(state, riders)
        cut = (
            _cut_off(riders, heading, thresholds.split_distance_m, state.leader_id)
            if heading is not None
            else {}
        )
        if any((rider, "split") not in open_alerts for rider in cut):
            needed.update(riders)
    grace_ms = thresholds.grace_seconds * 1000
    needed.update(
        rider
        for rider, drop in state.drops.items()
        if drop.back_at_ms is None and _in_decision_window(drop.at_ms + grace_ms, state.now_ms)
    )
    return needed


def _in_decision_window(grace_end_ms: int, now_ms: int) -> bool:
    return grace_end_ms <= now_ms <= grace_end_ms + DROP_DECISION_SECONDS * 1000


def evaluate(
    state: RideLiveState, thresholds: Thresholds, open_alerts: OpenAlerts = frozenset()
) -> Verdict:
    """Every rule over one ride (with the trails riders_needing_trails asked for).

    ``open_alerts``, (rider, kind) of the alerts known to be open, only saves work: a
    condition among them that still holds is neither cleared nor raised again, so its
    details (a split's start, found from the trails) are not computed."""
    verdict = Verdict()
    for rule in (split_rule, stopped_rule, silent_rule):
        part = rule(state, thresholds, open_alerts)
        verdict.alarms.extend(part.alarms)
        verdict.clears.extend(part.clears)
    return verdict


# --- split -----------------------------------------------------------------------------------


def split_rule(
    state: RideLiveState, thresholds: Thresholds, open_alerts: OpenAlerts = frozenset()
) -> Verdict:
    """Riders cut off from the group along its direction of travel.

    Riders are placed on the line of travel and cut where two neighbours on it are more than
    ``split_distance_m`` apart. The part with the leader (without a placed leader, the
    largest, the front one on a tie) is the group; each rider of another part is cut off. A
    group spread evenly, every rider within the distance of the next, raises nothing
    however long it is: each rider has someone in sight.
    """
    verdict = Verdict()
    riders = riding_fixes(state)
    if len(riders) < 2:
        return verdict
    heading = group_heading(state, riders)
    if heading is None:
        # A group at a standstill has no line of travel: nothing new is raised, but a rider
        # who closed up (within the distance of someone) is no longer cut off.
        for rider, fix in riders.items():
            others = [other for name, other in riders.items() if name != rider]
            if min(_distance_m(fix, other) for other in others) <= thresholds.split_distance_m:
                verdict.clears.append(Clear("split", rider, "condition_cleared"))
        return verdict
    cut = _cut_off(riders, heading, thresholds.split_distance_m, state.leader_id)
    for rider in riders:
        if rider not in cut:
            verdict.clears.append(Clear("split", rider, "condition_cleared"))
    for rider, (side, distance_m, group_size) in sorted(cut.items()):
        if (rider, "split") in open_alerts:
            continue
        since_ms = _cut_off_since(state, rider, heading, thresholds.split_distance_m)
        verdict.alarms.append(
            Alarm(
                kind="split",
                rider_id=rider,
                position=riders[rider].as_dict(),
                trail=trail_of(state, rider),
                details={
                    "side": side,
                    "distance_m": round(distance_m),
                    "group_size": group_size,
                    "since": iso_from_ms(since_ms),
                    "threshold_m": thresholds.split_distance_m,
                },
            )
        )
    return verdict


def _cut_off(
    riders: dict[str, Fix], heading: float, gap_m: float, leader: str | None
) -> dict[str, tuple[str, float, int]]:
    """Rider -> ("behind" or "ahead", metres from the group's nearest end, group size)."""
    along = _along_track(riders, heading)
    order = sorted(along, key=lambda rider: (-along[rider], rider))
    parts: list[list[str]] = [[order[0]]]
    for ahead, behind in itertools.pairwise(order):
        if along[ahead] - along[behind] > gap_m:
            parts.append([])
        parts[-1].append(behind)
    if len(parts) == 1:
        return {}
    with_leader = [part for part in parts if leader in part]
    group = with_leader[0] if with_leader else max(parts, key=len)
    front, tail = along[group[0]], along[group[-1]]
    cut = {}
    for part in parts:
        if part is group:
            continue
        for rider in part:
            if along[rider] < tail:
                cut[rider] = ("behind", tail - along[rider], len(group))
            else:
                cut[rider] = ("ahead", along[rider] - front, len(group))
    return cut


def _cut_off_since(state: RideLiveState, rider: str, heading: float, gap_m: float) -> int:
    """When the rider was last not cut off, from the trail: the first sample time of the run
    of samples that ends now in which they were cut off."""
    trails = {name: trail for name, trail in state.trails.items() if name in state.members}
    times = {name: [point.at_ms for point in trail] for name, trail in trails.items()}
    since = state.now_ms
    for at_ms in reversed(times.get(rider, ())):
        past = {
            name: fix
            for name, trail in trails.items()
            if (fix := _point_near(trail, times[name], at_ms)) is not None
        }
        if rider not in past or rider not in _cut_off(past, heading, gap_m, state.leader_id):
            break
        since = at_ms
    return since


def _point_near(trail: tuple[Fix, ...], times: list[int], at_ms: int) -> Fix | None:
    """The trail's point nearest ``at_ms``, if within about a sample interval of it."""
    index = bisect.bisect_left(times, at_ms)
    candidates = [trail[i] for i in (index - 1, index) if 0 <= i < len(trail)]
    if not candidates:
        return None
    nearest = min(candidates, key=lambda point: abs(point.at_ms - at_ms))
    return nearest if abs(nearest.at_ms - at_ms) <= NEAR_SAMPLE_MS else None


def _along_track(riders: dict[str, Fix], heading_deg: float) -> dict[str, float]:
    """Metres along the direction of travel from the group's median point (a flat projection:
    a group spans a few km, where it is exact to well under a metre)."""
    lat0 = statistics.median(fix.lat for fix in riders.values())
    lon0 = statistics.median(fix.lon for fix in riders.values())
    scale = math.cos(math.radians(lat0))
    sin_h, cos_h = math.sin(math.radians(heading_deg)), math.cos(math.radians(heading_deg))
    along = {}
    for rider, fix in riders.items():
        east = math.radians(fix.lon - lon0) * scale * EARTH_RADIUS_M
        north = math.radians(fix.lat - lat0) * EARTH_RADIUS_M
        along[rider] = east * sin_h + north * cos_h
    return along


def group_heading(state: RideLiveState, riders: dict[str, Fix]) -> float | None:
    """The group's direction of travel in degrees from north, or None when it has none (a
    standstill, or riders going every which way)."""
    vectors = []
    for rider, fix in riders.items():
        if speed_of(state, rider, fix) < WALKING_SPEED_KMH:
            continue
        heading = fix.heading_deg if fix.heading_deg is not None else _trail_bearing(state, rider)
        if heading is not None:
            vectors.append((math.sin(math.radians(heading)), math.cos(math.radians(heading))))
    if not vectors:
        return None
    east = sum(v[0] for v in vectors) / len(vectors)
    north = sum(v[1] for v in vectors) / len(vectors)
    if math.hypot(east, north) < MIN_HEADING_AGREEMENT:
        return None
    return math.degrees(math.atan2(east, north)) % 360


def _trail_bearing(state: RideLiveState, rider: str) -> float | None:
    fix = state.fixes[rider]
    earlier = [
        point
        for point in state.trails.get(rider, ())
        if fix.at_ms - point.at_ms >= HEADING_LOOKBACK_SECONDS * 1000 // 3
    ]
    if not earlier or _distance_m(earlier[-1], fix) < 1:
        return None
    start = earlier[-1]
    lat1, lat2 = math.radians(start.lat), math.radians(fix.lat)
    dlon = math.radians(fix.lon - start.lon)
    east = math.sin(dlon) * math.cos(lat2)
    north = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlon)
    return math.degrees(math.atan2(east, north)) % 360


# --- stopped ---------------------------------------------------------------------------------


def stopped_rule(
    state: RideLiveState, thresholds: Thresholds, open_alerts: OpenAlerts = frozenset()
) -> Verdict:
    """A rider below walking speed for longer than ``stopped_seconds`` while most of the
    others move on. A group stop (half the others or more stopped too) raises nothing and
    clears the alerts of those stopped."""
    verdict = Verdict()
    riders = riding_fixes(state)
    moving = {
        rider for rider, fix in riders.items() if speed_of(state, rider, fix) >= WALKING_SPEED_KMH
    }
    for rider, fix in sorted(riders.items()):
        if rider in moving:
            verdict.clears.append(Clear("stopped", rider, "condition_cleared"))
            continue
        others = len(riders) - 1
        others_moving = len(moving)
        group_moves_on = others > 0 and others_moving * 2 > others
        if group_moves_on and (rider, "stopped") in open_alerts:
            continue
        since_ms = _stopped_since(state, rider)
        if not group_moves_on or state.now_ms - since_ms < thresholds.stopped_seconds * 1000:
            if not group_moves_on:
                verdict.clears.append(Clear("stopped", rider, "condition_cleared"))
            continue
        verdict.alarms.append(
            Alarm(
                kind="stopped",
                rider_id=rider,
                position=fix.as_dict(),
                trail=trail_of(state, rider),
                details={
                    "since": iso_from_ms(since_ms),
                    "stopped_seconds": (state.now_ms - since_ms) // 1000,
                    "others_moving": others_moving,
                    "others": others,
                    "threshold_seconds": thresholds.stopped_seconds,
                },
            )
        )
    return verdict


def _stopped_since(state: RideLiveState, rider: str) -> int:
    """The time of the first slow point of the run of slow points (trail, then the latest
    fix) that ends now."""
    points = [*state.trails.get(rider, ()), state.fixes[rider]]
    points = sorted({point.at_ms: point for point in points}.values(), key=lambda p: p.at_ms)
    since = points[-1].at_ms
    for index in range(len(points) - 1, -1, -1):
        previous = points[index - 1] if index > 0 else None
        if _point_speed(points[index], previous) >= WALKING_SPEED_KMH:
            break
        since = points[index].at_ms
    return since


# --- silent ----------------------------------------------------------------------------------


def silent_rule(
    state: RideLiveState, thresholds: Thresholds, open_alerts: OpenAlerts = frozenset()
) -> Verdict:
    """A rider whose socket dropped at speed, near riders who kept their connections, not
    back when the grace period ran out.

    The neighbours are the riders within SILENT_NEIGHBOUR_KM at the drop (the drop record
    has them). One counts as having dropped too if their own socket dropped from a grace
    period before this drop to its grace period's end, or they are out of the live ride. The
    alarm needs at least one neighbour who kept their connection and none who lost it: where
    the riders near them dropped too (a tunnel several enter together, even while others
    nearby have not reached it) it raises nothing, nor for a rider alone, whose drop nothing
    tells from a dead zone. Two riders down together in one crash are missed by this rule:
    the price of no false alarm in every tunnel. The decision is taken in the DROP_DECISION_SECONDS
    after the grace period; a rider back afterwards resolves it (rider_back).
    """
    verdict = Verdict()
    grace_ms = thresholds.grace_seconds * 1000
    for rider, drop in sorted(state.drops.items()):
        grace_end = drop.at_ms + grace_ms
        if drop.back_at_ms is not None:
            verdict.clears.append(Clear("silent", rider, "rider_back"))
            continue
        if not _in_decision_window(grace_end, state.now_ms):
            continue
        fix = drop.fix
        if fix is None or drop.at_ms - fix.at_ms > DROP_FIX_MAX_AGE_SECONDS * 1000:
            continue
        speed = speed_of(state, rider, fix)
        if speed < thresholds.silent_speed_kmh:
            continue
        window = (drop.at_ms - grace_ms, grace_end)
        dropped = [n for n in drop.neighbours if _dropped_too(state, n, window)]
        kept = [n for n in drop.neighbours if n not in dropped]
        if not kept or dropped:
            continue
        verdict.alarms.append(
            Alarm(
                kind="silent",
                rider_id=rider,
                position=fix.as_dict(),
                trail=trail_of(state, rider),
                details={
                    "dropped_at": iso_from_ms(drop.at_ms),
                    "grace_ended_at": iso_from_ms(grace_end),
                    "speed_kmh": round(speed, 1),
                    "neighbours_connected": sorted(kept),
                    "neighbours_dropped": sorted(dropped),
                },
            )
        )
    return verdict


def _dropped_too(state: RideLiveState, rider: str, window: tuple[int, int]) -> bool:
    """Whether a neighbour lost their connection around the same time: their socket dropped
    from a grace period before the drop to its grace period's end, or they are out of the
    live ride now."""
    if rider not in state.members:
        return True
    start, end = window
    since = state.reconnecting_since_ms.get(rider)
    if since is not None and since <= end:
        return True
    drop = state.drops.get(rider)
    return drop is not None and start <= drop.at_ms <= end


# --- shared ----------------------------------------------------------------------------------


def riding_fixes(state: RideLiveState) -> dict[str, Fix]:
    """The riders whose position the rules go by: live, connected, with a fresh fix."""
    cutoff = state.now_ms - STALE_FIX_SECONDS * 1000
    return {
        rider: fix
        for rider, fix in state.fixes.items()
        if rider in state.members and rider not in state.reconnecting_since_ms
        if fix.at_ms >= cutoff
    }


def speed_of(state: RideLiveState, rider: str, fix: Fix) -> float:
    """The speed the phone reported, or the one its trail shows."""
    if fix.speed_kmh is not None:
        return fix.speed_kmh
    earlier = [point for point in state.trails.get(rider, ()) if point.at_ms < fix.at_ms]
    return _point_speed(fix, earlier[-1] if earlier else None)


def _point_speed(point: Fix, previous: Fix | None) -> float:
    if point.speed_kmh is not None:
        return point.speed_kmh
    if previous is None or point.at_ms <= previous.at_ms:
        return 0.0
    return _distance_m(previous, point) / ((point.at_ms - previous.at_ms) / 1000) * 3.6


def _distance_m(a: Fix, b: Fix) -> float:
    lat_a, lon_a, lat_b, lon_b = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    u = math.sin((lat_b - lat_a) / 2)
    v = math.sin((lon_b - lon_a) / 2)
    return (
        2 * EARTH_RADIUS_M * math.asin(math.sqrt(u * u + math.cos(lat_a) * math.cos(lat_b) * v * v))
    )


def trail_of(state: RideLiveState, rider: str) -> list[dict]:
    return [point.as_dict() for point in _points(state.trails.get(rider, ()))]


def _points(points: Iterable[Fix]) -> list[Fix]:
    return sorted(points, key=lambda point: point.at_ms)


def iso_from_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
