"""Ride alerts, the writes: raise, acknowledge, resolve, and the countdowns coming due.

Each alert is a row (rooms.models.RideAlert) and each change to one is announced after it
commits (rooms/events.py), for the live layer to tell the ride. The partial unique index
``ride_alert_one_unresolved`` keeps one alert per (ride, rider, kind) until it is resolved,
whoever raises it and however often; a raise that loses a race to it returns the winner's
row. Every change locks the alert's row first, so two riders acknowledging at once, or a
resolve racing an acknowledgment, run one after the other and each is announced once.

A pending alert is an SOS whose countdown runs: only its rider (and support) know of it, it
announces nothing, and once ``due_at`` passes ``alerts_raise_due`` opens it. Cancelled by its
rider before then, it is resolved without a word to the ride.
"""

import json
import math
import uuid
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.domain_events import announce
from config.errors import Conflict, InvalidIdentifier
from config.identifiers import parse_uuid
from config.integrity import violated_constraint
from config.text import has_forbidden_characters
from riders.audit import audit_record
from riders.models import AuditAction, Rider
from rooms.errors import (
    AlertAlreadyResolved,
    AlertNotFound,
    AlertPending,
    InvalidAlertData,
    NoSosToCancel,
    NotInRoom,
    OwnAlert,
    RoomInactive,
    RoomNotFound,
)
from rooms.events import AlertAcknowledged, AlertRaised, AlertResolved
from rooms.models import (
    MAX_LATITUDE,
    MAX_SPEED_KMH,
    AlertKind,
    AlertResolution,
    AlertStatus,
    RideAlert,
    Room,
    RoomParticipant,
)
from rooms.selectors import room_require_active_member

MAX_COUNTDOWN_SECONDS = 120
# A point every few seconds for the last several minutes: enough for support to see where the
# rider was, and an alert row stays well under a page of JSON.
MAX_TRAIL_POINTS = 600
MAX_DETAILS_BYTES = 4096
# Countdowns opened by one call; the watcher calls every tick, so a backlog drains in a few.
RAISE_DUE_BATCH = 500
# A raise that loses the race for the unique index reads the winner's row; only a winner
# resolved in between sends it round again, so a handful of rounds is never reached.
_RAISE_ROUNDS = 5

_POINT_KEYS = frozenset({"lat", "lon", "speed_kmh", "heading_deg", "at"})
_UNRESOLVED = (AlertStatus.PENDING, AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)
_ANNOUNCED = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)


def alert_raise(
    *,
    room_id: uuid.UUID,
    rider_id: uuid.UUID,
    kind: str,
    position: dict | None,
    trail: list[dict],
    details: dict,
    countdown_seconds: int = 0,
) -> tuple[RideAlert, bool]:
    """Raise an alert about a rider of an ongoing ride: open at once, or, for an SOS with a
    countdown, pending until ``now + countdown_seconds``. If the rider already has an
    unresolved alert of this kind in the ride, that one is returned with ``created=False``
    and nothing is announced; a second SOS with no countdown opens a pending one at once.

    ``position`` and each trail point are ``{lat, lon, speed_kmh, heading_deg, at}``
    (``speed_kmh``, ``heading_deg`` and ``at`` may be missing or None; ``at`` a timezone-aware
    datetime or ISO 8601 text). RoomNotFound, RoomInactive or NotInRoom if the rider is not
    in the ride now; InvalidAlertData for anything malformed, with nothing recorded.
    """
    clean_kind = _clean_choice(kind, AlertKind, field="kind")
    point = None if position is None else _clean_point(position, field="position")
    points = _clean_trail(trail)
    clean_details = _clean_details(details)
    countdown = _clean_countdown(countdown_seconds, kind=clean_kind)
    with transaction.atomic():
        _require_rider_in_ongoing_ride(room_id=room_id, rider_id=rider_id)
        for _ in range(_RAISE_ROUNDS):
            existing = (
                RideAlert.objects.select_for_update()
                .filter(room_id=room_id, rider_id=rider_id, kind=clean_kind, status__in=_UNRESOLVED)
                .first()
            )
            if existing is not None:
                if existing.status == AlertStatus.PENDING and countdown == 0:
                    _open(existing, now=timezone.now())
                return existing, False
            alert = _new_alert(
                room_id=room_id,
                rider_id=rider_id,
                kind=clean_kind,
                point=point,
                trail=points,
                details=clean_details,
                countdown=countdown,
            )
            try:
                with transaction.atomic():
                    alert.save(force_insert=True)
            except IntegrityError as exc:
                # Another process raised it first; its row is committed now (the insert
                # waited for it), so the next round reads it.
                if violated_constraint(exc) != "ride_alert_one_unresolved":
                    raise
                continue
            if alert.status == AlertStatus.OPEN:
                announce(_raised_event(alert, opened_at=alert.raised_at))
            return alert, True
    raise Conflict("This alert changed several times at once; try again.")


def alert_acknowledge(*, alert_id: uuid.UUID | str, room: Room, by: Rider) -> RideAlert:
    """A rider of the ride (or support) is on it. Acknowledging an acknowledged alert again
    changes nothing and announces nothing; the first acknowledgment stands."""
    with transaction.atomic():
        room_require_active_member(room=room, viewer=by)
        alert = _lock_alert(alert_id=alert_id, room=room, viewer=by)
        if alert.status == AlertStatus.RESOLVED:
            raise AlertAlreadyResolved()
        if alert.status == AlertStatus.PENDING:
            raise AlertPending()
        if alert.status == AlertStatus.ACKNOWLEDGED:
            return alert
        if alert.rider_id == by.pk:
            raise OwnAlert()
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_by = by
        alert.acknowledged_at = timezone.now()
        alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at"])
        _audit(alert, room=room, action=AuditAction.ALERT_ACKNOWLEDGED, actor=by)
        announce(
            AlertAcknowledged(
                alert_id=alert.pk,
                room_id=alert.room_id,
                rider_id=alert.rider_id,
                kind=alert.kind,
                by_id=by.pk,
                acknowledged_at=alert.acknowledged_at,
            )
        )
    return alert


def alert_resolve(
    *, alert_id: uuid.UUID | str, room: Room, by: Rider | None, resolution: str
) -> RideAlert:
    """End an alert: ``by`` a rider of the ride or support, or None for the server. A pending
    SOS ends without a word to the ride, which never heard of it."""
    clean_resolution = _clean_choice(resolution, AlertResolution, field="resolution")
    with transaction.atomic():
        if by is not None:
            room_require_active_member(room=room, viewer=by)
        alert = _lock_alert(alert_id=alert_id, room=room, viewer=by)
        if alert.status == AlertStatus.RESOLVED:
            raise AlertAlreadyResolved()
        _resolve(alert, resolution=clean_resolution, by=by)
        if by is not None:
            _audit(alert, room=room, action=AuditAction.ALERT_RESOLVED, actor=by)
    return alert


def alert_sos_cancel(*, room: Room, rider: Rider) -> RideAlert:
    """The rider is OK: their SOS in the ride ends as a false alarm, without a word to the
    ride if its countdown was still running. NoSosToCancel if they have none."""
    with transaction.atomic():
        alert = (
            RideAlert.objects.select_for_update()
            .filter(room=room, rider=rider, kind=AlertKind.SOS, status__in=_UNRESOLVED)
            .first()
        )
        if alert is None:
            raise NoSosToCancel()
        _resolve(alert, resolution=AlertResolution.FALSE_ALARM, by=rider)
    return alert


def alerts_resolve_condition(
    *, room_id: uuid.UUID, rider_id: uuid.UUID, kind: str, resolution: str
) -> RideAlert | None:
    """The server ends the rider's open (or acknowledged) alert of this kind, whose condition
    is over: the rider is back, the group rejoined, the rider moves again. None, and nothing
    changed, when there is none."""
    clean_kind = _clean_choice(kind, AlertKind, field="kind")
    clean_resolution = _clean_choice(resolution, AlertResolution, field="resolution")
    with transaction.atomic():
        alert = (
            RideAlert.objects.select_for_update()
            .filter(room_id=room_id, rider_id=rider_id, kind=clean_kind, status__in=_ANNOUNCED)
            .first()
        )
        if alert is None:
            return None
        _resolve(alert, resolution=clean_resolution, by=None)
    return alert


def alerts_raise_due(*, now: datetime | None = None) -> list[RideAlert]:
    """Open every pending SOS whose countdown has ended (up to RAISE_DUE_BATCH a call), and
    announce each. Rows another process is opening are skipped, not waited for, so watchers
    on several servers may all call this every tick: each countdown opens once."""
    moment = now or timezone.now()
    with transaction.atomic():
        due = list(
            RideAlert.objects.select_for_update(skip_locked=True)
            .filter(status=AlertStatus.PENDING, due_at__lte=moment)
            .order_by("due_at", "id")[:RAISE_DUE_BATCH]
        )
        if due:
            RideAlert.objects.filter(pk__in=[alert.pk for alert in due]).update(
                status=AlertStatus.OPEN
            )
        for alert in due:
            alert.status = AlertStatus.OPEN
            announce(_raised_event(alert, opened_at=moment))
    return due


def position_of(alert: RideAlert) -> dict | None:
    """The alert's last known position as events and frames carry it, or None."""
    if alert.lat is None or alert.lon is None:
        return None
    return {
        "lat": alert.lat,
        "lon": alert.lon,
        "speed_kmh": alert.speed_kmh,
        "heading_deg": alert.heading_deg,
        "at": None if alert.position_at is None else _iso(alert.position_at),
    }


def _audit(alert: RideAlert, *, room: Room, action: AuditAction, actor: Rider) -> None:
    # The label names the ride, not the rider: an account's deletion rewrites the names in
    # entries about the rider, and this one is about the alert.
    audit_record(
        action=action,
        actor=actor,
        target=alert,
        label=f"{alert.get_kind_display()} alert in {room}",
        details={
            "room_id": str(room.pk),
            "code": room.code,
            "rider_id": str(alert.rider_id),
            "kind": alert.kind,
            "status": alert.status,
            "resolution": alert.resolution,
        },
    )


def _open(alert: RideAlert, *, now: datetime) -> None:
    alert.status = AlertStatus.OPEN
    alert.save(update_fields=["status"])
    announce(_raised_event(alert, opened_at=now))


def _resolve(alert: RideAlert, *, resolution: str, by: Rider | None) -> None:
    was_announced = alert.status in _ANNOUNCED
    alert.status = AlertStatus.RESOLVED
    alert.resolution = resolution
    alert.resolved_by = by
    alert.resolved_at = timezone.now()
    alert.save(update_fields=["status", "resolution", "resolved_by", "resolved_at"])
    if was_announced:
        announce(
            AlertResolved(
                alert_id=alert.pk,
                room_id=alert.room_id,
                rider_id=alert.rider_id,
                kind=alert.kind,
                resolution=resolution,
                by_id=None if by is None else by.pk,
                resolved_at=alert.resolved_at,
            )
        )


def _lock_alert(*, alert_id: uuid.UUID | str, room: Room, viewer: Rider | None) -> RideAlert:
    """The ride's alert, locked. Another ride's alert, a malformed id and a countdown that is
    not the viewer's (only its rider, support and the server know of it) are all not found."""
    try:
        pk = parse_uuid(alert_id, what="alert_id")
    except InvalidIdentifier:
        raise AlertNotFound() from None
    alert = RideAlert.objects.select_for_update().filter(pk=pk, room_id=room.pk).first()
    if alert is None:
        raise AlertNotFound()
    hidden = (
        alert.status == AlertStatus.PENDING
        and viewer is not None
        and not viewer.is_staff
        and viewer.pk != alert.rider_id
    )
    if hidden:
        raise AlertNotFound()
    return alert


def _require_rider_in_ongoing_ride(*, room_id: uuid.UUID, rider_id: uuid.UUID) -> None:
    is_active = Room.objects.filter(pk=room_id).values_list("is_active", flat=True).first()
    if is_active is None:
        raise RoomNotFound()
    if not is_active:
        raise RoomInactive()
    if not RoomParticipant.objects.filter(
        room_id=room_id, user_id=rider_id, is_active=True
    ).exists():
        raise NotInRoom("That rider is not in this ride.")


def _new_alert(
    *,
    room_id: uuid.UUID,
    rider_id: uuid.UUID,
    kind: str,
    point: dict | None,
    trail: list[dict],
    details: dict,
    countdown: int,
) -> RideAlert:
    now = timezone.now()
    alert = RideAlert(
        room_id=room_id,
        rider_id=rider_id,
        kind=kind,
        status=AlertStatus.PENDING if countdown else AlertStatus.OPEN,
        raised_at=now,
        due_at=now + timedelta(seconds=countdown) if countdown else None,
        trail=trail,
        details=details,
    )
    if point is not None:
        alert.lat, alert.lon = point["lat"], point["lon"]
        alert.speed_kmh, alert.heading_deg = point["speed_kmh"], point["heading_deg"]
        alert.position_at = None if point["at"] is None else datetime.fromisoformat(point["at"])
    return alert


def _raised_event(alert: RideAlert, *, opened_at: datetime) -> AlertRaised:
    return AlertRaised(
        alert_id=alert.pk,
        room_id=alert.room_id,
        rider_id=alert.rider_id,
        kind=alert.kind,
        raised_at=alert.raised_at,
        opened_at=opened_at,
        position=position_of(alert),
        details=alert.details,
    )


def _clean_choice(value: object, choices: type[AlertKind] | type[AlertResolution], *, field: str):
    if not isinstance(value, str) or value not in choices.values:
        allowed = ", ".join(choices.values)
        raise InvalidAlertData(fields={field: [f"Must be one of {allowed}."]})
    return value


def _clean_countdown(value: object, *, kind: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAlertData(fields={"countdown_seconds": ["Must be a whole number of seconds."]})
    if not 0 <= value <= MAX_COUNTDOWN_SECONDS:
        raise InvalidAlertData(
            fields={"countdown_seconds": [f"Must be from 0 to {MAX_COUNTDOWN_SECONDS}."]}
        )
    if value and kind != AlertKind.SOS:
        raise InvalidAlertData(fields={"countdown_seconds": ["Only an SOS has a countdown."]})
    return value


def _clean_trail(trail: object) -> list[dict]:
    if not isinstance(trail, list):
        raise InvalidAlertData(fields={"trail": ["Must be a list of positions."]})
    if len(trail) > MAX_TRAIL_POINTS:
        raise InvalidAlertData(
            fields={"trail": [f"At most {MAX_TRAIL_POINTS} positions are kept with an alert."]}
        )
    return [_clean_point(point, field=f"trail[{index}]") for index, point in enumerate(trail)]


def _clean_point(point: object, *, field: str) -> dict:
    if not isinstance(point, dict) or not _POINT_KEYS.issuperset(point):
        keys = ", ".join(sorted(_POINT_KEYS))
        raise InvalidAlertData(fields={field: [f"Must be an object with only {keys}."]})
    lat = _number(point.get("lat"), field=f"{field}.lat", low=-MAX_LATITUDE, high=MAX_LATITUDE)
    lon = _number(point.get("lon"), field=f"{field}.lon", low=-180, high=180)
    speed = point.get("speed_kmh")
    heading = point.get("heading_deg")
    return {
        "lat": lat,
        "lon": lon,
        "speed_kmh": None
        if speed is None
        else _number(speed, field=f"{field}.speed_kmh", low=0, high=MAX_SPEED_KMH),
        "heading_deg": None
        if heading is None
        else _number(heading, field=f"{field}.heading_deg", low=0, high=360),
        "at": _moment(point.get("at"), field=f"{field}.at"),
    }


def _number(value: object, *, field: str, low: float, high: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise InvalidAlertData(fields={field: [f"Must be a number from {low} to {high}."]})
    return float(value)


def _moment(value: object, *, field: str) -> str | None:
    """An aware datetime or ISO 8601 text with its offset, as UTC text to the millisecond."""
    if value is None:
        return None
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InvalidAlertData(fields={field: ["Must be an ISO 8601 time with its UTC offset."]})
    return _iso(moment)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clean_details(details: object) -> dict:
    if not isinstance(details, dict):
        raise InvalidAlertData(fields={"details": ["Must be an object."]})
    try:
        text = json.dumps(details, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError):
        raise InvalidAlertData(fields={"details": ["Must be plain JSON."]}) from None
    # PostgreSQL's jsonb refuses NUL and lone surrogates; JSON escapes the other controls.
    if "\\u0000" in text or has_forbidden_characters(text):
        raise InvalidAlertData(fields={"details": ["Must not hold NUL or lone surrogates."]})
    if len(text.encode()) > MAX_DETAILS_BYTES:
        raise InvalidAlertData(fields={"details": [f"At most {MAX_DETAILS_BYTES} bytes of JSON."]})
    return json.loads(text)
