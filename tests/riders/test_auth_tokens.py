"""token_authenticate: the one place a bearer key becomes a rider, for the API and sockets."""

from datetime import timedelta

import pytest
from django.utils import timezone

from riders.auth_tokens import token_authenticate, token_issue
from riders.models import AuthToken, Rider
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_a_live_key_gives_the_rider_and_token_exactly_as_stored():
    rider = RiderFactory(display_name="Åsa Ødegård", is_staff=True)
    issued = token_issue(rider=rider, device_name="Pixel 8")
    AuthToken.objects.filter(pk=issued.token.pk).update(last_used_at=timezone.now())

    found_rider, found_token = token_authenticate(key=issued.key)

    assert _fields(found_rider) == _fields(Rider.objects.get(pk=rider.pk))
    assert _fields(found_token) == _fields(AuthToken.objects.get(pk=issued.token.pk))
    assert found_token.user is found_rider
    # Loaded from the database, so saving it updates the row rather than inserting one.
    assert (found_rider._state.adding, found_rider._state.db) == (False, "default")


def test_a_recently_used_key_costs_one_query(django_assert_num_queries):
    rider = RiderFactory()
    issued = token_issue(rider=rider)
    token_authenticate(key=issued.key)  # records last_used_at

    with django_assert_num_queries(1):
        assert token_authenticate(key=issued.key)[0].pk == rider.pk


def test_an_expired_key_of_an_inactive_rider_or_an_unknown_key_gives_nothing():
    live, expired, inactive = RiderFactory(), RiderFactory(), RiderFactory(is_active=False)
    live_key = token_issue(rider=live).key
    expired_key = token_issue(rider=expired).key
    past = timezone.now() - timedelta(days=1)
    AuthToken.objects.filter(user=expired).update(
        created_at=past - timedelta(days=1), expires_at=past
    )
    inactive_key = token_issue(rider=inactive).key

    assert token_authenticate(key=live_key)[0] == live
    assert token_authenticate(key=expired_key) is None
    assert token_authenticate(key=inactive_key) is None
    assert token_authenticate(key=live_key[:-1] + ("A" if live_key[-1] != "A" else "B")) is None
    assert token_authenticate(key="cvy_' OR 1=1 --") is None
