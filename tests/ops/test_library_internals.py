"""The private internals of libraries that Convoy relies on, pinned: an upgrade that changes
one fails here, by name, instead of quietly undoing what Convoy built on it.

- Django's ``BaseHandler._middleware_chain`` (config/asgi_handler.py swaps in a sync chain);
- uvicorn's ``multiprocess.Process`` module global and its ``server`` property
  (config/server.py makes every worker run ConvoyServer);
- pgserver's ``PostgresServer._lock`` and its handle list (config/embedded.py prunes the pids
  of killed processes under that lock);
- psycopg_pool's ``_stats`` counter and its ``_REQUESTS_ERRORS`` key, counted once per timed
  out ``getconn`` (config/postgresql/base.py waits in slices and counts a request once).
"""

import json
import os
import select
import subprocess
import sys
import textwrap
import time
from inspect import signature
from types import SimpleNamespace

import psycopg
import pytest
import uvicorn
from asgiref.sync import SyncToAsync, iscoroutinefunction
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpResponse
from django.test import RequestFactory
from uvicorn import Server
from uvicorn.supervisors import multiprocess

from config.asgi_handler import SyncChainASGIHandler
from config.server import ConvoyServer, ConvoyWorkerProcess
from tests.ops.processes import PROJECT_ROOT

# --- Django: _middleware_chain ------------------------------------------------------------


def test_django_builds_the_sync_middleware_chain_as_an_attribute():
    handler = BaseHandler()
    handler.load_middleware(is_async=False)

    assert callable(handler._middleware_chain)
    assert not iscoroutinefunction(handler._middleware_chain)


def test_the_asgi_handler_loads_its_middleware_through_the_overridable_method():
    assert "is_async" in signature(BaseHandler.load_middleware).parameters
    assert "load_middleware" in ASGIHandler.__init__.__code__.co_names

    handler = SyncChainASGIHandler(threads=1)

    # The sync chain, entered with one hop: what replacing the attribute achieved.
    assert isinstance(handler._middleware_chain, SyncToAsync)


async def test_django_awaits_the_middleware_chain_for_every_asgi_request():
    handler = SyncChainASGIHandler(threads=1)
    seen = []

    async def chain(request):
        seen.append(request)
        return HttpResponse("through the chain")

    handler._middleware_chain = chain
    request = RequestFactory().get("/healthz")

    response = await handler.get_response_async(request)

    assert seen == [request]
    assert response.content == b"through the chain"


# --- uvicorn: the worker process class ----------------------------------------------------


def _config() -> uvicorn.Config:
    return uvicorn.Config("config.asgi:application", workers=2, lifespan="off")


def test_uvicorn_builds_its_workers_from_the_module_global_process(monkeypatch):
    built = []

    class RecordingProcess:
        def __init__(self, config, sockets):
            built.append((config, sockets))

        def start(self):
            pass

    monkeypatch.setattr(multiprocess, "Process", RecordingProcess)
    config = _config()
    supervisor = SimpleNamespace(processes_num=2, config=config, sockets=[], processes=[])

    multiprocess.Multiprocess.init_processes(supervisor)

    assert built == [(config, []), (config, [])]
    # Restarts (SIGHUP) and replacing a dead worker build theirs from the same global.
    assert "Process" in multiprocess.Multiprocess.restart_all.__code__.co_names
    assert "Process" in multiprocess.Multiprocess.keep_subprocess_alive.__code__.co_names


def test_a_worker_process_runs_the_server_its_server_property_builds(monkeypatch):
    class NoThread:
        def __init__(self, **_):
            pass

        def start(self):
            pass

    ran = []
    monkeypatch.setattr(multiprocess, "threading", SimpleNamespace(Thread=NoThread))
    monkeypatch.setattr(ConvoyServer, "run", lambda self, sockets=None: ran.append(self))
    worker = ConvoyWorkerProcess(_config(), [])
    try:
        assert worker._server is None  # uvicorn's __init__ leaves the server to the property
        # The spawned child calls the worker's own target, pickled with the worker.
        assert worker.process._kwargs["target"] == worker.target

        worker.target(sockets=[])

        assert ran == [worker.server]
        assert isinstance(worker.server, ConvoyServer)
    finally:
        worker.parent_conn.close()
        worker.child_conn.close()


def test_uvicorn_shuts_its_server_down_through_the_overridable_method():
    """ConvoyServer.shutdown closes the ride sockets with 1001 before uvicorn's own shutdown
    (tests/ops/test_serving.py shows it end to end, with two workers)."""
    assert list(signature(Server.shutdown).parameters) == ["self", "sockets"]
    assert "shutdown" in Server._serve.__code__.co_names
    assert "servers" in Server.startup.__code__.co_names


# --- pgserver: PostgresServer._lock and the handle list -------------------------------------

# Prints where pgserver's lock is, waits for a line, then attaches to (or starts) the server
# under argv[1] with pgserver alone, prints its pid, and exits once its standard input closes.
PGSERVER_USER = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from config.embedded import data_root

    root = data_root(Path(sys.argv[1]))  # sets XDG_RUNTIME_DIR, where pgserver puts its lock
    import fasteners
    import pgserver
    from pgserver.postgres_server import PostgresServer

    lock = PostgresServer._lock
    print(json.dumps({"interprocess": isinstance(lock, fasteners.InterProcessLock),
                      "path": os.fsdecode(lock.path)}), flush=True)
    sys.stdin.readline()
    server = pgserver.get_server(root / "pgdata", cleanup_mode="stop")
    socket_dir = str(server.get_postmaster_info().socket_dir)
    print(json.dumps({"pid": os.getpid(), "socket_dir": socket_dir}), flush=True)
    sys.stdin.read()
    """
)


def _line_within(stream, seconds: float) -> str | None:
    ready, _, _ = select.select([stream], [], [], seconds)
    return stream.readline() if ready else None


def _postgres_answers(socket_dir: str) -> bool:
    try:
        with psycopg.connect(
            host=socket_dir, user="postgres", dbname="postgres", connect_timeout=2
        ):
            return True
    except psycopg.OperationalError:
        return False


def test_pgserver_keeps_its_handle_list_under_the_lock_convoy_takes(tmp_path):
    import fasteners

    data = tmp_path / "convoy-data"
    handles = data / "pgdata" / ".handle_pids.json"
    user = subprocess.Popen(
        [sys.executable, "-c", PGSERVER_USER, str(data)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "CONVOY_DATA_DIR": str(data)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lock = json.loads(user.stdout.readline())
        # Chosen when pgserver is imported, from XDG_RUNTIME_DIR (config/embedded.py sets it).
        assert lock["interprocess"] is True
        assert lock["path"].startswith(str(data / "run"))
        held = fasteners.InterProcessLock(lock["path"])

        with held:
            user.stdin.write("go\n")
            user.stdin.flush()
            # pgserver takes the lock to add this process to its handle list ...
            assert _line_within(user.stdout, 2) is None
        attached = json.loads(_line_within(user.stdout, 60))
        assert json.loads(handles.read_text()) == [attached["pid"]]
        assert _postgres_answers(attached["socket_dir"])

        with held:
            user.stdin.close()
            # ... and again to take it out, at exit.
            with pytest.raises(subprocess.TimeoutExpired):
                user.wait(timeout=2)
        assert user.wait(timeout=30) == 0
    finally:
        if user.poll() is None:
            user.kill()
            user.wait()

    assert json.loads(handles.read_text()) == []
    # Its last handle gone, pgserver stopped the server (cleanup_mode="stop").
    deadline = time.monotonic() + 15
    while _postgres_answers(attached["socket_dir"]):
        assert time.monotonic() < deadline, "pgserver left the server running"
        time.sleep(0.2)


def test_psycopg_pool_counts_each_timed_out_getconn_in_its_stats_counter():
    from psycopg_pool import ConnectionPool, PoolTimeout

    pool = ConnectionPool(
        "host=127.0.0.1 port=1 connect_timeout=2", min_size=0, max_size=1, open=True
    )
    try:
        with pytest.raises(PoolTimeout):
            pool.getconn(timeout=0.05)
        assert pool._stats[pool._REQUESTS_ERRORS] == 1
        assert pool.get_stats()["requests_errors"] == 1
    finally:
        pool.close(timeout=1)


def test_uvicorn_supervisor_dispatches_sigterm_to_handle_term_and_keeps_its_sockets():
    """config.server.ConvoyMultiprocess closes ``self.sockets`` in handle_term/handle_int,
    which uvicorn's supervisor calls by the signal's name."""
    import signal
    import socket

    from config.server import ConvoyMultiprocess

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    config = uvicorn.Config("config.asgi:application", workers=2)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        supervisor = ConvoyMultiprocess(config, sockets=[listening])
        supervisor.signal_queue.append(signal.SIGTERM)
        supervisor.handle_signals()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert supervisor.should_exit.is_set()
    assert listening.fileno() == -1  # closed before any worker is told to stop
