"""The live ride state in Redis: the one import callers (the WebSocket consumer, services,
commands) need. Every function takes ids as UUIDs or strings, keyword-only options, and an
optional Redis ``client`` (default: the "default" cache's). Each update is one Lua script
run in one round trip. The ride socket's hot paths have ``_async`` twins that run on the
event loop with an asyncio client. Redis being unreachable raises RealtimeUnavailable.
"""

from sessions_rt.cleanup import cleanup_expired_sessions
from sessions_rt.connections import connection_state_set
from sessions_rt.errors import NotLiveMember, RealtimeUnavailable
from sessions_rt.events import Event, EventsSince, events_since
from sessions_rt.location import (
    RiderLocation,
    location_update,
    location_update_async,
    riders_behind,
    riders_within,
)
from sessions_rt.membership import (
    ConnectionSession,
    connection_session_get,
    expired_reconnecting,
    member_join,
    member_leave,
    member_mark_reconnecting,
    reconnecting_members,
    require_live_member,
    room_close,
    sweep_set,
)
from sessions_rt.presence import heartbeat, heartbeat_async, presence_update
from sessions_rt.snapshot import snapshot

__all__ = [
    "ConnectionSession",
    "Event",
    "EventsSince",
    "NotLiveMember",
    "RealtimeUnavailable",
    "RiderLocation",
    "cleanup_expired_sessions",
    "connection_session_get",
    "connection_state_set",
    "events_since",
    "expired_reconnecting",
    "heartbeat",
    "heartbeat_async",
    "location_update",
    "location_update_async",
    "member_join",
    "member_leave",
    "member_mark_reconnecting",
    "presence_update",
    "reconnecting_members",
    "require_live_member",
    "riders_behind",
    "riders_within",
    "room_close",
    "snapshot",
    "sweep_set",
]
