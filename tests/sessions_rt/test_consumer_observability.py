"""What a ride socket leaves behind for operators: log lines with its connection id, and the
open-socket and live-rider gauges."""

import logging

import pytest
from prometheus_client import REGISTRY

from tests.sessions_rt.test_consumer import make_ride, opened, receive, socket_for

pytestmark = pytest.mark.django_db(transaction=True)


def _gauge(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_socket_log_lines_carry_a_connection_id_the_ride_and_the_rider(caplog):
    caplog.set_level(logging.INFO, logger="sessions_rt.consumers")
    ride = await make_ride(riders=1)
    [leader] = ride.members
    open_before, live_before = _gauge("convoy_websockets_open"), _gauge("convoy_riders_live")

    async with opened(socket_for(ride.room, leader.key)) as socket:
        await receive(socket)
        assert _gauge("convoy_websockets_open") == open_before + 1
        assert _gauge("convoy_riders_live") == live_before + 1

    lines = [
        record.msg
        for record in caplog.records
        if record.name == "sessions_rt.consumers" and isinstance(record.msg, dict)
    ]
    joined = next(line for line in lines if line["event"] == "socket joined the ride")
    closed = next(line for line in lines if line["event"] == "socket closed")
    assert len(joined["connection_id"]) == 32
    assert closed["connection_id"] == joined["connection_id"]
    assert (joined["rider_id"], joined["room_code"]) == (leader.id, ride.room.code)
    assert _gauge("convoy_websockets_open") == open_before
    assert _gauge("convoy_riders_live") == live_before
