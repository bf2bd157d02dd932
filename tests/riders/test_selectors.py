import uuid

import pytest

from config.errors import InvalidIdentifier
from riders.errors import RiderNotFound
from riders.selectors import (
    rider_find_by_email,
    rider_find_by_username,
    rider_get,
    rider_get_by_username,
)
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("as_text", [False, True], ids=["uuid", "text"])
def test_rider_get_by_id(rider, other_rider, as_text):
    rider_id = f"  {rider.pk}  " if as_text else rider.pk

    assert rider_get(rider_id=rider_id) == rider


@pytest.mark.parametrize("rider_id", ["not-a-uuid", "", "1234", None, 42, "'; DROP TABLE x; --"])
def test_rider_get_rejects_a_malformed_id(rider_id):
    with pytest.raises(InvalidIdentifier) as excinfo:
        rider_get(rider_id=rider_id)

    assert excinfo.value.code == "invalid_identifier"
    assert excinfo.value.status == 400
    assert "rider_id" in excinfo.value.fields


def test_rider_get_unknown_id_is_not_found(rider):
    with pytest.raises(RiderNotFound) as excinfo:
        rider_get(rider_id=uuid.uuid4())

    assert excinfo.value.code == "rider_not_found"
    assert excinfo.value.status == 404


def test_rider_get_by_username_ignores_case_spaces_and_width():
    rider = RiderFactory(username="Easy.Rider")
    RiderFactory(username="easy.rider2")

    full_width = "\uff25\uff21\uff33\uff39.rider"
    for spelling in ["Easy.Rider", "easy.rider", "EASY.RIDER", "  eAsY.rIdEr ", full_width]:
        assert rider_get_by_username(username=spelling) == rider


@pytest.mark.parametrize("username", ["nobody", "", "   ", None, "\ud800", "nul\x00"])
def test_rider_get_by_username_unknown_or_impossible_is_not_found(rider, username):
    with pytest.raises(RiderNotFound):
        rider_get_by_username(username=username)


def test_rider_find_by_username_does_not_turn_none_into_a_name():
    RiderFactory(username="None")

    assert rider_find_by_username(username=None) is None
    assert rider_find_by_username(username="none").username == "None"


def test_rider_find_by_email_ignores_case():
    rider = RiderFactory(username="mail.rider", email="Mail.Rider@example.com")

    for spelling in [
        "Mail.Rider@example.com",
        "mail.rider@EXAMPLE.COM",
        " MAIL.RIDER@example.com ",
    ]:
        assert rider_find_by_email(email=spelling) == rider


@pytest.mark.parametrize("email", ["nobody@example.com", "", None, "\ud800@example.com"])
def test_rider_find_by_email_unknown_or_impossible_is_none(rider, email):
    assert rider_find_by_email(email=email) is None
