"""Fixtures of the REST API tests: clients, bearer tokens, and a clean throttle state."""

from collections.abc import Callable

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from riders.auth_tokens import token_issue
from riders.models import Rider


@pytest.fixture(autouse=True)
def _clear_throttle_counters():
    """Throttle counters live in the cache (Redis); no test inherits another's requests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def auth_client(db) -> Callable[[Rider], APIClient]:
    """``auth_client(rider)``: a client holding a freshly issued token of that rider."""

    def make(rider: Rider, *, device_name: str = "test phone") -> APIClient:
        client = APIClient()
        issued = token_issue(rider=rider, device_name=device_name)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.key}")
        return client

    return make
