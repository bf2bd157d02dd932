"""The uvicorn server behind ``manage.py serve``, with Convoy's graceful shutdown.

On SIGTERM the supervisor first closes its copy of the listening socket (ConvoyMultiprocess),
then each worker, in order: stops accepting connections (and gives those it accepted a
moment to send their request); marks each ride socket's rider reconnecting and closes it with
1001 (server shutdown: the phone reconnects at once, to another worker, and its ride sees it
reconnecting rather than gone); lets in-flight HTTP requests finish (up to the shutdown
timeout); returns its PostgreSQL connections; and removes its live metrics.

uvicorn closes sockets with 1012 on its own, which is not a code Convoy documents; closing
them first, from here, is what makes the code 1001.
"""

import asyncio
import os
import socket

from uvicorn import Server
from uvicorn.supervisors import multiprocess

# Time a phone has to answer the close frame before the connection is dropped anyway.
SOCKET_CLOSE_WAIT_SECONDS = 2.0
FRESH_CONNECTION_GRACE_SECONDS = 0.25


class ConvoyServer(Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        # A connection accepted in the last moment before the close has not sent its request
        # (or handshake) yet; uvicorn would close it as idle, which its client sees as a reset.
        await asyncio.sleep(FRESH_CONNECTION_GRACE_SECONDS)
        from sessions_rt.sockets import close_every_socket_for_shutdown

        await close_every_socket_for_shutdown(wait_seconds=SOCKET_CLOSE_WAIT_SECONDS)
        await super().shutdown(sockets)
        await asyncio.to_thread(_release_process_resources)


def _release_process_resources() -> None:
    from django.db import connections

    connections.close_all()
    connections["default"].close_pool()  # type: ignore[attr-defined]  # PostgreSQL's pool
    from config import metrics

    if metrics.MULTIPROCESS:
        from prometheus_client import multiprocess as prometheus_multiprocess

        prometheus_multiprocess.mark_process_dead(os.getpid())


class ConvoyWorkerProcess(multiprocess.Process):
    """A uvicorn worker process that runs ConvoyServer rather than uvicorn's own Server."""

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = ConvoyServer(config=self.config)
        return self._server


class ConvoyMultiprocess(multiprocess.Multiprocess):
    """uvicorn's supervisor, which closes its own copy of the listening socket first on SIGTERM
    or SIGINT.

    The kernel keeps a listening socket open, and completes new TCP handshakes into its
    backlog, while any process holds it: the supervisor's copy kept it listening while its
    workers drained, and everything that connected meanwhile (socket handshakes, POSTs) was
    reset when the supervisor exited. Closed here, before the workers are told to stop, a
    phone's next attempt is refused at once and goes to another host.
    """

    def handle_int(self) -> None:
        self._stop_listening()
        super().handle_int()

    def handle_term(self) -> None:
        self._stop_listening()
        super().handle_term()

    def _stop_listening(self) -> None:
        for sock in self.sockets:
            sock.close()


def run_server(config) -> None:
    """Serve ``config`` in this process, or in ``config.workers`` worker processes."""
    if config.workers > 1:
        sock = config.bind_socket()
        # The supervisor builds its workers from this module global; ConvoyWorkerProcess is
        # pickled into each spawned worker, which therefore runs ConvoyServer.
        multiprocess.Process = ConvoyWorkerProcess  # type: ignore[misc]
        ConvoyMultiprocess(config, sockets=[sock]).run()
        return
    ConvoyServer(config=config).run()
