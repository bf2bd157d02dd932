import factory
from factory.django import DjangoModelFactory

from rooms.models import Room, RoomParticipant
from rooms.services import generate_room_code
from tests.riders.factories import RiderFactory


class RoomFactory(DjangoModelFactory):
    class Meta:
        model = Room

    name = factory.Faker("city")
    code = factory.LazyFunction(generate_room_code)
    creator = factory.SubFactory(RiderFactory)
    max_participants = 10


class RoomParticipantFactory(DjangoModelFactory):
    class Meta:
        model = RoomParticipant

    room = factory.SubFactory(RoomFactory)
    user = factory.SubFactory(RiderFactory)
