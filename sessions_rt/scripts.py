"""The Lua scripts that make each compound update atomic, and the one way to run them.

A script's source is: locals naming KEYS in RoomKeys order, lua/common.lua, then lua/<name>.lua.
Building the locals from RoomKeys keeps Python and Lua agreeing on the order of KEYS.
"""

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from redis import Redis
from redis.exceptions import NoScriptError

from sessions_rt import keys, retention
from sessions_rt.client import realtime_available

LUA_DIR = Path(__file__).resolve().parent / "lua"


@dataclass(frozen=True)
class LuaScript:
    name: str
    source: str
    sha: str


@cache
def lua_script(name: str) -> LuaScript:
    key_locals = "".join(
        f"local {field.upper()} = KEYS[{position}]\n"
        for position, field in enumerate(keys.RoomKeys._fields, start=1)
    )
    common = (LUA_DIR / "common.lua").read_text()
    body = (LUA_DIR / f"{name}.lua").read_text()
    source = f"{key_locals}{common}\n{body}"
    return LuaScript(name=name, source=source, sha=hashlib.sha1(source.encode()).hexdigest())


def run_room_script(
    name: str,
    *,
    client: Redis,
    room_id: str,
    now_ms: int,
    args: tuple[str | int, ...] = (),
    activity: bool = True,
):
    """Run one script on a room's keys and return its reply.

    With ``activity`` the room's entry in the live-rooms index is refreshed in the same round
    trip (a pipeline, not a transaction: the index lives in another cluster slot). EVALSHA
    avoids sending the source each time; a Redis that forgot the script (a restart, a
    failover) gets it loaded once more.
    """
    script = lua_script(name)
    room_ttl_ms = retention.room_session_ttl_seconds() * 1000
    argv = (now_ms, room_ttl_ms, retention.event_log_length(), *args)
    index_score = {room_id: now_ms} if activity else None
    with realtime_available():
        try:
            return _evalsha(client, script, room_id, argv, index_score, room_ttl_ms)
        except NoScriptError:
            client.script_load(script.source)
            return _evalsha(client, script, room_id, argv, index_score, room_ttl_ms)


def _evalsha(
    client: Redis,
    script: LuaScript,
    room_id: str,
    argv: tuple,
    index_score: dict[str, int] | None,
    room_ttl_ms: int,
):
    room_keys = keys.room_keys(room_id)
    pipe = client.pipeline(transaction=False)
    pipe.evalsha(script.sha, len(room_keys), *room_keys, *argv)
    if index_score is not None:
        pipe.zadd(keys.live_rooms_key(), index_score)
        pipe.pexpire(keys.live_rooms_key(), room_ttl_ms)
    # Errors are collected rather than raised so the script's own error (NOSCRIPT above all)
    # is the one reported, not whichever command failed first.
    reply, *index_replies = pipe.execute(raise_on_error=False)
    for outcome in (reply, *index_replies):
        if isinstance(outcome, Exception):
            raise outcome
    return reply
