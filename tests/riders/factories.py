import factory
from factory.django import DjangoModelFactory

from riders.models import Rider

TEST_PASSWORD = "ride-safe-2026"


class RiderFactory(DjangoModelFactory):
    class Meta:
        model = Rider
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"rider{n:05d}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    display_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save(update_fields=["password"])
