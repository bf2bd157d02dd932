"""When Redis can't be reached, every call fails with the one error callers map: 503,
realtime_unavailable."""

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from config import redis_config
from config.errors import DomainError
from sessions_rt import state
from sessions_rt.errors import RealtimeUnavailable
from tests.sessions_rt.conftest import new_id

# Port 1 on the loopback: nothing listens, so every connection is refused at once.
UNREACHABLE_URL = "redis://127.0.0.1:1/0"

ROOM, RIDER, PEER = new_id(), new_id(), new_id()

CALLS = {
    "member_join": lambda c: state.member_join(ROOM, RIDER, leader_id=RIDER, client=c),
    "member_mark_reconnecting": lambda c: state.member_mark_reconnecting(ROOM, RIDER, client=c),
    "member_leave": lambda c: state.member_leave(ROOM, RIDER, reason="kicked", client=c),
    "presence_update": lambda c: state.presence_update(ROOM, RIDER, status="online", client=c),
    "heartbeat": lambda c: state.heartbeat(ROOM, RIDER, client=c),
    "location_update": lambda c: state.location_update(ROOM, RIDER, lat=45, lon=7, client=c),
    "riders_within": lambda c: state.riders_within(ROOM, RIDER, radius_km=1, client=c),
    "riders_behind": lambda c: state.riders_behind(ROOM, threshold_km=1, client=c),
    "connection_state_set": lambda c: state.connection_state_set(
        ROOM, RIDER, peer_id=PEER, state="new", client=c
    ),
    "sweep_set": lambda c: state.sweep_set(ROOM, by_rider_id=RIDER, sweep_id=PEER, client=c),
    "snapshot": lambda c: state.snapshot(ROOM, client=c),
    "events_since": lambda c: state.events_since(ROOM, seq=0, session_id="s", client=c),
    "room_close": lambda c: state.room_close(ROOM, client=c),
    "expired_reconnecting": lambda c: state.expired_reconnecting(ROOM, client=c),
    "connection_session_get": lambda c: state.connection_session_get(ROOM, RIDER, client=c),
    "cleanup_expired_sessions": lambda c: state.cleanup_expired_sessions(client=c),
    "reconnecting_members": lambda c: state.reconnecting_members(ROOM, client=c),
    "require_live_member": lambda c: state.require_live_member(ROOM, RIDER, client=c),
}


# The event loop's twins are covered with an asyncio client in test_hot_paths_async.
ASYNC_TWINS = {"heartbeat_async", "location_update_async"}


def test_every_public_function_is_covered():
    public = {name for name in state.__all__ if name[0].islower()}
    assert set(CALLS) == public - ASYNC_TWINS
    assert public >= ASYNC_TWINS


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_an_unreachable_injected_client_raises_realtime_unavailable(call):
    client = Redis.from_url(UNREACHABLE_URL, retry=Retry(NoBackoff(), 0))
    with pytest.raises(RealtimeUnavailable) as caught:
        call(client)
    error = caught.value
    assert isinstance(error, DomainError)
    assert (error.status, error.code) == (503, "realtime_unavailable")


@override_settings(CACHES=redis_config.cache_settings(UNREACHABLE_URL, "convoy-test"))
def test_the_default_client_of_an_unreachable_cache_raises_realtime_unavailable():
    with pytest.raises(RealtimeUnavailable):
        state.member_join(ROOM, RIDER, leader_id=RIDER)
    with pytest.raises(RealtimeUnavailable):
        state.snapshot(ROOM)


@override_settings(CACHES=redis_config.cache_settings(UNREACHABLE_URL, "convoy-test"))
def test_the_cleanup_command_fails_with_a_one_line_reason():
    with pytest.raises(CommandError, match="unavailable"):
        call_command("cleanup_expired_sessions")
