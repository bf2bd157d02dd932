"""The embedded servers stop when the last process using them exits: Redis even when
processes leave connections open that they can no longer close (clients of event loops that
ended), PostgreSQL even when a process using it was killed."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import psycopg
import redis

from tests.ops.processes import PROJECT_ROOT

# A process that starts or attaches to the embedded Redis in argv[1], leaves an asyncio
# client's connection open in an event loop that ends, prints the socket, and exits once its
# standard input closes.
USER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    import redis.asyncio
    from config.embedded import start_redis

    socket = start_redis(Path(sys.argv[1]))

    kept = []  # as the channel layer and the live state keep their clients per loop

    async def leave_a_connection_open():
        kept.append(redis.asyncio.Redis(unix_socket_path=socket))
        await kept[0].ping()

    asyncio.run(leave_a_connection_open())
    print(socket, flush=True)
    sys.stdin.read()
    """
)


def _start_user(data_dir) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-c", USER, str(data_dir)],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return process, process.stdout.readline().strip()


def _stop_user(process: subprocess.Popen) -> None:
    process.stdin.close()
    assert process.wait(timeout=30) == 0


def _answers(socket: str) -> bool:
    try:
        return redis.Redis(unix_socket_path=socket, socket_timeout=1).ping()
    except (redis.RedisError, OSError):
        return False


def _gone_within(socket: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _answers(socket):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_the_server_outlives_a_process_that_leaves_while_another_uses_it(tmp_path):
    first, socket = _start_user(tmp_path)
    try:
        second, second_socket = _start_user(tmp_path)
        assert second_socket == socket
        _stop_user(second)

        assert _answers(socket)
    finally:
        _stop_user(first)

    assert _gone_within(socket, 10)


def test_a_lone_process_stops_the_server_it_started(tmp_path):
    process, socket = _start_user(tmp_path)
    assert _answers(socket)

    _stop_user(process)

    assert _gone_within(socket, 10)


# A process that starts or attaches to the embedded PostgreSQL under argv[1], prints the
# socket directory and exits once its standard input closes.
POSTGRES_USER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from config.embedded import data_root, start_postgres

    server = start_postgres(data_root(Path(sys.argv[1])))
    print(server.socket_dir, flush=True)
    sys.stdin.read()
    """
)


def _start_postgres_user(data_dir) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-c", POSTGRES_USER, str(data_dir)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "CONVOY_DATA_DIR": str(data_dir)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return process, process.stdout.readline().strip()


def _postgres_answers(socket_dir: str) -> bool:
    try:
        with psycopg.connect(
            host=socket_dir, user="postgres", dbname="postgres", connect_timeout=2
        ):
            return True
    except psycopg.OperationalError:
        return False


def test_postgres_stops_after_the_last_process_even_if_one_was_killed(tmp_path):
    data = tmp_path / "convoy-data"
    first, socket_dir = _start_postgres_user(data)
    try:
        killed, killed_socket_dir = _start_postgres_user(data)
        assert killed_socket_dir == socket_dir
        os.kill(killed.pid, signal.SIGKILL)  # no exit handler runs: it stays listed
        killed.wait(timeout=10)
        assert _postgres_answers(socket_dir)
    finally:
        _stop_user(first)

    deadline = time.monotonic() + 15
    while _postgres_answers(socket_dir):
        assert time.monotonic() < deadline, "the embedded PostgreSQL outlived every process"
        time.sleep(0.2)
