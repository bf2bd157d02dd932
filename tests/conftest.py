from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from riders.auth_tokens import token_issue
from riders.models import Rider
from tests.riders.factories import RiderFactory


@pytest.fixture
def rider(db):
    return RiderFactory()


@pytest.fixture
def other_rider(db):
    return RiderFactory()


@pytest.fixture
def staff(db):
    return RiderFactory(is_staff=True)


class ExactQueries:
    """Assert an exact number of queries, printing the SQL when the count is wrong."""

    def __init__(self, expected: int):
        self.expected = expected
        self.context = CaptureQueriesContext(connection)

    def __enter__(self):
        self.context.__enter__()
        return self.context

    def __exit__(self, exc_type, exc, tb):
        self.context.__exit__(exc_type, exc, tb)
        if exc_type is not None:
            return False
        executed = self.context.captured_queries
        if len(executed) != self.expected:
            listing = "\n".join(f"{i + 1}. {q['sql']}" for i, q in enumerate(executed))
            pytest.fail(f"expected {self.expected} queries, ran {len(executed)}:\n{listing}")
        return False


@pytest.fixture
def exact_queries():
    return ExactQueries


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
