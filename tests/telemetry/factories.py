from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

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
