"""The database holds the riders' invariants even when the services are bypassed."""

import pytest
from django.db import IntegrityError, transaction

from config.integrity import violated_constraint
from riders.models import Rider
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db


def _insert(**values) -> None:
    Rider.objects.create(**({"password": "!"} | values))


@pytest.mark.parametrize("username", ["Easy.Rider", "EASY.RIDER", "easy.rider"])
def test_username_is_unique_whatever_its_case(username):
    RiderFactory(username="easy.Rider", email="first@example.com")

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        _insert(username=username, email="second@example.com")

    assert violated_constraint(excinfo.value) == "rider_username_ci_unique"


@pytest.mark.parametrize("email", ["Easy@Example.com", "EASY@EXAMPLE.COM"])
def test_email_is_unique_whatever_its_case(email):
    RiderFactory(username="first", email="easy@example.com")

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        _insert(username="second", email=email)

    assert violated_constraint(excinfo.value) == "rider_email_ci_unique"


def test_username_cannot_be_empty():
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        _insert(username="", email="blank@example.com")

    assert violated_constraint(excinfo.value) == "rider_username_not_empty"


def test_different_names_and_emails_coexist():
    _insert(username="one", email="one@example.com")
    _insert(username="two", email="two@example.com")

    assert Rider.objects.count() == 2
