"""What the domain announces once a change is committed, for the layers above it to act on.

A service whose change others must hear of (a rider out of a ride, a ride ended) announces an
event: a frozen dataclass defined by the app that owns the change (``rooms/events.py``). The
live layer subscribes to the events it acts on when the app registry is ready
(``sessions_rt/apps.py``). The service never imports its listeners, so the apps depend on one
another in one direction only: config → riders → rooms → telemetry → sessions_rt.

Not Django signals, because what matters here is what signals leave to each receiver: a signal
is delivered at once, inside the transaction, so every receiver would have to defer its own
work to ``transaction.on_commit`` and could still act on a change that is then rolled back;
and a receiver that raises reaches the sender unless every sender remembers ``send_robust``.
Here the event type is the key, its fields are typed, delivery after commit is the only kind
there is (one ``on_commit`` callback per event, whatever the number of subscribers), and a
subscriber that fails is logged and passed over.
"""

from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import structlog
from django.db import transaction

logger = structlog.get_logger(__name__)

Event = TypeVar("Event")

_subscribers: defaultdict[type, list[Callable[[Any], None]]] = defaultdict(list)


def subscribe(event_type: type[Event], subscriber: Callable[[Event], None]) -> None:
    """Call ``subscriber`` with every committed ``event_type`` event, in subscription order.
    Subscribing the same function twice delivers to it once."""
    subscribers = _subscribers[event_type]
    if subscriber not in subscribers:
        subscribers.append(subscriber)


def announce(event: object) -> None:
    """Deliver ``event`` to its subscribers once the current transaction commits, or never if
    it rolls back. Outside a transaction (autocommit) the change is already committed, and
    the event is delivered at once."""
    transaction.on_commit(partial(_deliver, event))


def _deliver(event: object) -> None:
    for subscriber in tuple(_subscribers[type(event)]):
        try:
            subscriber(event)
        except Exception:
            # The change is committed and the caller is answered from it: nothing a listener
            # raises can undo it, and the listeners after this one still hear of it.
            logger.exception(
                "subscriber failed on a committed change",
                domain_event=repr(event),
                subscriber=f"{subscriber.__module__}.{subscriber.__qualname__}",
            )
