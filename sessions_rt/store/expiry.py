"""Taking out the riders whose phones went quiet: presence expired, or reconnecting too long."""

from datetime import datetime

from redis import Redis

from sessions_rt.store import keys
from sessions_rt.store.client import realtime_available, redis_client, to_ms
from sessions_rt.store.events import Event, event_from_json
from sessions_rt.store.scripts import run_room_script
from sessions_rt.store.trail import drop_kept_after_back_ms

# A trail its rider has not added to for this long is trimmed by the cleanup, not by a write.
STALE_TRAIL_MS = 60_000

# How many index entries each ZSCAN step asks for.
INDEX_SCAN_COUNT = 500


def cleanup_expired_sessions(
    *, now: datetime | None = None, client: Redis | None = None
) -> list[Event]:
    """In every live room, take out the members whose presence expired (not heard from for
    PRESENCE_TTL_SECONDS) or who have been reconnecting longer than RECONNECT_GRACE_SECONDS.

    Each removal is logged as member_left (reason timed_out) and returned, in room order, for
    the caller to broadcast; ``event.room_id`` and ``event.rider_id`` say who went where.
    Trails no longer written to are trimmed to TRAIL_KEEP_SECONDS, and the drops of riders
    who came back are forgotten once no rule can need them (trail.py). Rooms whose keys are
    gone leave the index. Safe to run concurrently and on a schedule:
    each room is checked and changed in one script, so a rider is removed once.
    """
    redis = redis_client(client)
    now_ms = to_ms(now)
    presence_cutoff_ms = now_ms - keys.presence_ttl_seconds() * 1000
    grace_cutoff_ms = now_ms - keys.reconnect_grace_seconds() * 1000
    removed: list[Event] = []
    for room in live_room_ids(redis):
        status, *rest = run_room_script(
            "expire",
            client=redis,
            room_id=room,
            now_ms=now_ms,
            args=(
                presence_cutoff_ms,
                grace_cutoff_ms,
                now_ms - STALE_TRAIL_MS,
                now_ms - keys.trail_keep_seconds() * 1000,
                now_ms - drop_kept_after_back_ms(),
            ),
            index="skip",
        )
        if status in (b"gone", b"closed"):
            with realtime_available():
                redis.zrem(keys.live_rooms_key(), room)
        if rest:
            removed.extend(event_from_json(room, raw) for raw in rest[0])
    return removed


def live_room_ids(redis: Redis) -> list[str]:
    """Every room in the index, read before any is changed. ZSCAN returns every entry that is
    there throughout the scan, even while activity moves scores (offset paging would skip)."""
    with realtime_available():
        found = {
            room.decode()
            for room, _ in redis.zscan_iter(keys.live_rooms_key(), count=INDEX_SCAN_COUNT)
        }
    return sorted(found)
