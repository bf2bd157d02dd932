"""HTTP under ASGI: the middleware chain runs in sync mode, entered with one hop, on a fixed
set of reused threads per worker."""

import asyncio
import threading
import time

import httpx
import pytest
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.test import override_settings

from config.asgi_handler import SyncChainASGIHandler

pytestmark = pytest.mark.django_db(transaction=True)

RECORDING = "tests.ops.test_asgi_handler.RecordingMiddleware"


class RecordingMiddleware:
    """Capable of both modes, like Django's own middleware. Records the mode Django chose for
    it, the thread each request runs on, and how many requests are in flight at once."""

    sync_capable, async_capable = True, True
    lock = threading.Lock()
    in_flight = 0
    most_in_flight = 0
    threads: list[int] = []
    wrapped_async: list[bool] = []
    pause_seconds = 0.0

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        RecordingMiddleware.wrapped_async.append(self.is_async)

    def __call__(self, request):
        if self.is_async:
            return self._async_call(request)
        cls = RecordingMiddleware
        with cls.lock:
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
            cls.threads.append(threading.get_ident())
        try:
            time.sleep(cls.pause_seconds)
            return self.get_response(request)
        finally:
            with cls.lock:
                cls.in_flight -= 1

    async def _async_call(self, request):
        return await self.get_response(request)

    @classmethod
    def reset(cls, pause_seconds: float = 0.0) -> None:
        cls.in_flight = cls.most_in_flight = 0
        cls.threads, cls.wrapped_async, cls.pause_seconds = [], [], pause_seconds


@pytest.fixture
def handler(settings):
    def build(threads: int, pause_seconds: float = 0.0) -> SyncChainASGIHandler:
        RecordingMiddleware.reset(pause_seconds)
        with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, RECORDING]):
            return SyncChainASGIHandler(threads=threads)

    return build


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


async def test_the_middleware_chain_runs_in_sync_mode_under_asgi(handler):
    app = handler(threads=2)
    async with client(app) as http:
        response = await http.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    # Django's own ASGI handler would run it in async mode, and every middleware built on
    # MiddlewareMixin would hop to a thread and back for its process_request/response.
    assert RecordingMiddleware.wrapped_async == [False]


async def test_requests_reuse_a_fixed_set_of_threads(handler):
    app = handler(threads=2)
    async with client(app) as http:
        for _ in range(6):
            assert (await http.get("/healthz")).status_code == 200

    assert len(RecordingMiddleware.threads) == 6
    assert len(set(RecordingMiddleware.threads)) <= 2
    assert threading.get_ident() not in RecordingMiddleware.threads


async def test_no_more_requests_run_at_once_than_the_worker_has_threads(handler):
    app = handler(threads=3, pause_seconds=0.2)
    async with client(app) as http:
        responses = await asyncio.gather(*(http.get("/healthz") for _ in range(9)))

    assert [response.status_code for response in responses] == [200] * 9
    assert RecordingMiddleware.most_in_flight == 3


async def test_errors_keep_the_one_error_shape(handler):
    app = handler(threads=1)
    async with client(app) as http:
        response = await http.get("/api/v1/rooms/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


async def test_a_websocket_scope_is_not_served_by_the_http_handler(handler):
    app = handler(threads=1)
    with pytest.raises(ValueError, match="websocket"):
        await app({"type": "websocket"}, None, None)
