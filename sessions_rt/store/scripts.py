"""The Lua scripts that make each compound update atomic, and the one way to run them.

A script's source is: locals naming KEYS in RoomKeys order, lua/common.lua, then lua/<name>.lua.
Building the locals from RoomKeys keeps Python and Lua agreeing on the order of KEYS. Every
run gets the room's group channel, on which a script publishes each event it logs.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from config.lua_scripts import LuaScript, run_loading, run_loading_async
from sessions_rt.errors import NotLiveMember
from sessions_rt.store import keys
from sessions_rt.store.client import group_channel, realtime_available

LUA_DIR = Path(__file__).resolve().parent / "lua"

# How a script run keeps the room in the live-rooms index (keys.py): "write" on every run (a
# room may have just come alive), "periodic" at most once per INDEX_REFRESH_MS from this
# process (heartbeats and positions, a thousand a second: the entry exists, a lost write heals
# at the next refresh), "skip" for reads and for the cleanup itself.
IndexRefresh = Literal["write", "periodic", "skip"]
INDEX_REFRESH_MS = 30_000
# Rooms whose index entry this process wrote, and when (ms); forgotten wholesale past the cap.
_index_written: dict[str, int] = {}
_INDEX_WRITTEN_CAP = 10_000


@cache
def lua_script(name: str) -> LuaScript:
    key_locals = "".join(
        f"local {field.upper()} = KEYS[{position}]\n"
        for position, field in enumerate(keys.RoomKeys._fields, start=1)
    )
    common = (LUA_DIR / "common.lua").read_text()
    body = (LUA_DIR / f"{name}.lua").read_text()
    return LuaScript(name=name, source=f"{key_locals}{common}\n{body}")


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
    index: IndexRefresh = "write",
) -> RoomScriptCall:
    room_ttl_ms = keys.room_session_ttl_seconds() * 1000
    return RoomScriptCall(
        script=lua_script(name),
        room_keys=tuple(keys.room_keys(room_id)),
        argv=(
            now_ms,
            room_ttl_ms,
            keys.event_log_length(),
            group_channel(keys.room_group(room_id)),
            *args,
        ),
        index_score={room_id: now_ms} if _index_due(index, room_id, now_ms) else None,
        room_ttl_ms=room_ttl_ms,
    )


def _index_due(index: IndexRefresh, room_id: str, now_ms: int) -> bool:
    if index == "skip":
        return False
    if index == "periodic":
        written = _index_written.get(room_id)
        return written is None or not 0 <= now_ms - written < INDEX_REFRESH_MS
    return True


def run_room_script(name: str, *, client: Redis, **call_options):
    """Run one script on a room's keys and return its reply.

    When ``index`` asks for it (see IndexRefresh), the room's entry in the live-rooms index is
    written in the same round trip (a pipeline, not a transaction: the index lives in another
    cluster slot). EVALSHA avoids sending the source each time; a Redis that forgot the script
    (a restart, a failover) gets it loaded once more.
    """
    call = room_script_call(name, **call_options)

    def run():
        pipe = _queued(client.pipeline(transaction=False), call)
        return _script_reply(call, pipe.execute(raise_on_error=False))

    with realtime_available():
        return run_loading(call.script, client, run)


async def run_room_script_async(name: str, *, client: AsyncRedis, **call_options):
    """run_room_script on the event loop: the ride socket's hot paths (heartbeats, positions)
    skip the hop to a worker thread and back that a blocking client costs, and without an
    index write they send the script alone, with no pipeline to build."""
    call = room_script_call(name, **call_options)

    async def run():
        if call.index_score is None:
            return await client.evalsha(
                call.script.sha, len(call.room_keys), *call.room_keys, *call.argv
            )
        pipe = _queued(client.pipeline(transaction=False), call)
        return _script_reply(call, await pipe.execute(raise_on_error=False))

    with realtime_available():
        return await run_loading_async(call.script, client, run)


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


def _script_reply(call: RoomScriptCall, replies: list):
    """The script's reply from a pipeline's; the index write, if any, is remembered only now
    that it has happened (a Redis that was down must get it at the next call)."""
    # Errors are collected rather than raised so the script's own error (NOSCRIPT above all)
    # is the one reported, not whichever command failed first.
    for outcome in replies:
        if isinstance(outcome, Exception):
            raise outcome
    if call.index_score is not None:
        if len(_index_written) >= _INDEX_WRITTEN_CAP:
            _index_written.clear()
        _index_written.update(call.index_score)
    return replies[0]
