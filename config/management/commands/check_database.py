"""Check that PostgreSQL and Redis answer, and how fast: one line per service."""

import json
import statistics
import time
from dataclasses import asdict, dataclass

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import Error, connection
from redis.exceptions import RedisError

from config.database import (
    CREATE_DATABASE_HINT,
    connection_error_reason,
    database_missing,
    describe_database,
    probe_database,
)
from config.redis_config import describe_redis, redis_client


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    target: str
    ok: bool
    version: str | None = None
    latency_ms: float | None = None
    error: str | None = None

    def as_line(self) -> str:
        if not self.ok:
            return f"{self.service:<10} FAILED  {self.target}  {self.error}"
        return (
            f"{self.service:<10} OK      {self.target}  version {self.version}  "
            f"median round trip {self.latency_ms:.2f} ms"
        )


class Command(BaseCommand):
    help = "Check that PostgreSQL and Redis answer; exit non-zero when either does not."
    # Works, and explains itself, while a server is down: no start-up checks first.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print one JSON object."
        )
        parser.add_argument(
            "--pings", type=int, default=5, help="Round trips to time per service (default 5)."
        )

    def handle(self, *args, as_json: bool, pings: int, **options):
        if not 1 <= pings <= 100:
            raise CommandError(f"--pings must be from 1 to 100, got {pings}")
        statuses = [check_postgres(pings), check_redis(pings)]
        if as_json:
            self.stdout.write(_as_json(statuses))
        else:
            for status in statuses:
                self.stdout.write(status.as_line())
        failed = [status for status in statuses if not status.ok]
        if failed:
            raise CommandError("; ".join(f"{s.service} check failed: {s.error}" for s in failed))


def check_postgres(pings: int) -> ServiceStatus:
    target = describe_database()
    try:
        # Straight to the server first: through the pool, a dead server costs the pool's
        # whole timeout and hides the reason.
        probe_database()
        with connection.cursor() as cursor:
            timings = _time_calls(lambda: cursor.execute("SELECT 1").fetchone(), pings)
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0].split()[0]
    except (psycopg.Error, Error) as exc:
        reason = connection_error_reason(exc)
        if database_missing(reason):
            reason = f"{reason}; {CREATE_DATABASE_HINT}"
        return ServiceStatus("PostgreSQL", target, ok=False, error=reason)
    return ServiceStatus("PostgreSQL", target, ok=True, version=version, latency_ms=timings)


def check_redis(pings: int) -> ServiceStatus:
    sentinel = settings.REDIS_SENTINEL
    target = sentinel.describe() if sentinel else describe_redis(settings.REDIS_URL)
    try:
        client = redis_client()
        timings = _time_calls(client.ping, pings)
        version = client.info("server")["redis_version"]
    except RedisError as exc:
        return ServiceStatus("Redis", target, ok=False, error=str(exc) or type(exc).__name__)
    return ServiceStatus("Redis", target, ok=True, version=version, latency_ms=timings)


def _time_calls(call, times: int) -> float:
    """Median milliseconds of ``times`` calls: one slow first call does not skew it."""
    timings = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 3)


def _as_json(statuses: list[ServiceStatus]) -> str:
    return json.dumps(
        {
            "ok": all(status.ok for status in statuses),
            "services": {status.service.lower(): asdict(status) for status in statuses},
        }
    )
