"""What the ride socket relies on in Channels and channels_redis beyond their documented
API, pinned: an upgrade that changes it fails here, not silently in production.

channels_redis's group channel naming and msgpack delivery, which the store's scripts
publish to directly, are pinned in test_events.py.
"""

import ast
import inspect
import textwrap

from channels.consumer import AsyncConsumer, get_handler_name

from sessions_rt.consumers import RideConsumer


def _statements(function) -> list[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return [ast.unparse(statement) for statement in body]


def test_channels_dispatch_does_only_what_the_consumer_replaces():
    """RideConsumer.dispatch skips the base's aclose_old_connections (a hop to the sync
    thread per frame); it must otherwise do what the base does, so the base may do no more
    than look the handler up, close old connections and call it."""
    base = "\n".join(_statements(AsyncConsumer.dispatch))

    assert "getattr(self, get_handler_name(message), None)" in base
    assert "await aclose_old_connections()" in base
    assert "await handler(message)" in base
    assert "raise ValueError" in base
    # Nothing else: four statements inside one if/else and the lookup.
    assert len(base.splitlines()) == 6, base
    assert RideConsumer.dispatch is not AsyncConsumer.dispatch


def test_handler_names_are_the_message_type_with_dots_as_underscores():
    assert get_handler_name({"type": "room.event"}) == "room_event"
    assert callable(RideConsumer.room_event)
