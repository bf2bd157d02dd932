"""The key layout: one module builds the names, a room's keys share one cluster slot, and every
key the package writes carries a TTL."""

import uuid
from datetime import timedelta
from pathlib import Path

from redis.crc import key_slot

from sessions_rt.store import keys
from sessions_rt.store.events import snapshot
from sessions_rt.store.expiry import cleanup_expired_sessions
from sessions_rt.store.links import connection_state_set
from sessions_rt.store.members import member_join, member_leave, member_mark_reconnecting, sweep_set
from sessions_rt.store.positions import location_update
from sessions_rt.store.presence import heartbeat, presence_update
from tests.sessions_rt.conftest import new_id

REPO = Path(__file__).resolve().parents[2]


def test_room_keys_are_named_under_the_prefix_with_the_room_hash_tag(settings, room_id):
    room_keys = keys.room_keys(room_id)
    prefix = f"{settings.CONVOY_KEY_PREFIX}:rt:{{room:{room_id}}}:"
    assert [key.removeprefix(prefix) for key in room_keys] == list(keys.RoomKeys._fields)
    assert all(key.startswith(prefix) for key in room_keys)
    assert keys.live_rooms_key() == f"{settings.CONVOY_KEY_PREFIX}:rt:live-rooms"


def test_the_keys_of_a_room_share_one_cluster_slot(room_id):
    slots = {key_slot(key.encode()) for key in keys.room_keys(room_id)}
    assert slots == {key_slot(f"room:{room_id}".encode())}


def test_ids_are_canonicalised_before_keys_are_built(redis, room_id, leader_id):
    upper = room_id.upper()
    member_join(upper, uuid.UUID(leader_id), leader_id=leader_id.upper())
    members = redis.zrange(keys.room_keys(room_id).members, 0, -1)
    assert members == [leader_id.encode()]
    assert snapshot(uuid.UUID(room_id))["leader_id"] == leader_id


def _busy_ride(room_id, leader_id, t0):
    riders = [new_id() for _ in range(3)]
    member_join(room_id, leader_id, leader_id=leader_id, device="Pixel 8", transport="wifi")
    for rider in riders:
        member_join(room_id, rider, leader_id=leader_id, now=t0)
    presence_update(room_id, riders[0], status="riding", battery_pct=80, network_type="wifi")
    location_update(room_id, leader_id, lat=45.0, lon=7.0, speed_kmh=60, heading_deg=180)
    location_update(room_id, riders[0], lat=44.99, lon=7.0)
    connection_state_set(room_id, leader_id, peer_id=riders[0], state="connected")
    sweep_set(room_id, by_rider_id=leader_id, sweep_id=riders[0])
    heartbeat(room_id, leader_id)
    member_leave(room_id, riders[2], reason="client_closed")
    # riders[1] was last heard from at t0: the cleanup times them out.
    assert len(cleanup_expired_sessions(now=t0 + timedelta(minutes=4))) == 1
    member_mark_reconnecting(room_id, riders[0])
    return riders


def test_every_key_written_has_a_ttl_and_every_room_key_its_hash_tag(
    redis, all_keys, room_id, leader_id, t0
):
    _busy_ride(room_id, leader_id, t0)
    written = all_keys()
    assert set(written) == {*keys.room_keys(room_id), keys.live_rooms_key()}
    for key in written:
        assert redis.pttl(key) > 0, key
    for key in keys.room_keys(room_id):
        assert f"{{room:{room_id}}}" in key


def test_no_module_but_keys_builds_a_room_key_name():
    sources = [
        path
        for top in REPO.iterdir()
        if top.is_dir() and not top.name.startswith(".") and top.name != "tests"
        for path in top.rglob("*.py")
    ]
    offenders = [
        str(path.relative_to(REPO))
        for path in sources
        if "{room:" in path.read_text() and path != REPO / "sessions_rt" / "store" / "keys.py"
    ]
    assert sources
    assert offenders == []
