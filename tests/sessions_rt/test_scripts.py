"""How the Lua scripts are assembled and run."""

import hashlib
import uuid
from datetime import timedelta

import pytest
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from config.lua_scripts import LuaScript
from sessions_rt.errors import RealtimeUnavailable
from sessions_rt.store import keys, scripts
from sessions_rt.store.members import member_join
from sessions_rt.store.presence import heartbeat
from sessions_rt.store.scripts import lua_script


def test_scripts_name_the_room_keys_in_roomkeys_order():
    source = lua_script("heartbeat").source
    expected = [
        f"local {field.upper()} = KEYS[{position}]"
        for position, field in enumerate(keys.RoomKeys._fields, start=1)
    ]
    assert source.splitlines()[: len(expected)] == expected


def test_a_script_redis_has_not_seen_is_loaded_and_run(monkeypatch, redis, room_id, leader_id):
    known = lua_script("join")
    # A comment unique to this test gives a script no Redis server has cached.
    unseen = LuaScript(name="join", source=f"{known.source}\n-- {uuid.uuid4()}\n")
    sha = unseen.sha
    assert sha == hashlib.sha1(unseen.source.encode(), usedforsecurity=False).hexdigest()
    assert redis.script_exists(sha) == [False]
    monkeypatch.setattr(scripts, "lua_script", lambda name: unseen)

    event = member_join(room_id, leader_id, leader_id=leader_id)

    assert event.type == "member_joined"
    assert redis.script_exists(sha) == [True]


def test_heartbeats_rewrite_the_live_rooms_entry_at_most_once_per_refresh_interval(
    redis, room_id, leader_id, t0
):
    index = keys.live_rooms_key()
    member_join(room_id, leader_id, leader_id=leader_id, now=t0)
    redis.zrem(index, room_id)  # a lost write

    heartbeat(room_id, leader_id, now=t0 + timedelta(seconds=1))
    assert redis.zscore(index, room_id) is None

    later = t0 + timedelta(milliseconds=scripts.INDEX_REFRESH_MS)
    heartbeat(room_id, leader_id, now=later)
    assert redis.zscore(index, room_id) == later.timestamp() * 1000


def test_a_join_always_writes_the_live_rooms_entry(redis, room_id, leader_id, t0):
    index = keys.live_rooms_key()
    member_join(room_id, leader_id, leader_id=leader_id, now=t0)
    redis.zrem(index, room_id)  # the cleanup closed the room a moment ago

    member_join(room_id, str(uuid.uuid4()), leader_id=leader_id, now=t0)

    assert redis.zscore(index, room_id) == t0.timestamp() * 1000


def test_an_index_write_that_never_reached_redis_is_made_at_the_next_heartbeat(
    redis, room_id, leader_id, t0
):
    index = keys.live_rooms_key()
    member_join(room_id, leader_id, leader_id=leader_id, now=t0)
    redis.zrem(index, room_id)
    due = t0 + timedelta(milliseconds=scripts.INDEX_REFRESH_MS)
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", retry=Retry(NoBackoff(), 0))
    with pytest.raises(RealtimeUnavailable):
        heartbeat(room_id, leader_id, now=due, client=unreachable)

    heartbeat(room_id, leader_id, now=due + timedelta(seconds=1))

    assert redis.zscore(index, room_id) == (due + timedelta(seconds=1)).timestamp() * 1000
