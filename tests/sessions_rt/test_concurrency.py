"""Races on a real Redis: the Lua scripts, not Python, keep counts and sequence numbers right."""

import json

from sessions_rt.store import keys
from sessions_rt.store.events import snapshot
from sessions_rt.store.expiry import cleanup_expired_sessions
from sessions_rt.store.members import member_join, member_leave
from sessions_rt.store.positions import location_update
from sessions_rt.store.presence import presence_update
from tests.racing import race
from tests.sessions_rt.conftest import new_id

THREADS = 20


def logged_seqs(redis, room_id) -> list[int]:
    return [json.loads(raw)["seq"] for raw in redis.lrange(keys.room_keys(room_id).events, 0, -1)]


def test_riders_joining_updating_and_leaving_at_once_keep_count_and_seqs_exact(
    redis, settings, room_id, leader_id
):
    settings.REALTIME_EVENT_LOG_LENGTH = 1000
    riders = [new_id() for _ in range(THREADS)]

    def ride(index: int, rider: str):
        def steps():
            events = [member_join(room_id, rider, leader_id=leader_id)]
            events.append(presence_update(room_id, rider, status="riding", battery_pct=index))
            location_update(room_id, rider, lat=45 + index / 1000, lon=7.0)
            if index % 2:
                events.append(member_leave(room_id, rider, reason="client_closed"))
            return events

        return steps

    results = race([ride(index, rider) for index, rider in enumerate(riders)])

    seqs = [event.seq for events in results for event in events]
    expected = THREADS * 2 + THREADS // 2
    assert sorted(seqs) == list(range(1, expected + 1))
    assert logged_seqs(redis, room_id) == list(range(1, expected + 1))
    live = snapshot(room_id)
    stayed = {rider for index, rider in enumerate(riders) if index % 2 == 0}
    assert {m["rider_id"] for m in live["members"]} == stayed
    room_keys = keys.room_keys(room_id)
    assert redis.zcard(room_keys.members) == len(stayed)
    assert redis.hget(room_keys.session, "member_count") == str(len(stayed)).encode()
    assert redis.hlen(room_keys.presence) == redis.zcard(room_keys.last_seen) == len(stayed)
    assert redis.zcard(room_keys.locations) == len(stayed)


def test_one_rider_joining_from_many_sockets_at_once_joins_once(room_id, leader_id):
    results = race([lambda: member_join(room_id, leader_id, leader_id=leader_id)] * THREADS)

    joined = [event for event in results if event is not None]
    assert [event.type for event in joined] == ["member_joined"]
    assert snapshot(room_id)["member_count"] == 1


def test_churn_keeps_the_log_gap_free_and_the_count_right(redis, settings, room_id, leader_id):
    settings.REALTIME_EVENT_LOG_LENGTH = 1000
    rounds = 10
    member_join(room_id, leader_id, leader_id=leader_id)

    def churn():
        rider = new_id()
        seqs = []
        for _ in range(rounds):
            seqs.append(member_join(room_id, rider, leader_id=leader_id).seq)
            seqs.append(member_leave(room_id, rider, reason="client_closed").seq)
        return seqs

    results = race([churn] * THREADS)

    expected = 1 + THREADS * rounds * 2
    assert sorted(seq for seqs in results for seq in seqs) == list(range(2, expected + 1))
    assert logged_seqs(redis, room_id) == list(range(1, expected + 1))
    assert redis.zcard(keys.room_keys(room_id).members) == 1
    assert snapshot(room_id)["member_count"] == 1


def test_the_last_riders_leaving_at_once_delete_the_room_exactly_once(
    redis, all_keys, room_id, leader_id
):
    riders = [new_id() for _ in range(THREADS)]
    for rider in riders:
        member_join(room_id, rider, leader_id=leader_id)

    results = race(
        [
            lambda rider=rider: member_leave(room_id, rider, reason="server_shutdown")
            for rider in riders
        ]
    )

    assert sorted(event.seq for event in results) == list(range(THREADS + 1, 2 * THREADS + 1))
    assert all_keys() == []


def test_cleanups_running_at_once_remove_each_rider_once(settings, room_id, leader_id, t0):
    settings.PRESENCE_TTL_SECONDS = 90
    quiet = [new_id() for _ in range(5)]
    member_join(room_id, leader_id, leader_id=leader_id)
    for rider in quiet:
        member_join(room_id, rider, leader_id=leader_id, now=t0)

    results = race([cleanup_expired_sessions] * 8)

    removed = [event.rider_id for events in results for event in events]
    assert sorted(removed) == sorted(quiet)
    assert snapshot(room_id)["member_count"] == 1
