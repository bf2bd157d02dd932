"""Liveness and readiness probes for load balancers and orchestrators."""

import time

import psycopg
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from redis.exceptions import RedisError

from config.database import connection_error_reason, probe_database
from config.redis_config import redis_client


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request):
    checks = {"postgresql": _probe_postgres(), "redis": _probe_redis()}
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


def _probe_postgres() -> dict:
    # A direct connection, not the pool: while PostgreSQL is down the pool would make the
    # probe wait its whole timeout, and a load balancer wants the answer now.
    started = time.perf_counter()
    try:
        probe_database()
    except psycopg.Error as exc:
        return {"ok": False, "error": connection_error_reason(exc)}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _probe_redis() -> dict:
    started = time.perf_counter()
    try:
        redis_client().ping()
    except RedisError as exc:
        return {"ok": False, "error": str(exc) or type(exc).__name__}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
