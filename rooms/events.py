"""What rooms' services announce once a change is committed (config.domain_events): a
membership ended or a ride closed (the live layer closes sockets and tells the ride), and a
ride alert raised, acknowledged or resolved (rooms/alerts.py; the live layer tells the ride
in its event sequence)."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal


@dataclass(frozen=True, slots=True, kw_only=True)
class RiderRemovedFromRide:
    """A rider's membership of a ride ended: "left" on their own (over REST, or by joining
    another ride), "kicked" by the ride's leader or staff (a deactivation included), or
    "account_deleted" when the rider's account was deleted (by the rider or a moderator)."""

    room_id: uuid.UUID
    rider_id: uuid.UUID
    reason: Literal["left", "kicked", "account_deleted"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RideEnded:
    """The ride closed, and every active membership of it ended with it."""

    room_id: uuid.UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRaised:
    """An alert opened: raised at once, or an SOS whose countdown ended. ``position`` is the
    rider's last known one ({lat, lon, speed_kmh, heading_deg, at}) or None; ``opened_at`` is
    when the ride was told (``raised_at`` for an alert raised at once, the end of the
    countdown for an SOS that had one)."""

    alert_id: uuid.UUID
    room_id: uuid.UUID
    rider_id: uuid.UUID
    kind: str
    raised_at: datetime
    opened_at: datetime
    position: dict | None
    details: dict


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertAcknowledged:
    """Someone in the ride (or support) is on it."""

    alert_id: uuid.UUID
    room_id: uuid.UUID
    rider_id: uuid.UUID
    kind: str
    by_id: uuid.UUID
    acknowledged_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertResolved:
    """The alert is over; ``by_id`` is None when the server ended it (its condition cleared)."""

    alert_id: uuid.UUID
    room_id: uuid.UUID
    rider_id: uuid.UUID
    kind: str
    resolution: str
    by_id: uuid.UUID | None
    resolved_at: datetime
