"""Prometheus metrics of a Convoy process, and the ``/metrics`` endpoint that exposes them.

``manage.py serve`` runs several uvicorn workers; each keeps its own counters. With
PROMETHEUS_MULTIPROC_DIR set (serve sets and empties it at start), every worker writes its
values to files there and any worker answering ``/metrics`` reports the sum of all of them.
Without it (tests, a single process) the values live in this process's memory.
"""

import ipaddress
import logging
import os
import secrets
import time

# Read before prometheus_client is imported: it picks its storage when first imported, and
# writes there from the first metric on.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
if MULTIPROCESS:
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from django.conf import settings  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.views.decorators.http import require_GET  # noqa: E402
from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_REQUESTS = Counter(
    "convoy_http_requests_total",
    "HTTP requests answered, by route pattern and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "convoy_http_request_duration_seconds",
    "Time to answer an HTTP request, by route pattern.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DB_POOL_CONNECTIONS = Gauge(
    "convoy_db_pool_connections",
    "PostgreSQL pool connections of all workers: size (open), in_use, idle, and the "
    "requests waiting for one.",
    ["state"],
    multiprocess_mode="livesum",
)
DB_POOL_ERRORS = Counter(
    "convoy_db_pool_errors_total",
    "PostgreSQL pool failures: connections that failed to open, were found lost or came "
    "back broken, and requests that got no connection in time.",
    ["kind"],
)
REDIS_ERRORS = Counter(
    "convoy_redis_errors_total",
    "Redis commands that failed, by client: cache (rate limits, which then fail open), "
    "live_state (answered 503 or closed 1013) and channel_layer.",
    ["client"],
)
WEBSOCKETS_OPEN = Gauge(
    "convoy_websockets_open",
    "Ride sockets open, authenticated or not.",
    multiprocess_mode="livesum",
)
RIDERS_LIVE = Gauge(
    "convoy_riders_live",
    "Riders whose ride socket is authenticated and live in a ride.",
    multiprocess_mode="livesum",
)
TELEMETRY_EVENTS = Counter(
    "convoy_telemetry_events_total",
    "Uploaded connection events, by outcome: stored, duplicate, rejected, conflict.",
    ["outcome"],
)
OUTBOX_DELIVERIES = Counter(
    "convoy_outbox_deliveries_total",
    "Delivery attempts of the outbox (mail), by kind and outcome: sent, retry, failed, "
    "expired, superseded.",
    ["kind", "outcome"],
)

# Pool counters popped from psycopg since the last refresh, by the name we export them as.
_POOL_ERROR_STATS = {
    "connections_errors": "connection_failed",
    "connections_lost": "connection_lost",
    "requests_errors": "request_failed",
    "returns_bad": "returned_broken",
}
_POOL_REFRESH_SECONDS = 1.0
_last_pool_refresh = 0.0


def record_request(*, method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_LATENCY.labels(method, route).observe(seconds)
    refresh_pool_stats()


def record_redis_error(client: str) -> None:
    REDIS_ERRORS.labels(client).inc()


def record_outbox_delivery(kind: str, outcome: str) -> None:
    OUTBOX_DELIVERIES.labels(kind, outcome).inc()


def record_telemetry_outcomes(statuses) -> None:
    for status in statuses:
        TELEMETRY_EVENTS.labels(status).inc()


def refresh_pool_stats(*, force: bool = False) -> None:
    """Copy this worker's pool figures into the gauges, at most once a second."""
    global _last_pool_refresh
    now = time.monotonic()
    if not force and now - _last_pool_refresh < _POOL_REFRESH_SECONDS:
        return
    _last_pool_refresh = now
    from django.db import connections

    pool = getattr(connections["default"], "pool", None)
    if pool is None:
        return
    stats = pool.pop_stats()
    size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    DB_POOL_CONNECTIONS.labels("size").set(size)
    DB_POOL_CONNECTIONS.labels("idle").set(idle)
    DB_POOL_CONNECTIONS.labels("in_use").set(max(size - idle, 0))
    DB_POOL_CONNECTIONS.labels("waiting").set(stats.get("requests_waiting", 0))
    for stat, kind in _POOL_ERROR_STATS.items():
        if stats.get(stat):
            DB_POOL_ERRORS.labels(kind).inc(stats[stat])


class RedisCacheErrorCounter(logging.Handler):
    """Counts the Redis errors django-redis swallows (IGNORE_EXCEPTIONS) and logs."""

    def emit(self, record: logging.LogRecord) -> None:
        record_redis_error("cache")


def metrics_allowed(request) -> bool:
    """Scrapers on METRICS_ALLOWED_NETWORKS, or anyone presenting METRICS_TOKEN."""
    token = settings.METRICS_TOKEN
    if token:
        presented = request.headers.get("Authorization", "")
        if secrets.compare_digest(presented.encode(), f"Bearer {token}".encode()):
            return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


@require_GET
def metrics_view(request):
    if not metrics_allowed(request):
        return JsonResponse(
            {
                "error": {
                    "code": "forbidden",
                    "message": "Metrics are readable from the allowed networks or with "
                    "the metrics token.",
                }
            },
            status=403,
        )
    refresh_pool_stats(force=True)
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
