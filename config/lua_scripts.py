"""Lua scripts run on Redis by their digest, and loaded when a server does not know them.

EVALSHA sends 40 characters instead of the script; a Redis that forgot it (a restart, a
failover to a replica that never saw it) answers NOSCRIPT, and the script is loaded once and
the call made again. The rate limits and the live ride state both run their scripts this way.
"""

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import NoScriptError

Reply = TypeVar("Reply")


@dataclass(frozen=True)
class LuaScript:
    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        # SHA-1 because that is how Redis names scripts, not for any security.
        digest = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", digest)


def run_loading(script: LuaScript, client: Redis, call: Callable[[], Reply]) -> Reply:
    """``call()`` (which runs ``script`` by its digest, alone or in a pipeline), loading the
    script into ``client``'s server and calling again if the server did not know it."""
    try:
        return call()
    except NoScriptError:
        client.script_load(script.source)
        return call()


async def run_loading_async(
    script: LuaScript, client: AsyncRedis, call: Callable[[], Awaitable[Reply]]
) -> Reply:
    """run_loading on the event loop, with an asyncio client."""
    try:
        return await call()
    except NoScriptError:
        await client.script_load(script.source)
        return await call()
