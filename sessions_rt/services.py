"""Real-time actions: change the live state, then tell the sockets.

Every ride event is published by the store's script that logs it, in the same atomic step
(see lua/common.lua), so phones receive a ride's events in seq order; these functions send
the rest (removals, closings, signalling, positions) and are the only other senders. The REST side calls the sync
ones after its transaction commits (a ride ended, a rider removed); the WebSocket consumer
awaits the async ones. Redis being down never fails a REST request: the sync actions log and
move on, and phones rebuild the live state with their next heartbeats.
"""

import asyncio
import json
import logging
import uuid

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import InterfaceError, OperationalError
from redis.exceptions import RedisError

from riders.models import Rider
from rooms.alerts import alert_raise, alert_sos_cancel
from rooms.events import AlertAcknowledged, AlertRaised, AlertResolved
from rooms.models import AlertKind, RideAlert, Room
from rooms.selectors import rider_active_room_id
from sessions_rt.errors import InvalidRealtimeData, InvalidSweep, NotLiveMember, RealtimeUnavailable
from sessions_rt.protocol import SIGNAL_PAYLOAD_MAX_BYTES, LeaveReason
from sessions_rt.selectors import live_alerts
from sessions_rt.store.alerts import AlertEventType, alert_event_emit
from sessions_rt.store.client import group_publication, iso, redis_client
from sessions_rt.store.events import Event, events_since, snapshot
from sessions_rt.store.expiry import cleanup_expired_sessions
from sessions_rt.store.keys import (
    reconnect_grace_seconds,
    rider_group,
    room_group,
)
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
    farthest_first,
    location_sharing_set,
    location_update_async,
    rider_last_position,
    riders_behind,
    riders_within,
)
from sessions_rt.store.presence import heartbeat_async, presence_update, sharing_apply
from telemetry.errors import InvalidEvent
from telemetry.models import EventType
from telemetry.services import connection_log_record

logger = logging.getLogger(__name__)


def _redis_call(function):
    # Redis calls are short and independent of the database: they need not queue behind
    # the ORM's single thread.
    return sync_to_async(function, thread_sensitive=False)


# --- Called by the REST side, after commit -------------------------------------------------


def realtime_rider_removed(*, room_id: uuid.UUID, rider_id: uuid.UUID, reason: str) -> None:
    """A rider left the ride (kicked, left over REST, moved to another ride): others see
    member_left and the rider's socket in that room closes with the reason."""
    # The rider's socket is told first, so it closes with the reason before its own
    # member_left, which the script publishes to the whole ride, can reach it.
    removed = {"type": "rider.removed", "room_id": str(room_id), "reason": reason}
    _send_sync([(rider_group(rider_id), removed)])
    try:
        member_leave(room_id, rider_id, reason=reason)
    except RealtimeUnavailable:
        logger.warning("live state unavailable; %s of rider %s not broadcast", reason, rider_id)


def realtime_room_closed(*, room_id: uuid.UUID) -> None:
    """The ride ended: every socket of the room is told and closed, the live state dropped."""
    try:
        room_close(room_id)
    except RealtimeUnavailable:
        logger.warning("live state unavailable; room %s closed without clearing it", room_id)
    _send_sync([(room_group(room_id), {"type": "room.closed", "room_id": str(room_id)})])


def realtime_sharing_changed(*, rider_id: uuid.UUID, share_battery: bool, share_network: bool):
    """The rider changed what their presence shares: applied at once in the ride they are
    live in, if any; a value no longer shared is dropped and the ride gets presence_changed
    without it. Every later socket reads the choice from the profile as it joins."""
    room_id = rider_active_room_id(rider_id=rider_id)
    if room_id is None:
        return
    try:
        sharing_apply(room_id, rider_id, share_battery=share_battery, share_network=share_network)
    except NotLiveMember:
        return  # not connected: the next socket applies it
    except RealtimeUnavailable:
        logger.warning(
            "live state unavailable; sharing choice of rider %s applies at the next socket",
            rider_id,
        )


def realtime_alert_raised(*, event: AlertRaised) -> None:
    """Tell the ride an alert opened (alert_raised, in its event sequence), naming the riders
    whose phones alarm first: the leader and the sweep."""
    payload = {
        "alert_id": str(event.alert_id),
        "kind": event.kind,
        "raised_at": iso(event.raised_at),
        "opened_at": iso(event.opened_at),
        "position": event.position,
        "details": event.details,
    }
    _alert_event(event, "alert_raised", payload, alarm_first=True)


def realtime_alert_acknowledged(*, event: AlertAcknowledged) -> None:
    payload = {
        "alert_id": str(event.alert_id),
        "kind": event.kind,
        "by_id": str(event.by_id),
        "acknowledged_at": iso(event.acknowledged_at),
    }
    _alert_event(event, "alert_acknowledged", payload)


def realtime_alert_resolved(*, event: AlertResolved) -> None:
    payload = {
        "alert_id": str(event.alert_id),
        "kind": event.kind,
        "resolution": event.resolution,
        "by_id": None if event.by_id is None else str(event.by_id),
        "resolved_at": iso(event.resolved_at),
    }
    _alert_event(event, "alert_resolved", payload)


def _alert_event(
    event: AlertRaised | AlertAcknowledged | AlertResolved,
    event_type: AlertEventType,
    payload: dict,
    *,
    alarm_first: bool = False,
) -> None:
    try:
        alert_event_emit(
            event.room_id,
            event.rider_id,
            event_type=event_type,
            payload=payload,
            alarm_first=alarm_first,
        )
    except RealtimeUnavailable:
        # The alert is a committed row: the REST list has it, and so does the snapshot of
        # every socket that connects once Redis is back.
        logger.warning(
            "live state unavailable; %s of alert %s not broadcast", event_type, event.alert_id
        )


def realtime_expire_sessions() -> list[Event]:
    """Remove members whose presence or grace period ran out; their rooms are told by the
    script that removes them."""
    return cleanup_expired_sessions()


def _send_sync(publications: list[tuple[str, dict]]) -> None:
    """What ``group_send(group, message)`` would PUBLISH, for each pair, in one pipelined round
    trip on the live state's Redis client (the pub/sub channel layer's server): from sync code,
    async_to_sync(group_send) would cost an event loop hop per message."""
    try:
        pipeline = redis_client(None).pipeline(transaction=False)
        for group, message in publications:
            pipeline.publish(*group_publication(group, message))
        pipeline.execute()
    except (RedisError, OSError) as exc:
        kinds = ", ".join(message["type"] for _, message in publications)
        logger.warning("channel layer unavailable; %s not delivered: %s", kinds, exc)


# --- Awaited by the WebSocket consumer -----------------------------------------------------


async def session_open(
    *, room: Room, rider: Rider, channel_name: str, device=None, app_version=None, transport=None
) -> None:
    """A phone's socket is authenticated for the room: it becomes (or stays) a live member.

    A reconnect inside the grace period yields presence_changed, never a second member_joined.
    Any other socket of the same rider is told it has been replaced. What the rider's profile
    says they share (share_battery, share_network) holds from this join on.
    """
    was_reconnecting = await _redis_call(_is_reconnecting)(room.pk, rider.pk)
    await _redis_call(member_join)(
        room.pk,
        rider.pk,
        leader_id=room.creator_id,
        device=device,
        app_version=app_version,
        transport=transport,
        channel=channel_name,
        share_battery=rider.share_battery,
        share_network=rider.share_network,
    )
    await _publish(
        rider_group(rider.pk),
        {"type": "session.replaced", "room_id": str(room.pk), "channel": channel_name},
    )
    kind = EventType.RECONNECTED if was_reconnecting else EventType.CONNECTED
    # Telemetry records the transport (cellular, wifi, bridged) as the network type.
    await _log(rider, room, kind, network_type=transport)


async def session_is_replaced(*, room: Room, rider: Rider, channel_name: str) -> bool:
    """Whether the rider's current socket in the room is another one than ``channel_name``.

    A "session.replaced" notice can reach a socket that opened after the one it announces:
    a phone that reconnects within milliseconds, to the same worker, subscribes to its
    rider group before that worker has read the notice of its previous socket from Redis.
    The connection record names the socket that opened last, so a late notice is ignored.
    A rider with no record (gone, or the live state lost) is not replaced.
    """
    record = await _redis_call(connection_session_get)(room.pk, rider.pk)
    return record is not None and record.channel not in (None, channel_name)


async def session_left(*, room: Room, rider: Rider, reason: LeaveReason, channel_name: str) -> None:
    """The socket closed for good: the app closed it (client_closed), or the server did because
    the app broke the protocol (protocol_error). The rider leaves the live ride at once, unless
    another socket of theirs opened since (that one speaks for the rider now)."""
    event = await _redis_call(member_leave)(room.pk, rider.pk, reason=reason, channel=channel_name)
    if event is not None:
        await _log(rider, room, EventType.DISCONNECTED, reason=reason.value)


async def session_dropped(*, room: Room, rider: Rider, channel_name: str) -> None:
    """The socket dropped (a tunnel): others see "reconnecting" now, "left" only if the rider
    is not back within the grace period."""
    if await session_mark_dropped(room=room, rider=rider, channel_name=channel_name):
        await session_drop_recorded(room=room, rider=rider)


async def session_mark_dropped(*, room: Room, rider: Rider, channel_name: str) -> bool:
    """Show the rider as reconnecting; whether this socket still spoke for them.

    Nothing changes when another socket of the rider opened since: a phone told by a stopping
    worker to move is often back on another worker before the old one has seen its socket
    close, and marking it reconnecting then would leave it so until the expiry sweep took it
    out as timed_out (issue 20: 13 of 35 riders of a deploy)."""
    try:
        event = await _redis_call(member_mark_reconnecting)(room.pk, rider.pk, channel=channel_name)
    except NotLiveMember:
        return False
    return event is not None or not await _redis_call(_is_superseded)(
        room.pk, rider.pk, channel_name
    )


async def session_drop_recorded(*, room: Room, rider: Rider) -> None:
    """The drop goes into the rider's connection log, and the grace period starts."""
    await _log(rider, room, EventType.RECONNECTING)
    asyncio.get_running_loop().create_task(_expire_after_grace(room=room, rider=rider))


async def _expire_after_grace(*, room: Room, rider: Rider) -> None:
    # If this worker dies first, cleanup_expired_sessions does the same from any host.
    await asyncio.sleep(reconnect_grace_seconds())
    try:
        expired = await _redis_call(expired_reconnecting)(room.pk)
        if str(rider.pk) not in expired:
            return
        event = await _redis_call(member_leave)(room.pk, rider.pk, reason="timed_out")
    except RealtimeUnavailable:
        return
    if event is not None:
        await _log(rider, room, EventType.DISCONNECTED, reason="timed_out")


async def presence_report(*, room: Room, rider: Rider, status, battery_pct, network_type) -> None:
    await _redis_call(presence_update)(
        room.pk, rider.pk, status=status, battery_pct=battery_pct, network_type=network_type
    )


async def heartbeat(*, room: Room, rider: Rider) -> None:
    await heartbeat_async(room.pk, rider.pk)


async def location_report(*, room: Room, rider: Rider, lat, lon, speed_kmh, heading_deg) -> None:
    """Store the rider's position and send it to every socket of the ride.

    The script that stores the position also publishes it on the ride's group channel of
    the Redis pub/sub channel layer (config/redis_config.py): one round trip a position
    instead of two, and no turn to wait for the layer's single publishing connection per
    worker.
    """
    group = room_group(room.pk)
    await location_update_async(
        room.pk,
        rider.pk,
        lat=lat,
        lon=lon,
        speed_kmh=speed_kmh,
        heading_deg=heading_deg,
        publish=lambda fix: group_publication(group, _location_message(fix)),
    )


def _location_message(fix) -> dict:
    # Every socket of the ride gets the same frame: it is encoded here, once, rather than by
    # each receiving socket (ten per ride, each position every second). The sender's own
    # socket drops it by rider_id.
    frame = json.dumps({"type": "location", **fix.as_dict()}, separators=(",", ":"))
    return {"type": "room.location", "rider_id": fix.rider_id, "frame": frame}


async def location_sharing_report(*, room: Room, rider: Rider, paused: bool) -> None:
    """The rider paused sharing their position, or shares it again; the ride is told by the
    script that records it (location_sharing_changed, with a seq)."""
    await _redis_call(location_sharing_set)(room.pk, rider.pk, paused=paused)


async def connection_state_report(*, room: Room, rider: Rider, peer_id, state_name, ice_state):
    await _redis_call(connection_state_set)(
        room.pk, rider.pk, peer_id=peer_id, state=state_name, ice_state=ice_state
    )
    if ice_state == "failed" or state_name == "failed":
        await _log(rider, room, EventType.ICE_FAILED, ice_state=ice_state or "failed")


async def signal_relay(*, room: Room, rider: Rider, to: str, kind: str, payload) -> None:
    """Relay WebRTC signalling to one live member of the same room, and only to them.

    ``to`` is a UUID in any case, ``kind`` one of SignalKind (the message's schema holds both)."""
    if uuid.UUID(to) == rider.pk:
        raise InvalidRealtimeData(
            "A rider does not signal themselves.", fields={"to": "Another rider of the ride."}
        )
    size = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    if size > SIGNAL_PAYLOAD_MAX_BYTES:
        raise InvalidRealtimeData(
            f"The signal payload is {size} bytes of JSON.",
            fields={"payload": f"At most {SIGNAL_PAYLOAD_MAX_BYTES} bytes as JSON (UTF-8)."},
        )
    try:
        await _redis_call(require_live_member)(room.pk, to)
    except NotLiveMember:
        raise NotLiveMember(
            "That rider is not connected to this ride.",
            fields={"to": "A rider connected to this ride."},
        ) from None
    await _publish(
        rider_group(to),
        {
            "type": "rider.signal",
            "room_id": str(room.pk),
            "from": str(rider.pk),
            "kind": kind,
            "payload": payload,
        },
    )


async def sweep_name(*, room: Room, rider: Rider, sweep_id: str | None) -> None:
    """The leader names the sweep (tail rider), or clears it with None."""
    try:
        await _redis_call(sweep_set)(room.pk, by_rider_id=rider.pk, sweep_id=sweep_id)
    except InvalidSweep as exc:
        raise InvalidSweep(fields={"rider_id": exc.message}) from None


async def riders_nearby(*, room: Room, rider: Rider, radius_km) -> list[dict]:
    """Riders of the room within ``radius_km`` of this rider, nearest first."""
    found = await _redis_call(riders_within)(room.pk, rider.pk, radius_km=radius_km)
    return [{"rider_id": other, "distance_km": round(km, 3)} for other, km in found]


async def riders_fallen_behind(*, room: Room, threshold_km, reference) -> list[dict]:
    """Riders more than ``threshold_km`` from the leader, the group's median point, or (behind
    the sweep) the sweep, in the order store.positions.riders_behind defines."""
    found = await _redis_call(riders_behind)(
        room.pk, threshold_km=threshold_km, reference=reference
    )
    # Ordered again as the phone reads them: two distances equal to the metre, by rider id.
    rounded = sorted(((other, round(km, 3)) for other, km in found), key=farthest_first)
    return [{"rider_id": other, "distance_km": km} for other, km in rounded]


async def sos_raise(*, room: Room, rider: Rider, countdown_seconds: int) -> RideAlert:
    """The rider asks for help, now or when ``countdown_seconds`` end (unless they cancel).
    The alert carries their last position in the ride. A repeat answers with the same alert;
    one with no countdown opens a running one at once."""
    await _redis_call(require_live_member)(room.pk, rider.pk)
    position = await _redis_call(rider_last_position)(room.pk, rider.pk)
    alert, _ = await database_sync_to_async(alert_raise)(
        room_id=room.pk,
        rider_id=rider.pk,
        kind=AlertKind.SOS,
        position=position,
        trail=[],
        details={"countdown_seconds": countdown_seconds},
        countdown_seconds=countdown_seconds,
    )
    return alert


async def sos_cancel(*, room: Room, rider: Rider) -> RideAlert:
    """The rider is OK: their SOS ends as a false alarm (NoSosToCancel if there is none)."""
    return await database_sync_to_async(alert_sos_cancel)(room=room, rider=rider)


async def catch_up(*, room: Room, seq, session_id) -> dict:
    """What a phone missed since ``seq``: the events, or a snapshot when that is too old."""
    if seq is None or session_id is None:
        return await _snapshot_frame(room, await _redis_call(snapshot)(room.pk))
    missed = await _redis_call(events_since)(room.pk, seq=seq, session_id=session_id)
    if missed.snapshot is not None:
        return await _snapshot_frame(room, missed.snapshot)
    return {"type": "events", "events": [event.as_dict() for event in missed.events]}


async def _snapshot_frame(room: Room, live: dict) -> dict:
    """The snapshot frame: the live state, then the alerts not over. Read in that order, an
    alert raised or ended between the two reads is in the list and in an event after the
    snapshot's seq (phones apply alert events by alert_id, so twice is harmless), never in
    neither."""
    alerts = await database_sync_to_async(live_alerts)(room_id=room.pk)
    return {"type": "snapshot", **live, "alerts": alerts}


async def _publish(group: str, message: dict) -> None:
    try:
        await get_channel_layer().group_send(group, message)
    except (RedisError, OSError) as exc:
        raise RealtimeUnavailable() from exc


def _is_reconnecting(room_id, rider_id) -> bool:
    return str(rider_id) in reconnecting_members(room_id)


def _is_superseded(room_id, rider_id, channel_name: str) -> bool:
    record = connection_session_get(room_id, rider_id)
    return record is not None and record.channel not in (None, channel_name)


async def _log(rider: Rider, room: Room, event_type: str, **metrics) -> None:
    """Support reads these ConnectionLogs when a rider says "I couldn't hear my group"."""
    clean = {key: value for key, value in metrics.items() if value is not None}
    try:
        await database_sync_to_async(connection_log_record)(
            rider=rider, room=room, event_type=event_type, metrics=clean
        )
    except InvalidEvent as exc:  # a value the app sent that the telemetry vocabulary lacks
        logger.info("connection log %s for %s not kept: %s", event_type, rider.pk, exc)
    except (OperationalError, InterfaceError):
        # PostgreSQL is away: the live ride goes on without this line of its history.
        logger.warning(
            "connection log %s for %s not kept: database unavailable", event_type, rider.pk
        )
