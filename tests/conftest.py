from collections.abc import Callable, Iterator

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from websockets.asyncio.connection import Connection

from bench.harness import free_port, running_server
from riders.auth_tokens import token_issue
from riders.models import Rider
from sessions_rt.consumers import RideConsumer
from tests.mail import Inbox, SmtpServer, smtp_settings
from tests.ops.processes import server_environment
from tests.riders.factories import RiderFactory
from tests.sessions_rt.contract import frame_problems


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


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on the loopback interface for the whole run (tests/mail.py)."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_server(smtp_server, settings) -> Inbox:
    """This process sends its mail over SMTP to ``smtp_server``; its inbox, emptied."""
    smtp_settings(settings, port=smtp_server.port)
    smtp_server.inbox.clear()
    return smtp_server.inbox


@pytest.fixture
def mail_server_down(settings) -> int:
    """This process sends its mail to a port nobody listens on; the port."""
    port = free_port()
    smtp_settings(settings, port=port)
    return port


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, django_db_blocker, smtp_server) -> Iterator[str]:
    """``manage.py serve`` (uvicorn, one worker) on the test database and the test Redis,
    sending its mail to ``smtp_server``.

    For what lives below Django's test client: request bodies as the server reads them
    (chunked, oversized), the ASGI stack, a real socket. It runs the test settings, so its
    rate-limit counters share this process's cache prefix and passwords its hasher. A test
    using it needs ``django_db(transaction=True)``: the server sees only committed rows.
    """
    env = server_environment(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        CONVOY_KEY_PREFIX=settings.CONVOY_KEY_PREFIX,
        **smtp_server.environment(),
    )
    with django_db_blocker.unblock(), running_server(workers=1, extra_env=env) as base:
        yield base


@pytest.fixture(autouse=True)
def socket_frames_follow_the_asyncapi_document(monkeypatch):
    """Every frame the ride socket sends in any test is checked against the AsyncAPI document
    (sessions_rt/asyncapi.py): in this process at the consumer's send, from a live server as
    a websockets client receives it. A frame the document does not describe fails the test.
    Yields the list of what it found."""
    found: list[str] = []
    consumer_send = RideConsumer.send

    async def send_checked(self, text_data=None, bytes_data=None, close=False):
        if text_data is not None:
            found.extend(frame_problems(text_data))
        await consumer_send(self, text_data=text_data, bytes_data=bytes_data, close=close)

    client_recv = Connection.recv

    async def recv_checked(self, *args, **kwargs):
        data = await client_recv(self, *args, **kwargs)
        if isinstance(data, str):
            found.extend(frame_problems(data))
        return data

    monkeypatch.setattr(RideConsumer, "send", send_checked)
    monkeypatch.setattr(Connection, "recv", recv_checked)
    yield found
    if found:
        pytest.fail("frames the AsyncAPI document does not describe:\n" + "\n".join(found))
