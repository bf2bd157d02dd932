"""The ride socket, ``ws/rooms/<code>/``: presence, positions, WebRTC link states and
signalling for the riders of one room. The protocol is documented in docs/realtime.md.

The consumer is thin: it authenticates, checks the rider is in the ride, joins the channel
groups, and hands every message to sessions_rt.services. It never touches Redis or the ORM
itself and never sends to groups; the services do.
"""

import asyncio
import json
import math
import uuid

import structlog
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.urls import path
from redis.exceptions import RedisError

from config import metrics
from config.errors import DomainError
from config.logs import new_connection_id
from riders.auth_tokens import token_authenticate
from rooms.errors import InvalidRoomCode, NotInRoom, RoomNotFound
from rooms.selectors import participant_get_active, room_get_by_code
from sessions_rt import services
from sessions_rt.errors import RealtimeUnavailable
from sessions_rt.protocol import CloseCode
from sessions_rt.sockets import (
    MessageRateLimiter,
    PresenceRefresh,
    reconnect_reason,
    socket_closed,
    socket_opened,
)
from sessions_rt.store.events import event_from_json
from sessions_rt.store.keys import rider_group, room_group

logger = structlog.get_logger(__name__)

PROTOCOL = "convoy.v1"
BEARER_PREFIX = "bearer."
SIGNAL_KINDS = {"offer", "answer", "candidate"}
SIGNAL_PAYLOAD_MAX_CHARS = 16_384


class RideConsumer(AsyncWebsocketConsumer):
    rider = None
    room = None
    ended_by_server = False
    auth_deadline: asyncio.TimerHandle | None = None
    live = False
    accepted = False

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
        key = next((p[len(BEARER_PREFIX) :] for p in offered if p.startswith(BEARER_PREFIX)), None)
        if key is not None:
            await self._authenticate(key, hello={})
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
            if code == CloseCode.CLIENT_CLOSED:
                await services.session_closed_by_rider(room=self.room, rider=self.rider)
            else:
                await services.session_dropped(room=self.room, rider=self.rider)
        except RealtimeUnavailable:
            logger.warning("live state unavailable while the rider disconnected")

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is None:
            await self._error("binary_not_supported", "Send JSON text frames.")
            return
        if len(text_data) > settings.WS_MAX_MESSAGE_CHARS:
            await self._close(CloseCode.MESSAGE_TOO_BIG, "message too big")
            return
        verdict = self.limiter.check()
        if verdict == "close":
            await self._close(CloseCode.RATE_LIMITED, "rate limited")
            return
        if verdict == "drop":
            await self._error("rate_limited", "Too many messages; this one was dropped.")
            return
        try:
            message = _STRICT_JSON.decode(text_data)
        except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
            await self._error("invalid_json", "Each message is one JSON object.")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self._error("invalid_message", 'Each message is an object with a "type".')
            return
        await self._dispatch(message)

    async def _dispatch(self, message: dict) -> None:
        kind = message["type"]
        if kind == "auth":
            if self.rider is not None:
                await self._error("already_authenticated", "This socket is authenticated.")
            else:
                await self._authenticate(message.get("token"), hello=message)
            return
        if self.rider is None:
            await self._error("not_authenticated", 'Send {"type": "auth", "token": ...} first.')
            return
        handler = self.HANDLERS.get(kind)
        if handler is None:
            await self._error("unknown_type", f"Unknown message type {kind[:40]!r}.")
            return
        try:
            await handler(self, message)
        except RealtimeUnavailable:
            await self._close_try_again()
        except DomainError as exc:
            await self._error(exc.code, exc.message, fields=exc.fields, ref=message.get("ref"))

    # --- Authentication and joining --------------------------------------------------------

    async def _authenticate(self, key, *, hello: dict) -> None:
        if self.auth_deadline is not None:
            self.auth_deadline.cancel()
        found = await database_sync_to_async(token_authenticate)(key=key)
        if found is None:
            await self._close(CloseCode.UNAUTHENTICATED, "invalid token")
            return
        rider, _ = found
        structlog.contextvars.bind_contextvars(rider_id=str(rider.pk))
        code = self.scope["url_route"]["kwargs"]["code"]
        try:
            room = await database_sync_to_async(_room_of_participant)(code=code, rider=rider)
        except (RoomNotFound, InvalidRoomCode):
            await self._close(CloseCode.ROOM_NOT_FOUND, "no such ride")
            return
        except NotInRoom:
            await self._close(CloseCode.NOT_PARTICIPANT, "not a participant")
            return
        if not room.is_active:
            await self._close(CloseCode.ROOM_CLOSED, "ride ended")
            return
        self.rider, self.room = rider, room
        try:
            await self.channel_layer.group_add(rider_group(rider.pk), self.channel_name)
            await self.channel_layer.group_add(room_group(room.pk), self.channel_name)
            await services.session_open(
                room=room,
                rider=rider,
                channel_name=self.channel_name,
                device=_text(hello.get("device")),
                app_version=_text(hello.get("app_version")),
                transport=_text(hello.get("transport")),
            )
        except (RealtimeUnavailable, RedisError) as exc:
            if isinstance(exc, RedisError):
                metrics.record_redis_error("channel_layer")
            await self._close_try_again()
            return
        except DomainError as exc:
            # A bad device, app_version or transport: nothing was opened. The socket waits for
            # an auth message again, so the phone can send a corrected one.
            await self._leave_groups()
            self.rider = self.room = None
            self._arm_auth_deadline()
            await self._error(exc.code, exc.message, fields=exc.fields)
            return
        self.live = True
        metrics.RIDERS_LIVE.inc()
        logger.info("socket joined the ride")
        try:
            await self._send(
                await services.catch_up(
                    room=room, seq=hello.get("since_seq"), session_id=hello.get("session_id")
                )
            )
        except RealtimeUnavailable:
            await self._close_try_again()
        except DomainError as exc:
            # A malformed since_seq or session_id: the phone starts over from a snapshot.
            await self._error(exc.code, exc.message, fields=exc.fields)
            await self._dispatch({"type": "sync"})

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

    # --- Messages from the phone -------------------------------------------------------------

    async def _on_heartbeat(self, message):
        if self.presence_refresh.due():
            await services.heartbeat(room=self.room, rider=self.rider)
            self.presence_refresh.done()
        await self._send({"type": "heartbeat_ack", "ref": message.get("ref")})

    async def _on_status(self, message):
        await services.presence_report(
            room=self.room,
            rider=self.rider,
            status=message.get("status"),
            battery_pct=message.get("battery_pct"),
            network_type=message.get("network_type"),
        )
        self.presence_refresh.done()

    async def _on_location(self, message):
        await services.location_report(
            room=self.room,
            rider=self.rider,
            lat=message.get("lat"),
            lon=message.get("lon"),
            speed_kmh=message.get("speed_kmh"),
            heading_deg=message.get("heading_deg"),
        )
        self.presence_refresh.done()

    async def _on_connection_state(self, message):
        await services.connection_state_report(
            room=self.room,
            rider=self.rider,
            peer_id=message.get("peer_id"),
            state_name=message.get("state"),
            ice_state=message.get("ice_state"),
        )

    async def _on_signal(self, message):
        kind, payload = message.get("kind"), message.get("payload")
        if kind not in SIGNAL_KINDS:
            await self._error("invalid_signal", "kind is offer, answer or candidate.")
            return
        if len(json.dumps(payload)) > SIGNAL_PAYLOAD_MAX_CHARS:
            await self._error("invalid_signal", "The signal payload is too large.")
            return
        if _names_rider(message.get("to"), self.rider.pk):
            await self._error("invalid_signal", "A rider does not signal themselves.")
            return
        await services.signal_relay(
            room=self.room, rider=self.rider, to=message.get("to"), kind=kind, payload=payload
        )

    async def _on_sync(self, message):
        await self._send(
            await services.catch_up(
                room=self.room, seq=message.get("since_seq"), session_id=message.get("session_id")
            )
        )

    async def _on_set_sweep(self, message):
        await services.sweep_name(
            room=self.room, rider=self.rider, sweep_id=message.get("rider_id")
        )

    async def _on_nearby(self, message):
        riders = await services.riders_nearby(
            room=self.room, rider=self.rider, radius_km=message.get("radius_km")
        )
        await self._send({"type": "nearby", "ref": message.get("ref"), "riders": riders})

    async def _on_behind(self, message):
        riders = await services.riders_fallen_behind(
            room=self.room,
            threshold_km=message.get("threshold_km"),
            reference=message.get("reference", "leader"),
        )
        await self._send({"type": "behind", "ref": message.get("ref"), "riders": riders})

    HANDLERS = {
        "heartbeat": _on_heartbeat,
        "status": _on_status,
        "location": _on_location,
        "connection_state": _on_connection_state,
        "signal": _on_signal,
        "sync": _on_sync,
        "set_sweep": _on_set_sweep,
        "nearby": _on_nearby,
        "behind": _on_behind,
    }

    # --- Messages from the channel layer ---------------------------------------------------

    async def room_event(self, message):
        # The event as the script that numbered it logged it (lua/common.lua's emit), the
        # same text a catch-up reads back: live and caught-up frames cannot differ.
        await self._send(event_from_json(str(self.room.pk), message["event"]).as_dict())

    async def room_location(self, message):
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
        code = CloseCode.KICKED if message["reason"] == "kicked" else CloseCode.LEFT_ROOM
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
        reason = reconnect_reason(
            "server shutdown", window_seconds=settings.WS_RESTART_RECONNECT_WINDOW_SECONDS
        )
        await self._close(CloseCode.SERVER_SHUTDOWN, reason)

    # --- Plumbing ----------------------------------------------------------------------------

    async def _send(self, payload: dict) -> None:
        await self.send(text_data=json.dumps(payload, separators=(",", ":")))

    async def _error(self, code: str, message: str, **extra) -> None:
        body = {"type": "error", "code": code, "message": message}
        body.update({key: value for key, value in extra.items() if value})
        await self._send(body)

    async def _close_try_again(self) -> None:
        await self._close(CloseCode.TRY_AGAIN, _try_again_reason())

    async def _close(self, code: int, reason: str) -> None:
        await self.close(code=int(code), reason=reason)


def _try_again_reason() -> str:
    """Redis is unavailable: come back after a pause spread over
    WS_UNAVAILABLE_RECONNECT_WINDOW_SECONDS, so the phones of every host don't return at once
    (and back off further if the next socket is closed the same way)."""
    return reconnect_reason(
        "live state unavailable", window_seconds=settings.WS_UNAVAILABLE_RECONNECT_WINDOW_SECONDS
    )


def _room_of_participant(*, code, rider):
    room = room_get_by_code(code=code)
    # Ending a ride ends every participation too: check the ride first, so its riders hear
    # "the ride ended" rather than "join it first".
    if room.is_active:
        participant_get_active(rider=rider, room=room)
    return room


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


def _names_rider(value, rider_id: uuid.UUID) -> bool:
    """Whether ``value`` is ``rider_id`` in any of the ways a UUID may be written."""
    try:
        return uuid.UUID(str(value)) == rider_id
    except ValueError:
        return False


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


websocket_urlpatterns = [
    path("ws/rooms/<str:code>/", RideConsumer.as_asgi()),
]
