"""When Redis can't be reached, every call fails with the one error callers map: 503,
realtime_unavailable."""

import inspect

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from config import redis_config
from config.errors import DomainError
from sessions_rt.errors import RealtimeUnavailable
from sessions_rt.store import alerts, events, expiry, links, members, positions, presence
from sessions_rt.store.alerts import alert_event_emit
from sessions_rt.store.events import events_since, snapshot
from sessions_rt.store.expiry import cleanup_expired_sessions
from sessions_rt.store.links import connection_state_set
from sessions_rt.store.members import (
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
from sessions_rt.store.positions import (
    location_sharing_set,
    location_update,
    rider_last_position,
    riders_behind,
    riders_within,
)
from sessions_rt.store.presence import heartbeat, presence_update, sharing_apply
from tests.sessions_rt.conftest import new_id

# Port 1 on the loopback: nothing listens, so every connection is refused at once.
UNREACHABLE_URL = "redis://127.0.0.1:1/0"

ROOM, RIDER, PEER = new_id(), new_id(), new_id()

CALLS = {
    "member_join": lambda c: member_join(ROOM, RIDER, leader_id=RIDER, client=c),
    "member_mark_reconnecting": lambda c: member_mark_reconnecting(ROOM, RIDER, client=c),
    "member_leave": lambda c: member_leave(ROOM, RIDER, reason="kicked", client=c),
    "presence_update": lambda c: presence_update(ROOM, RIDER, status="online", client=c),
    "heartbeat": lambda c: heartbeat(ROOM, RIDER, client=c),
    "location_update": lambda c: location_update(ROOM, RIDER, lat=45, lon=7, client=c),
    "location_sharing_set": lambda c: location_sharing_set(ROOM, RIDER, paused=True, client=c),
    "sharing_apply": lambda c: sharing_apply(
        ROOM, RIDER, share_battery=False, share_network=True, client=c
    ),
    "riders_within": lambda c: riders_within(ROOM, RIDER, radius_km=1, client=c),
    "rider_last_position": lambda c: rider_last_position(ROOM, RIDER, client=c),
    "alert_event_emit": lambda c: alert_event_emit(
        ROOM, RIDER, event_type="alert_raised", payload={"alert_id": PEER}, client=c
    ),
    "riders_behind": lambda c: riders_behind(ROOM, threshold_km=1, client=c),
    "connection_state_set": lambda c: connection_state_set(
        ROOM, RIDER, peer_id=PEER, state="new", client=c
    ),
    "sweep_set": lambda c: sweep_set(ROOM, by_rider_id=RIDER, sweep_id=PEER, client=c),
    "snapshot": lambda c: snapshot(ROOM, client=c),
    "events_since": lambda c: events_since(ROOM, seq=0, session_id="s", client=c),
    "room_close": lambda c: room_close(ROOM, client=c),
    "expired_reconnecting": lambda c: expired_reconnecting(ROOM, client=c),
    "connection_session_get": lambda c: connection_session_get(ROOM, RIDER, client=c),
    "cleanup_expired_sessions": lambda c: cleanup_expired_sessions(client=c),
    "reconnecting_members": lambda c: reconnecting_members(ROOM, client=c),
    "require_live_member": lambda c: require_live_member(ROOM, RIDER, client=c),
}


# The event loop's twins are covered with an asyncio client in test_hot_paths_async.
ASYNC_TWINS = {"heartbeat_async", "location_update_async"}


def _store_functions_taking_a_client() -> set[str]:
    """Every public function of the store's modules that talks to Redis (takes ``client``)."""
    found = set()
    for module in (alerts, events, expiry, links, members, positions, presence):
        for name, function in vars(module).items():
            if (
                inspect.isfunction(function)
                and function.__module__ == module.__name__
                and not name.startswith("_")
                and "client" in inspect.signature(function).parameters
            ):
                found.add(name)
    return found


def test_every_public_function_is_covered():
    public = _store_functions_taking_a_client()
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
        member_join(ROOM, RIDER, leader_id=RIDER)
    with pytest.raises(RealtimeUnavailable):
        snapshot(ROOM)


@override_settings(CACHES=redis_config.cache_settings(UNREACHABLE_URL, "convoy-test"))
def test_the_cleanup_command_fails_with_a_one_line_reason():
    with pytest.raises(CommandError, match="unavailable"):
        call_command("cleanup_expired_sessions")
