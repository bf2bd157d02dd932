"""Django's ASGI handler, arranged for a project whose views are all synchronous.

Django's own handler runs the middleware chain in async mode under ASGI. Each of Django's
middleware then calls its process_request and process_response through sync_to_async, and
a sync-only middleware bounces the rest of the chain back through async_to_sync: a dozen
hops between the event loop and a thread per request, and a new thread per request too.
Measured on /healthz, that doubles the server CPU per request (see README, benchmarks).

This handler builds the chain in sync mode, exactly as under WSGI, and enters it with one
hop. Requests run on a fixed set of threads per worker (HTTP_THREADS_PER_WORKER), each
reused from request to request, so a worker never holds more database connections than it
has threads. The event loop stays free for the ride sockets.

A request that waited longer than HTTP_QUEUE_TIMEOUT_SECONDS for its thread is answered 503
request_expired without running: its phone has given up by then, and its retry is on the way.

It also reads each body itself (config.request_bodies): bounded by API_MAX_BODY_BYTES before
any view runs, and handed to Django with its true length even when it came chunked.
"""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler

from config import request_bodies
from config.errors import RequestExpired


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self, *, threads: int | None = None):
        super().__init__()
        count = threads if threads is not None else settings.HTTP_THREADS_PER_WORKER
        # Each executor is one thread; a request borrows one for its whole life.
        self._threads = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="convoy-http")
            for _ in range(count)
        ]
        self._idle: asyncio.Queue | None = None

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP connections, not {scope['type']}.")
        queued_at = time.perf_counter()
        thread = await self._borrow_thread()
        try:
            if time.perf_counter() - queued_at > settings.HTTP_QUEUE_TIMEOUT_SECONDS:
                await _send_expired(scope, send, started=queued_at)
                return
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            self._idle.put_nowait(thread)

    async def handle(self, scope, receive, send):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        started = time.perf_counter()
        announced = request_bodies.announced_length(scope)
        if announced is not None and announced > limit:
            # Refused on the header alone: the body is never waited for.
            await request_bodies.send_too_large(scope, send, limit, started=started)
            return
        try:
            body = await request_bodies.read_bounded_body(receive, limit)
        except RequestAborted:
            return
        except request_bodies.BodyTooLarge:
            await request_bodies.send_too_large(scope, send, limit, started=started)
            return
        await super().handle(
            request_bodies.with_true_length(scope, len(body)), _replay(body, receive), send
        )

    async def _borrow_thread(self) -> ThreadPoolExecutor:
        if self._idle is None:  # made on the server's event loop, at the first request
            self._idle = asyncio.Queue()
            for thread in self._threads:
                self._idle.put_nowait(thread)
        return await self._idle.get()


async def _send_expired(scope, send, *, started: float) -> None:
    error = RequestExpired()
    await request_bodies.send_error(
        scope,
        send,
        status=error.status,
        error=error.as_dict(),
        started=started,
        reason="queued_too_long",
        headers=((b"retry-after", str(error.retry_after_seconds).encode("ascii")),),
    )


def _replay(body: bytes, receive):
    """A receive() whose first message is the body already read; then the client's own."""
    first = True

    async def replayed():
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def get_sync_chain_asgi_application() -> SyncChainASGIHandler:
    """get_asgi_application(), with the handler above."""
    import django

    django.setup(set_prefix=False)
    return SyncChainASGIHandler()
