"""What rooms' services announce once a membership change is committed
(config.domain_events): the live layer closes sockets and tells the ride."""

import uuid
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True, kw_only=True)
class RiderRemovedFromRide:
    """A rider's membership of a ride ended: "left" on their own (over REST, or by joining
    another ride), "kicked" by the ride's leader or staff, "deactivated" when a moderator
    deactivated the account, or "account_deleted" when the rider's account was deleted (by
    the rider or a moderator). The phone shows each differently, so they stay apart."""

    room_id: uuid.UUID
    rider_id: uuid.UUID
    reason: Literal["left", "kicked", "deactivated", "account_deleted"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RideEnded:
    """The ride closed, and every active membership of it ended with it."""

    room_id: uuid.UUID
