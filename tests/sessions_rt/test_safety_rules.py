"""The safety rules as pure functions: what must alarm and what must not.

Rides go due north along the meridian 7°E from 45°N; 0.001° of latitude is 111.2 m there.
"""

import pytest

from sessions_rt.safety_rules import (
    Thresholds,
    evaluate,
    riders_needing_trails,
    silent_rule,
    split_rule,
    stopped_rule,
)
from sessions_rt.store.trail import DROP_DECISION_SECONDS, DropRecord, Fix, RideLiveState

NOW = 1_800_000_000_000
LON = 7.0
M_PER_DEG = 111_226.0  # metres per degree of latitude at Redis's Earth radius
RULES = Thresholds(split_distance_m=1000, stopped_seconds=90, silent_speed_kmh=20, grace_seconds=30)


def fix(lat_m, *, at=NOW, speed=80.0, heading=0.0, lon=LON):
    """A fix ``lat_m`` metres north of 45°N."""
    return Fix(at_ms=at, lat=45 + lat_m / M_PER_DEG, lon=lon, speed_kmh=speed, heading_deg=heading)


def moving_trail(lat_m, speed=80.0, seconds=120):
    """Points every 5 s of a rider at ``speed`` who is at ``lat_m`` now."""
    per_ms = speed / 3.6 / 1000
    return tuple(
        fix(lat_m - per_ms * (NOW - at), at=at, speed=speed)
        for at in range(NOW - seconds * 1000, NOW + 1, 5000)
    )


def state(fixes, *, trails=None, drops=None, members=None, reconnecting=None, leader="a", now=NOW):
    members = frozenset(members if members is not None else {*fixes, *(drops or {})})
    return RideLiveState(
        room_id="room",
        now_ms=now,
        leader_id=leader,
        members=members,
        last_seen_ms=dict.fromkeys(members, now),
        reconnecting_since_ms=reconnecting or {},
        fixes=fixes,
        trails=trails or {rider: (f,) for rider, f in fixes.items()},
        drops=drops or {},
    )


def kinds(verdict):
    return sorted((alarm.kind, alarm.rider_id) for alarm in verdict.alarms)


# --- split -----------------------------------------------------------------------------------


def test_a_rider_more_than_the_distance_behind_the_group_is_cut_off():
    fixes = {"a": fix(3000), "b": fix(2900), "c": fix(2800), "d": fix(1500)}
    verdict = split_rule(state(fixes), RULES)
    [alarm] = verdict.alarms
    assert (alarm.kind, alarm.rider_id) == ("split", "d")
    assert alarm.details["side"] == "behind"
    assert alarm.details["distance_m"] == pytest.approx(1300, abs=2)
    assert alarm.details["group_size"] == 3
    assert alarm.position["lat"] == fixes["d"].lat
    assert {clear.rider_id for clear in verdict.clears} == {"a", "b", "c"}


def test_a_group_spread_evenly_raises_nothing_however_long():
    fixes = {name: fix(900 * index) for index, name in enumerate("abcdef")}
    assert split_rule(state(fixes), RULES).alarms == []


def test_the_split_is_measured_along_the_direction_of_travel_not_across():
    # Riding north, side by side 1.5 km apart east-west (two lanes of a wide road, a parallel
    # road): no one is behind.
    fixes = {"a": fix(0), "b": fix(0, lon=LON + 0.019)}
    assert split_rule(state(fixes), RULES).alarms == []


def test_the_part_with_the_leader_is_the_group_even_when_smaller():
    fixes = {"a": fix(0), "b": fix(2000), "c": fix(2100)}
    alarms = split_rule(state(fixes, leader="a"), RULES).alarms
    assert sorted(alarm.rider_id for alarm in alarms) == ["b", "c"]
    assert {alarm.details["side"] for alarm in alarms} == {"ahead"}


def test_without_a_placed_leader_the_largest_part_is_the_group():
    fixes = {"b": fix(3000), "c": fix(2900), "d": fix(0)}
    assert kinds(split_rule(state(fixes, leader="zz"), RULES)) == [("split", "d")]


def test_the_ride_threshold_is_the_rides_own():
    fixes = {"a": fix(3000), "d": fix(1500)}
    wide = Thresholds(
        split_distance_m=2000, stopped_seconds=90, silent_speed_kmh=20, grace_seconds=30
    )
    assert split_rule(state(fixes), wide).alarms == []
    assert kinds(split_rule(state(fixes), RULES)) == [("split", "d")]


def test_a_group_at_a_standstill_raises_no_split_but_clears_who_closed_up():
    fixes = {"a": fix(3000, speed=0), "b": fix(2950, speed=0), "d": fix(0, speed=0)}
    verdict = split_rule(state(fixes), RULES)
    assert verdict.alarms == []
    assert {clear.rider_id for clear in verdict.clears} == {"a", "b"}


def test_reconnecting_and_stale_riders_are_left_out_of_the_split():
    fixes = {"a": fix(3000), "b": fix(0), "c": fix(200, at=NOW - 61_000)}
    assert split_rule(state(fixes, reconnecting={"b": NOW - 5000}), RULES).alarms == []


def test_since_comes_from_the_trail():
    # The group rides at 80 km/h; d stopped 100 s ago at 0 m, beside it, and has been more
    # than 1 km behind since the group was 1 km on, 45 s later: 55 s ago.
    speed_ms = 80 / 3.6
    trails = {
        "a": moving_trail(100 * speed_ms),
        "b": moving_trail(100 * speed_ms - 50),
        "d": tuple(
            fix(min(0.0, -speed_ms * (NOW - 100_000 - at) / 1000), at=at, speed=0)
            for at in range(NOW - 120_000, NOW + 1, 5000)
        ),
    }
    fixes = {rider: trail[-1] for rider, trail in trails.items()}
    [alarm] = split_rule(state(fixes, trails=trails), RULES).alarms
    assert alarm.rider_id == "d"
    since_s = (NOW - _ms(alarm.details["since"])) / 1000
    assert 45 <= since_s <= 55
    assert len(alarm.trail) == 25


def test_a_group_without_headings_takes_the_direction_from_the_trail():
    trails = {"a": moving_trail(3000), "d": moving_trail(1500)}
    bare = {
        rider: tuple(Fix(p.at_ms, p.lat, p.lon, speed_kmh=None, heading_deg=None) for p in trail)
        for rider, trail in trails.items()
    }
    fixes = {rider: trail[-1] for rider, trail in bare.items()}
    assert kinds(split_rule(state(fixes, trails=bare), RULES)) == [("split", "d")]


# --- stopped ---------------------------------------------------------------------------------


def stopped_trail(seconds):
    """At 0 m, moving until ``seconds`` ago, stopped since."""
    return tuple(
        fix(0, at=at, speed=80.0 if at < NOW - seconds * 1000 else 2.0)
        for at in range(NOW - 300_000, NOW + 1, 5000)
    )


def ride_with_one_stopped(seconds, *, others_moving=3, others_stopped=0):
    trails = {"s": stopped_trail(seconds)}
    for index in range(others_moving):
        trails[f"m{index}"] = moving_trail(500 + 10 * index)
    for index in range(others_stopped):
        trails[f"x{index}"] = stopped_trail(20)
    fixes = {rider: trail[-1] for rider, trail in trails.items()}
    return state(fixes, trails=trails, leader="m0")


def test_a_rider_stopped_longer_than_the_threshold_while_the_group_rides_on():
    verdict = stopped_rule(ride_with_one_stopped(100), RULES)
    [alarm] = verdict.alarms
    assert (alarm.kind, alarm.rider_id) == ("stopped", "s")
    assert alarm.details["stopped_seconds"] == 100
    assert alarm.details["others_moving"] == 3


def test_a_rider_stopped_for_less_than_the_threshold_raises_nothing():
    assert stopped_rule(ride_with_one_stopped(80), RULES).alarms == []


def test_a_group_stop_raises_nothing_and_clears():
    verdict = stopped_rule(ride_with_one_stopped(200, others_moving=1, others_stopped=2), RULES)
    assert verdict.alarms == []
    assert ("s", "condition_cleared") in {(c.rider_id, c.resolution) for c in verdict.clears}


def test_a_rider_moving_again_clears_the_stop():
    ride = ride_with_one_stopped(-5)
    verdict = stopped_rule(ride, RULES)
    assert verdict.alarms == []
    assert "s" in {clear.rider_id for clear in verdict.clears}


def test_a_rider_alone_is_never_stopped_while_the_group_moves():
    trails = {"s": stopped_trail(300)}
    fixes = {"s": trails["s"][-1]}
    assert stopped_rule(state(fixes, trails=trails, leader="s"), RULES).alarms == []


def test_speed_comes_from_the_positions_when_the_phone_sends_none():
    trails = {
        "s": tuple(Fix(p.at_ms, p.lat, p.lon, None, None) for p in stopped_trail(120)),
        "m": moving_trail(500),
        "n": moving_trail(550),
    }
    fixes = {rider: trail[-1] for rider, trail in trails.items()}
    assert kinds(stopped_rule(state(fixes, trails=trails, leader="m"), RULES)) == [("stopped", "s")]


# --- silent ----------------------------------------------------------------------------------


def drop(at, *, speed=90.0, neighbours=("n1", "n2"), back=None, lat_m=0):
    return DropRecord(
        at_ms=at, fix=fix(lat_m, at=at - 1000, speed=speed), neighbours=neighbours, back_at_ms=back
    )


def silent_ride(drops, *, now, gone=("x",), reconnecting=None, fixes=None):
    fixes = fixes or {"n1": fix(500, at=now), "n2": fix(600, at=now)}
    members = set(fixes) - set(gone)
    return state(
        fixes, drops=drops, members=members, reconnecting=reconnecting, leader="n1", now=now
    )


def test_a_rider_silent_at_speed_among_connected_riders_alarms_when_the_grace_ends():
    at = NOW - 30_000
    verdict = silent_rule(silent_ride({"x": drop(at)}, now=NOW), RULES)
    [alarm] = verdict.alarms
    assert (alarm.kind, alarm.rider_id) == ("silent", "x")
    assert alarm.details["neighbours_connected"] == ["n1", "n2"]
    assert alarm.details["speed_kmh"] == 90.0
    assert alarm.position["speed_kmh"] == 90.0


def test_no_alarm_inside_the_grace_period():
    assert silent_rule(silent_ride({"x": drop(NOW - 29_000)}, now=NOW), RULES).alarms == []


def test_no_alarm_below_the_silent_speed():
    ride = silent_ride({"x": drop(NOW - 40_000, speed=15.0)}, now=NOW)
    assert silent_rule(ride, RULES).alarms == []


def test_a_tunnel_several_enter_together_raises_nothing():
    at = NOW - 40_000
    drops = {
        "x": drop(at, neighbours=("y", "z", "n1")),
        "y": drop(at + 2000, neighbours=("x", "z", "n1")),
        "z": drop(at + 4000, neighbours=("x", "y", "n1")),
    }
    ride = silent_ride(drops, now=NOW, gone=("x", "y", "z"))
    assert silent_rule(ride, RULES).alarms == []


def test_neighbours_back_from_the_same_dead_zone_count_as_dropped():
    at = NOW - 40_000
    drops = {
        "x": drop(at, neighbours=("n1", "n2")),
        "n1": drop(at - 10_000, back=at + 5000),
        "n2": drop(at + 3000, back=at + 9000),
    }
    assert silent_rule(silent_ride(drops, now=NOW), RULES).alarms == []


def test_two_riders_dropping_together_beside_connected_ones_raise_nothing():
    # Two of four enter a tunnel; the two others, a few metres behind, are not in it yet.
    at = NOW - 40_000
    drops = {
        "x": drop(at, neighbours=("y", "n1", "n2")),
        "y": drop(at + 1000, neighbours=("x", "n1", "n2")),
    }
    assert silent_rule(silent_ride(drops, now=NOW, gone=("x", "y")), RULES).alarms == []


def test_a_neighbours_drop_long_before_or_after_does_not_count():
    at = NOW - 40_000
    drops = {
        "x": drop(at, neighbours=("n1", "n2")),
        "n1": drop(at - 31_000, back=at - 20_000),
        "n2": drop(at + 31_000, back=at + 32_000),
    }
    assert kinds(silent_rule(silent_ride(drops, now=NOW), RULES)) == [("silent", "x")]


def test_a_rider_alone_raises_nothing_when_silent():
    ride = silent_ride({"x": drop(NOW - 40_000, neighbours=())}, now=NOW)
    assert silent_rule(ride, RULES).alarms == []


def test_a_rider_back_clears_with_rider_back():
    ride = silent_ride({"x": drop(NOW - 90_000, back=NOW - 1000)}, now=NOW)
    verdict = silent_rule(ride, RULES)
    assert verdict.alarms == []
    assert [(c.kind, c.rider_id, c.resolution) for c in verdict.clears] == [
        ("silent", "x", "rider_back")
    ]


def test_the_decision_is_not_taken_after_its_window():
    late = NOW - (30 + DROP_DECISION_SECONDS + 1) * 1000
    assert silent_rule(silent_ride({"x": drop(late)}, now=NOW), RULES).alarms == []


def test_a_stale_fix_at_the_drop_raises_nothing():
    record = DropRecord(
        at_ms=NOW - 40_000, fix=fix(0, at=NOW - 80_000), neighbours=("n1",), back_at_ms=None
    )
    assert silent_rule(silent_ride({"x": record}, now=NOW), RULES).alarms == []


def test_evaluate_runs_every_rule():
    fixes = {"a": fix(3000), "b": fix(2900), "d": fix(1500)}
    ride = state(fixes, drops={"x": drop(NOW - 40_000, neighbours=("a", "b"))})
    assert kinds(evaluate(ride, RULES)) == [("silent", "x"), ("split", "d")]


def _ms(iso):
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


# --- which trails an evaluation needs ---------------------------------------------------------


def without_trails(ride):
    from dataclasses import replace

    return replace(ride, trails={})


def test_a_ride_on_the_move_needs_no_trail():
    fixes = {"a": fix(3000), "b": fix(2900), "c": fix(2800)}
    assert riders_needing_trails(without_trails(state(fixes)), RULES) == set()


def test_slow_riders_and_riders_without_speed_or_heading_need_theirs():
    fixes = {
        "a": fix(3000),
        "slow": fix(2950, speed=3.0),
        "no_speed": fix(2900, speed=None),
        "no_heading": fix(2850, heading=None),
    }
    needed = riders_needing_trails(without_trails(state(fixes)), RULES)
    assert needed == {"slow", "no_speed", "no_heading"}


def test_a_split_needs_every_riders_trail():
    fixes = {"a": fix(3000), "b": fix(2900), "d": fix(1500)}
    assert riders_needing_trails(without_trails(state(fixes)), RULES) == {"a", "b", "d"}


def test_a_drop_being_decided_needs_its_riders_trail_and_a_judged_one_not():
    ride = silent_ride(
        {"x": drop(NOW - 40_000), "y": drop(NOW - 10_000), "z": drop(NOW - 90_000, back=NOW)},
        now=NOW,
    )
    assert riders_needing_trails(without_trails(ride), RULES) == {"x"}


def test_a_condition_known_open_that_still_holds_is_neither_raised_nor_cleared():
    fixes = {"a": fix(3000), "b": fix(2900), "d": fix(1500)}
    ride = state(fixes)
    known = frozenset({("d", "split")})
    verdict = evaluate(ride, RULES, known)
    assert verdict.alarms == []
    assert "d" not in {clear.rider_id for clear in verdict.clears if clear.kind == "split"}
    assert riders_needing_trails(without_trails(ride), RULES, known) == set()


def test_a_stop_known_open_needs_no_trail_and_clears_when_the_group_stops():
    ride = ride_with_one_stopped(200)
    known = frozenset({("s", "stopped")})
    assert riders_needing_trails(without_trails(ride), RULES, known) == set()
    assert stopped_rule(ride, RULES, known).alarms == []
    group_stop = ride_with_one_stopped(200, others_moving=1, others_stopped=2)
    clears = stopped_rule(group_stop, RULES, known).clears
    assert ("s", "condition_cleared") in {(c.rider_id, c.resolution) for c in clears}
