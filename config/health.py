"""Liveness and readiness probes for load balancers and orchestrators."""

import time

import psycopg
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from redis.exceptions import RedisError

from config.database import connection_error_reason
from config.postgresql.base import database_breaker
from config.redis_config import redis_client

# A load balancer asks every few seconds and wants the answer now.
READY_PROBE_TIMEOUT_SECONDS = 1.0


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
    """What a request would get from this worker's pool now, within
    READY_PROBE_TIMEOUT_SECONDS: a pooled connection, checked as a request's is, running
    SELECT 1, or the breaker's refusal (config/postgresql/breaker.py). Once the breaker's
    pause is over the probe is the one trial, so an idle worker finds its way back too. A
    direct connection said "ok" while every request failed on the pool's dropped
    connections (issue 20)."""
    started = time.perf_counter()
    pool = connections["default"].pool  # type: ignore[attr-defined]
    try:
        connection = pool.getconn(timeout=READY_PROBE_TIMEOUT_SECONDS)
        try:
            connection.execute("SELECT 1")
        finally:
            pool.putconn(connection)
    except psycopg.Error as exc:
        return {
            "ok": False,
            "error": connection_error_reason(exc),
            "breaker": database_breaker().state().state,
        }
    return {
        "ok": True,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        "breaker": database_breaker().state().state,
    }


def _probe_redis() -> dict:
    started = time.perf_counter()
    try:
        redis_client().ping()
    except RedisError as exc:
        return {"ok": False, "error": str(exc) or type(exc).__name__}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
