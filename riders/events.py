"""What riders' services announce once a change to an account is committed
(config.domain_events): the live layer applies it to the rider's ride."""

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class RiderSharingChanged:
    """The rider changed what their presence shares with the riders of their ride."""

    rider_id: uuid.UUID
    share_battery: bool
    share_network: bool
