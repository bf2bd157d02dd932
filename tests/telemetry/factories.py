from dataclasses import dataclass
from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from riders.models import Rider
from rooms.models import Room
from rooms.services import participant_join, participant_leave, room_create
from telemetry.models import ConnectionLog, EventType
from tests.riders.factories import RiderFactory


class ConnectionLogFactory(DjangoModelFactory):
    class Meta:
        model = ConnectionLog

    user = factory.SubFactory(RiderFactory)
    room = None
    event_type = EventType.CONNECTED
    metrics = factory.LazyFunction(dict)
    occurred_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5))
    client_event_id = factory.Sequence(lambda n: f"evt-{n:06d}")


@dataclass
class History:
    """A rider with a past: a ride they opened and left, and a ride they are in now with a
    leader and another rider, connection logs in both."""

    rider: Rider
    leader: Rider
    other: Rider
    opened: Room
    current: Room


def log(rider: Rider, room: Room | None, event_type: str, minutes_ago: float, **metrics):
    return ConnectionLog.objects.create(
        user=rider,
        room=room,
        event_type=event_type,
        metrics=metrics,
        occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def ride_history(rider: Rider | None = None) -> History:
    rider = rider or RiderFactory()
    leader, other = RiderFactory(), RiderFactory()
    opened = room_create(creator=rider, name="Old Pass Loop")
    participant_join(rider=other, code=opened.code)
    participant_leave(rider=rider, code=opened.code)
    current = room_create(creator=leader, name="Lake Run")
    participant_join(rider=rider, code=current.code)
    participant_join(rider=other, code=current.code)
    # The two riders' tunnels overlap: 30 s for the rider, 120 s for the other, so the mean
    # time to reconnect (75 s) holds only while each rider's events stay apart.
    for member, (lost, back) in ((rider, (20, 19.5)), (other, (21, 19))):
        log(member, opened, EventType.QUALITY_REPORT, 50, rtt_ms=80, jitter_ms=4, packet_loss_pct=1)
        log(member, current, EventType.RECONNECTING, lost)
        log(member, current, EventType.RECONNECTED, back)
        log(member, current, EventType.QUALITY_REPORT, 10, rtt_ms=120, packet_loss_pct=3)
    return History(rider=rider, leader=leader, other=other, opened=opened, current=current)
