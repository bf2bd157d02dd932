"""The Lua scripts that make each compound update atomic, and the one way to run them.

A script's source is: locals naming KEYS in RoomKeys order, lua/common.lua, then lua/<name>.lua.
Building the locals from RoomKeys keeps Python and Lua agreeing on the order of KEYS.
"""

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import NoScriptError

from sessions_rt import keys, retention
from sessions_rt.client import realtime_available
from sessions_rt.errors import NotLiveMember

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


@dataclass(frozen=True)
class RoomScriptCall:
    """One script run on a room's keys, ready for a sync or an asyncio Redis client."""

    script: LuaScript
    room_keys: tuple[str, ...]
    argv: tuple
    index_score: dict[str, int] | None
    room_ttl_ms: int


def room_script_call(
    name: str,
    *,
    room_id: str,
    now_ms: int,
    args: tuple[str | int, ...] = (),
    activity: bool = True,
) -> RoomScriptCall:
    room_ttl_ms = retention.room_session_ttl_seconds() * 1000
    return RoomScriptCall(
        script=lua_script(name),
        room_keys=tuple(keys.room_keys(room_id)),
        argv=(now_ms, room_ttl_ms, retention.event_log_length(), *args),
        index_score={room_id: now_ms} if activity else None,
        room_ttl_ms=room_ttl_ms,
    )


def run_room_script(name: str, *, client: Redis, **call_options):
    """Run one script on a room's keys and return its reply.

    With ``activity`` (default) the room's entry in the live-rooms index is refreshed in the
    same round trip (a pipeline, not a transaction: the index lives in another cluster slot).
    EVALSHA avoids sending the source each time; a Redis that forgot the script (a restart, a
    failover) gets it loaded once more.
    """
    call = room_script_call(name, **call_options)
    with realtime_available():
        try:
            pipe = _queued(client.pipeline(transaction=False), call)
            return _first_error_raised(pipe.execute(raise_on_error=False))
        except NoScriptError:
            client.script_load(call.script.source)
            pipe = _queued(client.pipeline(transaction=False), call)
            return _first_error_raised(pipe.execute(raise_on_error=False))


async def run_room_script_async(name: str, *, client: AsyncRedis, **call_options):
    """run_room_script on the event loop: the ride socket's hot paths (heartbeats, positions)
    skip the hop to a worker thread and back that a blocking client costs."""
    call = room_script_call(name, **call_options)
    with realtime_available():
        try:
            pipe = _queued(client.pipeline(transaction=False), call)
            return _first_error_raised(await pipe.execute(raise_on_error=False))
        except NoScriptError:
            await client.script_load(call.script.source)
            pipe = _queued(client.pipeline(transaction=False), call)
            return _first_error_raised(await pipe.execute(raise_on_error=False))


def raise_unless_member(reply) -> None:
    """Raise NotLiveMember when a script answered that the rider is not live in the room."""
    if reply[0] == b"not_member":
        raise NotLiveMember()


def _queued(pipe, call: RoomScriptCall):
    pipe.evalsha(call.script.sha, len(call.room_keys), *call.room_keys, *call.argv)
    if call.index_score is not None:
        pipe.zadd(keys.live_rooms_key(), call.index_score)
        pipe.pexpire(keys.live_rooms_key(), call.room_ttl_ms)
    return pipe


def _first_error_raised(replies: list):
    # Errors are collected rather than raised so the script's own error (NOSCRIPT above all)
    # is the one reported, not whichever command failed first.
    for outcome in replies:
        if isinstance(outcome, Exception):
            raise outcome
    return replies[0]
