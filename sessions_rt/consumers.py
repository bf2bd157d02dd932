"""The ride socket, ``ws/rooms/<code>/``: presence, positions, WebRTC link states and
signalling for the riders of one room. The protocol is documented in docs/realtime.md.

The consumer is thin: it authenticates, checks the rider is in the ride, joins the channel
groups, checks each message against its schema in the registry (sessions_rt.messages) and
hands it to the handler the registry names, which calls sessions_rt.services. It never touches
Redis or the ORM itself and never sends to groups; the services do.
"""

import asyncio
import json
import math

import structlog
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.urls import path
from redis.exceptions import RedisError

from config import metrics
from config.errors import DomainError
from config.logs import new_connection_id
from riders.auth_tokens import token_authenticate
from rooms.errors import InvalidRoomCode, NotInRoom, RemovedFromRide, RoomInactive, RoomNotFound
from sessions_rt import services
from sessions_rt.errors import (
    AlreadyAuthenticated,
    BinaryNotSupported,
    InvalidJson,
    InvalidRealtimeData,
    MessageDropped,
    RealtimeUnavailable,
)
from sessions_rt.messages import PhoneMessage, echoable_ref, handshake_hello, phone_message
from sessions_rt.protocol import (
    BEARER_PREFIX,
    LEAVE_ON_CLOSE,
    PROTOCOL,
    REMOVAL_CLOSE_CODES,
    CloseCode,
    LeaveReason,
    frame_exceeds,
)
from sessions_rt.selectors import ride_socket_room
from sessions_rt.sockets import (
    MessageRateLimiter,
    PresenceRefresh,
    reconnect_reason,
    shutting_down,
    socket_closed,
    socket_opened,
)
from sessions_rt.store.client import iso
from sessions_rt.store.events import event_from_json
from sessions_rt.store.keys import rider_group, room_group

logger = structlog.get_logger(__name__)

# PostgreSQL went away, or its breaker is open (config/postgresql/base.py).
DATABASE_ERRORS = (OperationalError, InterfaceError)


class RideConsumer(AsyncWebsocketConsumer):
    rider = None
    rider_id: str | None = None
    room = None
    ended_by_server = False
    auth_deadline: asyncio.TimerHandle | None = None
    live = False
    accepted = False
    closed_for_shutdown = False
    # The highest seq the phone holds from this socket (its snapshot, events, or since_seq): a
    # live event at or below it is one the phone has, and is not sent again.
    seq_held = 0
    # Set when the server closes the socket because the app broke the protocol.
    leave_reason: LeaveReason | None = None

    # --- Connection life -----------------------------------------------------------------

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except RedisError:
            # Before connect() the channel layer subscribes the socket's own channel; with
            # Redis down that fails, and the phone would see an HTTP 500 instead of the
            # documented close 1013 (try again after a pause).
            if self.accepted:
                raise
            metrics.record_redis_error("channel_layer")
            offered = scope.get("subprotocols") or []
            await send(
                {
                    "type": "websocket.accept",
                    "subprotocol": PROTOCOL if PROTOCOL in offered else None,
                }
            )
            await send(
                {
                    "type": "websocket.close",
                    "code": int(CloseCode.TRY_AGAIN),
                    "reason": _try_again_reason(),
                }
            )

    async def connect(self):
        # Every log line of this socket, its services' included, carries its connection id
        # (the socket's task keeps its own context).
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            connection_id=new_connection_id(), room_code=self.scope["url_route"]["kwargs"]["code"]
        )
        socket_opened(self)
        metrics.WEBSOCKETS_OPEN.inc()
        self.limiter = MessageRateLimiter(
            per_second=settings.WS_MESSAGES_PER_SECOND, burst=settings.WS_MESSAGE_BURST
        )
        self.presence_refresh = PresenceRefresh(settings.WS_HEARTBEAT_REFRESH_SECONDS)
        offered = self.scope.get("subprotocols") or []
        await self.accept(subprotocol=PROTOCOL if PROTOCOL in offered else None)
        self.accepted = True
        if shutting_down():
            await self.server_shutdown()
            return
        key = next((p[len(BEARER_PREFIX) :] for p in offered if p.startswith(BEARER_PREFIX)), None)
        if key is not None:
            # The hello fields an auth message would carry come in the query string.
            await self._authenticate(key, hello=handshake_hello(self.scope["query_string"]))
            return
        # No token in the handshake: the first message must be {"type": "auth", ...}. The
        # token never travels in the URL, where proxies would log it.
        self._arm_auth_deadline()

    async def disconnect(self, code):
        socket_closed(self)
        metrics.WEBSOCKETS_OPEN.dec()
        logger.info("socket closed", code=code)
        if self.auth_deadline is not None:
            self.auth_deadline.cancel()
        if self.live:
            metrics.RIDERS_LIVE.dec()
            self.live = False
        if self.rider is None:
            return
        await self._leave_groups()
        if self.ended_by_server:
            return
        try:
            reason = self.leave_reason or LEAVE_ON_CLOSE.get(code)
            if reason is not None:
                await services.session_left(
                    room=self.room, rider=self.rider, reason=reason, channel_name=self.channel_name
                )
            else:
                await services.session_dropped(
                    room=self.room, rider=self.rider, channel_name=self.channel_name
                )
        except RealtimeUnavailable:
            logger.warning("live state unavailable while the rider disconnected")

    async def receive(self, text_data=None, bytes_data=None):
        # Every frame counts, binary and malformed ones too; the limit is UTF-8 bytes.
        size_limit = settings.WS_MAX_MESSAGE_BYTES
        if (text_data is not None and frame_exceeds(text_data, max_bytes=size_limit)) or (
            bytes_data is not None and len(bytes_data) > size_limit
        ):
            await self._close_for_violation(CloseCode.MESSAGE_TOO_BIG, "message too big")
            return
        verdict = self.limiter.check()
        if verdict == "close":
            await self._close_for_violation(CloseCode.RATE_LIMITED, "rate limited")
            return
        if verdict == "drop":
            await self._error(MessageDropped())
            return
        if text_data is None:
            await self._error(BinaryNotSupported())
            return
        try:
            frame = _STRICT_JSON.decode(text_data)
        except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
            await self._error(InvalidJson())
            return
        try:
            message = phone_message(frame, authenticated=self.rider is not None)
        except DomainError as exc:
            await self._error(exc, ref=echoable_ref(frame))
            return
        await self._dispatch(message)

    async def _dispatch(self, message: PhoneMessage) -> None:
        try:
            await getattr(self, message.spec.handler)(message)
        except RealtimeUnavailable:
            await self._close_try_again()
        except DomainError as exc:
            await self._error(exc, ref=message.ref)

    # --- Authentication and joining --------------------------------------------------------

    async def _authenticate(self, key, *, hello: PhoneMessage) -> None:
        """``hello`` is the auth message, or the query string of a socket whose handshake
        carried the token; its malformed fields were dropped (hello.ignored)."""
        if self.auth_deadline is not None:
            self.auth_deadline.cancel()
        try:
            found = await database_sync_to_async(token_authenticate)(key=key)
        except DATABASE_ERRORS:
            await self._close_database_unavailable()
            return
        if found is None:
            await self._close(CloseCode.UNAUTHENTICATED, "invalid token")
            return
        rider, _ = found
        structlog.contextvars.bind_contextvars(rider_id=str(rider.pk))
        code = self.scope["url_route"]["kwargs"]["code"]
        try:
            room = await database_sync_to_async(ride_socket_room)(code=code, rider=rider)
        except (RoomNotFound, InvalidRoomCode):
            await self._close(CloseCode.ROOM_NOT_FOUND, "no such ride")
            return
        except RoomInactive:
            await self._close(CloseCode.ROOM_CLOSED, "ride ended")
            return
        except RemovedFromRide:
            await self._close(CloseCode.KICKED, "removed from the ride")
            return
        except NotInRoom:
            await self._close(CloseCode.NOT_PARTICIPANT, "not a participant")
            return
        except DATABASE_ERRORS:
            await self._close_database_unavailable()
            return
        self.rider, self.rider_id, self.room = rider, str(rider.pk), room
        try:
            await self.channel_layer.group_add(rider_group(rider.pk), self.channel_name)
            await self.channel_layer.group_add(room_group(room.pk), self.channel_name)
            await services.session_open(
                room=room,
                rider=rider,
                channel_name=self.channel_name,
                device=hello.fields.get("device"),
                app_version=hello.fields.get("app_version"),
                transport=hello.fields.get("transport"),
            )
        except (RealtimeUnavailable, RedisError) as exc:
            if isinstance(exc, RedisError):
                metrics.record_redis_error("channel_layer")
            await self._close_try_again()
            return
        self.live = True
        metrics.RIDERS_LIVE.inc()
        logger.info("socket joined the ride")
        if hello.ignored:
            names = ", ".join(hello.ignored)
            await self._error(
                InvalidRealtimeData(
                    f"The rider joined without {names}, which broke its schema.",
                    fields=hello.ignored,
                ),
                ref=hello.ref,
            )
        try:
            await self._catch_up(hello.fields.get("since_seq"), hello.fields.get("session_id"))
        except RealtimeUnavailable:
            await self._close_try_again()

    async def _catch_up(self, since_seq, session_id):
        """Send what the phone misses since ``since_seq`` (a snapshot, or the events since),
        and remember the seq the phone then holds."""
        frame = await services.catch_up(room=self.room, seq=since_seq, session_id=session_id)
        if frame["type"] == "snapshot":
            self.seq_held = frame["seq"]
        else:
            seqs = [event["seq"] for event in frame["events"]]
            self.seq_held = max(self.seq_held, since_seq or 0, *seqs)
        await self._send(frame)

    def _arm_auth_deadline(self) -> None:
        self.auth_deadline = asyncio.get_running_loop().call_later(
            settings.WS_AUTH_TIMEOUT_SECONDS,
            lambda: asyncio.ensure_future(self._close(CloseCode.UNAUTHENTICATED, "auth timeout")),
        )

    async def _leave_groups(self) -> None:
        if self.room is None or self.rider is None:
            return
        try:
            await self.channel_layer.group_discard(room_group(self.room.pk), self.channel_name)
            await self.channel_layer.group_discard(rider_group(self.rider.pk), self.channel_name)
        except RedisError:
            # With Redis gone the subscriptions are gone too; nothing is left to undo.
            metrics.record_redis_error("channel_layer")
            logger.warning("channel layer unavailable while the socket left")

    async def dispatch(self, message):
        # channels' dispatch first closes stale database connections, a hop to the one sync
        # thread, for every frame and every fan-out delivery: thousands a second on a busy
        # worker, all queued behind whatever ORM call that thread runs. This consumer reaches
        # the database only through database_sync_to_async, which closes them itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- Messages from the phone: the handlers sessions_rt.messages names ------------------
    # Each takes a PhoneMessage checked against its schema, and reads its fields as they are.

    async def on_auth(self, message):
        if self.rider is not None:
            raise AlreadyAuthenticated()
        await self._authenticate(message.fields.get("token"), hello=message)

    async def on_heartbeat(self, message):
        if self.presence_refresh.due():
            await services.heartbeat(room=self.room, rider=self.rider)
            self.presence_refresh.done()
        await self._send({"type": "heartbeat_ack", "ref": message.ref})

    async def on_status(self, message):
        fields = message.fields
        await services.presence_report(
            room=self.room,
            rider=self.rider,
            status=fields["status"],
            battery_pct=fields.get("battery_pct"),
            network_type=fields.get("network_type"),
        )
        self.presence_refresh.done()

    async def on_location(self, message):
        fields = message.fields
        await services.location_report(
            room=self.room,
            rider=self.rider,
            lat=fields["lat"],
            lon=fields["lon"],
            speed_kmh=fields.get("speed_kmh"),
            heading_deg=fields.get("heading_deg"),
        )
        self.presence_refresh.done()

    async def on_location_sharing(self, message):
        await services.location_sharing_report(
            room=self.room, rider=self.rider, paused=message.fields["paused"]
        )
        self.presence_refresh.done()

    async def on_connection_state(self, message):
        fields = message.fields
        await services.connection_state_report(
            room=self.room,
            rider=self.rider,
            peer_id=fields["peer_id"],
            state_name=fields["state"],
            ice_state=fields.get("ice_state"),
        )

    async def on_signal(self, message):
        fields = message.fields
        await services.signal_relay(
            room=self.room,
            rider=self.rider,
            to=fields["to"],
            kind=fields["kind"],
            payload=fields["payload"],
        )

    async def on_sync(self, message):
        await self._catch_up(message.fields.get("since_seq"), message.fields.get("session_id"))

    async def on_set_sweep(self, message):
        await services.sweep_name(
            room=self.room, rider=self.rider, sweep_id=message.fields["rider_id"]
        )

    async def on_nearby(self, message):
        riders = await services.riders_nearby(
            room=self.room, rider=self.rider, radius_km=message.fields["radius_km"]
        )
        await self._send({"type": "nearby", "ref": message.ref, "riders": riders})

    async def on_sos(self, message):
        alert = await services.sos_raise(
            room=self.room,
            rider=self.rider,
            countdown_seconds=message.fields.get("countdown_seconds", 0),
        )
        await self._send(_sos_ack(alert, ref=message.ref))

    async def on_sos_cancel(self, message):
        alert = await services.sos_cancel(room=self.room, rider=self.rider)
        await self._send(_sos_ack(alert, ref=message.ref))

    async def on_behind(self, message):
        riders = await services.riders_fallen_behind(
            room=self.room,
            threshold_km=message.fields["threshold_km"],
            reference=message.fields.get("reference", "leader"),
        )
        await self._send({"type": "behind", "ref": message.ref, "riders": riders})

    # --- Messages from the channel layer ---------------------------------------------------

    async def room_event(self, message):
        # The event as the script that numbered it logged it (lua/common.lua's emit), the
        # same text a catch-up reads back: live and caught-up frames cannot differ.
        event = event_from_json(str(self.room.pk), message["event"])
        if event.seq <= self.seq_held:
            # Already in this socket's snapshot or events: its own member_joined, or, after a
            # resume, the presence_changed of its return.
            return
        self.seq_held = event.seq
        await self._send(event.as_dict())
        if (event.type, event.rider_id, event.payload.get("reason")) == (
            "member_left",
            self.rider_id,
            LeaveReason.TIMED_OUT,
        ):
            # The phone went quiet for PRESENCE_TTL_SECONDS with this socket still open: it
            # is out of the live ride, and a new socket brings it back.
            self.ended_by_server = True
            await self._close(CloseCode.TIMED_OUT, "timed out")

    async def room_location(self, message):
        if message["rider_id"] == self.rider_id:
            return  # the sender's own position: its phone knows it
        await self.send(text_data=message["frame"])

    async def room_closed(self, message):
        await self._send({"type": "room_closed"})
        self.ended_by_server = True
        await self._close(CloseCode.ROOM_CLOSED, "ride ended")

    async def rider_removed(self, message):
        if self.room is None or message["room_id"] != str(self.room.pk):
            return
        await self._send({"type": "removed", "reason": message["reason"]})
        self.ended_by_server = True
        code = REMOVAL_CLOSE_CODES.get(message["reason"], CloseCode.LEFT_ROOM)
        await self._close(code, message["reason"])

    async def rider_signal(self, message):
        if self.room is None or message["room_id"] != str(self.room.pk):
            return
        await self._send(
            {
                "type": "signal",
                "from": message["from"],
                "kind": message["kind"],
                "payload": message["payload"],
            }
        )

    async def session_replaced(self, message):
        if message["channel"] == self.channel_name or self.room is None:
            return
        if message["room_id"] != str(self.room.pk):
            return
        try:
            replaced = await services.session_is_replaced(
                room=self.room, rider=self.rider, channel_name=self.channel_name
            )
        except RealtimeUnavailable:
            await self._close_try_again()
            return
        if not replaced:
            return
        await self._send({"type": "session_replaced"})
        self.ended_by_server = True
        await self._close(CloseCode.DUPLICATE_SESSION, "duplicate session")

    async def server_shutdown(self) -> None:
        """This worker is stopping: the phone reconnects, to another worker, after the delay
        the close reason gives (spread over WS_RESTART_RECONNECT_WINDOW_SECONDS, inside the
        grace period). The rider is dropped, not gone: the others see reconnecting until the
        new socket opens."""
        if self.closed_for_shutdown:
            return
        self.closed_for_shutdown = True
        reason = reconnect_reason(
            "server shutdown", window_seconds=settings.WS_RESTART_RECONNECT_WINDOW_SECONDS
        )
        if self.rider is not None and self.room is not None and not self.ended_by_server:
            # Marked reconnecting before the phone is told to go: done after the close, it
            # could land after the phone is already back on another worker. The connection
            # log waits until the close is sent.
            self.ended_by_server = True
            marked = False
            try:
                marked = await services.session_mark_dropped(
                    room=self.room, rider=self.rider, channel_name=self.channel_name
                )
            except RealtimeUnavailable:
                logger.warning("live state unavailable while the server shut down")
            finally:
                await self._close(CloseCode.SERVER_SHUTDOWN, reason)
            if marked:
                await services.session_drop_recorded(room=self.room, rider=self.rider)
            return
        await self._close(CloseCode.SERVER_SHUTDOWN, reason)

    # --- Plumbing ----------------------------------------------------------------------------

    async def _send(self, payload: dict) -> None:
        await self.send(text_data=json.dumps(payload, separators=(",", ":")))

    async def _error(self, error: DomainError, *, ref=None) -> None:
        """An error frame: always with fields ({} when no one field is at fault), and the ref
        of the message it is about, when that had a valid one."""
        body = {
            "type": "error",
            "code": error.code,
            "message": error.message,
            "fields": error.fields,
        }
        if ref is not None:
            body["ref"] = ref
        await self._send(body)

    async def _close_try_again(self) -> None:
        await self._close(CloseCode.TRY_AGAIN, _try_again_reason())

    async def _close_database_unavailable(self) -> None:
        # PostgreSQL is away (or its breaker open): the same 1013 as for Redis, with its own
        # reason, rather than a socket that hangs until the phone drops it.
        logger.warning("database unavailable while the socket authenticated")
        await self._close(
            CloseCode.TRY_AGAIN,
            reconnect_reason(
                "database unavailable",
                window_seconds=settings.WS_UNAVAILABLE_RECONNECT_WINDOW_SECONDS,
            ),
        )

    async def _close(self, code: int, reason: str) -> None:
        await self.close(code=int(code), reason=reason)

    async def _close_for_violation(self, code: CloseCode, reason: str) -> None:
        # The app broke the protocol: the rider leaves the ride at once, however the phone
        # answers the close.
        self.leave_reason = LEAVE_ON_CLOSE[code]
        await self._close(code, reason)


def _sos_ack(alert, *, ref) -> dict:
    return {
        "type": "sos_ack",
        "ref": ref,
        "alert_id": str(alert.pk),
        "status": alert.status,
        "due_at": None if alert.due_at is None else iso(alert.due_at),
    }


def _try_again_reason() -> str:
    """Redis is unavailable: come back after a pause spread over
    WS_UNAVAILABLE_RECONNECT_WINDOW_SECONDS, so the phones of every host don't return at once
    (and back off further if the next socket is closed the same way)."""
    return reconnect_reason(
        "live state unavailable", window_seconds=settings.WS_UNAVAILABLE_RECONNECT_WINDOW_SECONDS
    )


# Python's json reads NaN, Infinity and 1e999, which are not JSON: relayed or echoed, they
# would reach other phones as text their JSON parsers reject.
def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range")
    return number


# One decoder for every frame: json.loads with hooks builds a new one per call.
_STRICT_JSON = json.JSONDecoder(parse_constant=_not_json, parse_float=_finite_float)


websocket_urlpatterns = [
    path("ws/rooms/<str:code>/", RideConsumer.as_asgi()),
]
