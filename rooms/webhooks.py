"""Operators' webhooks: registering endpoints, and delivering the outbox to them.

Payloads follow the Standard Webhooks convention (https://www.standardwebhooks.com): the
headers ``webhook-id`` (the event's stable id, the same on every retry), ``webhook-timestamp``
and ``webhook-signature`` (HMAC-SHA256 over ``id.timestamp.body`` with the endpoint's secret),
signed with the reference library ``standardwebhooks``, so receivers verify them with the
same library in their own language.

Delivery is at least once and in order per (endpoint, ride): ``webhook_drain`` sends the
oldest pending delivery of the pair, and only after a 2xx the next one. A failure schedules a
retry of that same head with exponential backoff and jitter; an endpoint failing for
WEBHOOK_RETRY_FOR_SECONDS is paused, and staff see it paused in the console, where they
resume it or redeliver an event. Procrastinate's job lock (one per pair) keeps two workers
from draining one pair at once; the pairs themselves drain side by side, so a slow receiver
holds up only its own queue.

What a receiver can do to a worker is bounded: no redirect is followed, the answer is read to
WEBHOOK_MAX_RESPONSE_BYTES at most and the attempt ends soon after its timeout, and in production an
address that resolves to a loopback, private, link-local or otherwise internal network is
refused, when the endpoint is registered and again before every attempt.
"""

import base64
import ipaddress
import json
import random
import secrets
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
import structlog
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from riders.audit import audit_record
from riders.models import AuditAction, Rider
from rooms.errors import InvalidWebhookEndpoint, WebhookEndpointNotPaused
from rooms.models import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from rooms.outbox import EVENT_TYPES, defer_drain

logger = structlog.get_logger(__name__)

WEBHOOK_MAX_RESPONSE_BYTES = 64 * 1024
RESPONSE_EXCERPT_CHARS = 500
RETRY_BASE_SECONDS = 5
RETRY_CAP_SECONDS = 3600
USER_AGENT = "Convoy-Webhooks/1"


# --- Endpoints -------------------------------------------------------------------------------


def webhook_endpoint_create(
    *, url: str, event_types: list[str], description: str = "", actor: Rider
) -> WebhookEndpoint:
    """Register a receiver; its secret is made here, shown to staff once, and kept."""
    clean_url = webhook_url_check(url)
    types = _clean_event_types(event_types)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            url=clean_url,
            event_types=types,
            description=description[:200],
            secret=new_secret(),
            created_by=actor,
        )
        audit_record(
            action=AuditAction.WEBHOOK_CREATED,
            actor=actor,
            target=endpoint,
            details={"url": clean_url, "event_types": types},
        )
    return endpoint


def webhook_endpoint_resume(*, endpoint: WebhookEndpoint, actor: Rider, reason: str = "") -> int:
    """Staff resume a paused endpoint: its failure clock restarts and every ride with
    something pending for it drains again, oldest first. Returns how many rides."""
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if locked.paused_at is None:
            raise WebhookEndpointNotPaused()
        locked.paused_at = None
        locked.pause_reason = ""
        locked.failing_since = None
        locked.save(update_fields=["paused_at", "pause_reason", "failing_since", "updated_at"])
        rooms = list(
            WebhookDelivery.objects.filter(endpoint=locked, status=WebhookDelivery.PENDING)
            .order_by()
            .values_list("room_id", flat=True)
            .distinct()
        )
        WebhookDelivery.objects.filter(endpoint=locked, status=WebhookDelivery.PENDING).update(
            next_attempt_at=None
        )
        audit_record(
            action=AuditAction.WEBHOOK_RESUMED,
            actor=actor,
            target=locked,
            details={"rides_pending": len(rooms)},
            reason=reason,
        )
        for room_id in rooms:
            defer_drain(endpoint_id=locked.pk, room_id=room_id, force=True)
    return len(rooms)


def webhook_endpoint_deactivate(*, endpoint: WebhookEndpoint, actor: Rider) -> None:
    """Stop delivering to an endpoint for good: nothing new is queued for it and what was
    pending is not sent. Its deliveries and attempts stay on record. Safe to repeat."""
    with transaction.atomic():
        changed = WebhookEndpoint.objects.filter(pk=endpoint.pk, is_active=True).update(
            is_active=False
        )
        if changed:
            audit_record(
                action=AuditAction.WEBHOOK_DEACTIVATED,
                actor=actor,
                target=endpoint,
                details={"url": endpoint.url},
            )


def webhook_redeliver(
    *, delivery: WebhookDelivery, actor: Rider, reason: str = ""
) -> WebhookDelivery:
    """Send one event to its endpoint again (the receiver lost it, or staff want it sent
    now): it is pending once more, with the event's same ``webhook-id``, and goes before the
    ride's later events still waiting."""
    with transaction.atomic():
        locked = (
            WebhookDelivery.objects.select_for_update().select_related("event").get(pk=delivery.pk)
        )
        locked.status = WebhookDelivery.PENDING
        locked.next_attempt_at = None
        locked.delivered_at = None
        locked.save(update_fields=["status", "next_attempt_at", "delivered_at"])
        audit_record(
            action=AuditAction.WEBHOOK_REDELIVERED,
            actor=actor,
            target=locked.endpoint,
            details={"event_id": str(locked.event.event_id), "type": locked.event.type},
            reason=reason,
        )
        defer_drain(endpoint_id=locked.endpoint_id, room_id=locked.room_id, force=True)
    return locked


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_url_check(url: object) -> str:
    """An http(s) URL without credentials; in production, not one that resolves to an
    internal address. Returns it as given, stripped."""
    if not isinstance(url, str) or not url.strip():
        raise _invalid("url", "Give the receiver's URL.")
    url = url.strip()
    if len(url) > 2000:
        raise _invalid("url", "Use a URL of at most 2000 characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _invalid("url", "That is not a URL.") from None
    if parts.scheme not in ("http", "https"):
        raise _invalid("url", "Use an http or https URL.")
    if not parts.hostname:
        raise _invalid("url", "The URL needs a host.")
    if parts.username is not None or parts.password is not None:
        raise _invalid("url", "Put no user name or password in the URL; the secret signs.")
    if not settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        refused = _internal_address(parts.hostname, port or _default_port(parts.scheme))
        if refused is not None:
            raise _invalid("url", refused)
    return url


def _clean_event_types(event_types: object) -> list[str]:
    if not isinstance(event_types, list | tuple) or not event_types:
        raise _invalid("event_types", "Choose at least one event type.")
    unknown = [t for t in event_types if t not in EVENT_TYPES]
    if unknown:
        raise _invalid("event_types", f"Unknown event types: {', '.join(map(str, unknown))}.")
    return sorted(set(event_types))


def _invalid(field: str, message: str) -> InvalidWebhookEndpoint:
    return InvalidWebhookEndpoint(message, fields={field: [message]})


# --- Delivery --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    outcome: str
    status_code: int | None
    excerpt: str
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.outcome == WebhookAttempt.DELIVERED


def webhook_drain(*, endpoint_id: uuid.UUID, room_id: uuid.UUID) -> int:
    """Deliver what (endpoint, ride) has pending, oldest first, until it is empty or an
    attempt fails (then the head is retried later and nothing behind it overtakes it).
    Returns how many deliveries succeeded."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None or not endpoint.is_active or endpoint.is_paused:
        return 0
    delivered = 0
    while True:
        head = (
            WebhookDelivery.objects.filter(
                endpoint_id=endpoint_id, room_id=room_id, status=WebhookDelivery.PENDING
            )
            .select_related("event")
            .order_by("event_id", "id")
            .first()
        )
        if head is None:
            return delivered
        now = timezone.now()
        if head.next_attempt_at is not None and head.next_attempt_at > now:
            # A job of this pair came early (the next event's): the head's retry is scheduled.
            defer_drain(endpoint_id=endpoint_id, room_id=room_id, at=head.next_attempt_at)
            return delivered
        outcome = webhook_post(endpoint=endpoint, event=head.event)
        if not _record_attempt(endpoint=endpoint, delivery=head, outcome=outcome, started=now):
            return delivered
        delivered += 1


def webhook_post(*, endpoint: WebhookEndpoint, event: OutboxEvent) -> Outcome:
    """One signed POST of ``event`` to ``endpoint``, bounded in time and in what it reads."""
    body = json.dumps(event.payload, separators=(",", ":"), sort_keys=True)
    signed_at = timezone.now()
    message_id = str(event.event_id)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(signed_at.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(message_id, signed_at, body),
    }
    started = time.monotonic()
    if not settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        parts = urlsplit(endpoint.url)
        refused = _internal_address(parts.hostname or "", parts.port or _default_port(parts.scheme))
        if refused is not None:
            return Outcome(WebhookAttempt.ADDRESS_REFUSED, None, refused, 0)
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    deadline = started + timeout
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client,
            client.stream("POST", endpoint.url, content=body, headers=headers) as response,
        ):
            text, too_large = _read_bounded(response, deadline=deadline)
            status = response.status_code
    except httpx.TimeoutException:
        return Outcome(WebhookAttempt.TIMEOUT, None, "", _elapsed_ms(started))
    except (httpx.HTTPError, OSError) as exc:
        return Outcome(WebhookAttempt.CONNECTION_ERROR, None, str(exc)[:200], _elapsed_ms(started))
    excerpt = text[:RESPONSE_EXCERPT_CHARS]
    if too_large:
        return Outcome(WebhookAttempt.RESPONSE_TOO_LARGE, status, excerpt, _elapsed_ms(started))
    if 300 <= status < 400:
        return Outcome(WebhookAttempt.REDIRECT_REFUSED, status, excerpt, _elapsed_ms(started))
    if 200 <= status < 300:
        return Outcome(WebhookAttempt.DELIVERED, status, excerpt, _elapsed_ms(started))
    return Outcome(WebhookAttempt.HTTP_ERROR, status, excerpt, _elapsed_ms(started))


FORGOTTEN_AFTER_SECONDS = 30


def webhook_start_forgotten(*, now: datetime | None = None) -> int:
    """Start a drain for every (endpoint, ride) whose head delivery has waited
    FORGOTTEN_AFTER_SECONDS with no attempt due later: its job was lost. A drain started
    twice is harmless (the job lock serializes them; the second finds nothing to do)."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=FORGOTTEN_AFTER_SECONDS)
    pairs = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.PENDING,
            created_at__lte=stale,
            endpoint__is_active=True,
            endpoint__paused_at__isnull=True,
        )
        .filter(models.Q(next_attempt_at__isnull=True) | models.Q(next_attempt_at__lte=stale))
        .order_by()
        .values_list("endpoint_id", "room_id")
        .distinct()
    )
    for endpoint_id, room_id in pairs:
        defer_drain(endpoint_id=endpoint_id, room_id=room_id)
    return len(pairs)


def webhook_outbox_prune(*, now: datetime | None = None) -> int:
    """Forget events older than OUTBOX_RETENTION_DAYS that nothing still waits to deliver,
    with their deliveries and attempts. Returns how many events went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.OUTBOX_RETENTION_DAYS)
    waiting = WebhookDelivery.objects.filter(
        event=models.OuterRef("pk"), status=WebhookDelivery.PENDING
    )
    old = OutboxEvent.objects.filter(created_at__lt=cutoff).exclude(models.Exists(waiting))
    _, by_model = old.delete()
    return by_model.get(OutboxEvent._meta.label, 0)


def retry_delay_seconds(attempts: int) -> float:
    """Exponential backoff with jitter: 5 s, 10 s, 20 s... capped at an hour, each drawn
    between half and all of it, so endpoints that failed together don't retry together."""
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - spreading retries, not secrets


def _record_attempt(
    *, endpoint: WebhookEndpoint, delivery: WebhookDelivery, outcome: Outcome, started: datetime
) -> bool:
    """Keep the attempt; on success the delivery is done, on failure its retry is scheduled
    (or the endpoint paused). True when the drain may go on to the next delivery."""
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        if locked.status == WebhookDelivery.DELIVERED:
            return True
        locked.attempts += 1
        WebhookAttempt.objects.create(
            delivery=locked,
            number=locked.attempts,
            started_at=started,
            duration_ms=outcome.duration_ms,
            status_code=outcome.status_code,
            outcome=outcome.outcome,
            response_excerpt=outcome.excerpt,
        )
        now = timezone.now()
        if outcome.delivered:
            locked.status = WebhookDelivery.DELIVERED
            locked.delivered_at = now
            locked.next_attempt_at = None
            locked.save(update_fields=["status", "delivered_at", "next_attempt_at", "attempts"])
            if endpoint.failing_since is not None:
                WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
                endpoint.failing_since = None
            return True
        retry_at = now + timedelta(seconds=retry_delay_seconds(locked.attempts))
        locked.next_attempt_at = retry_at
        locked.save(update_fields=["next_attempt_at", "attempts"])
        failing_since = endpoint.failing_since or started
        if endpoint.failing_since is None:
            WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(
                failing_since=started
            )
            endpoint.failing_since = started
        if (now - failing_since).total_seconds() >= settings.WEBHOOK_RETRY_FOR_SECONDS:
            reason = (
                f"Failing since {failing_since:%Y-%m-%d %H:%M:%S} UTC; last attempt: "
                f"{outcome.outcome}{f' {outcome.status_code}' if outcome.status_code else ''}."
            )
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                paused_at=now, pause_reason=reason[:300]
            )
            logger.warning("webhook endpoint paused", endpoint_id=str(endpoint.pk), reason=reason)
            return False
        defer_drain(endpoint_id=endpoint.pk, room_id=locked.room_id, at=retry_at)
    logger.info(
        "webhook attempt failed",
        endpoint_id=str(endpoint.pk),
        outcome=outcome.outcome,
        status_code=outcome.status_code,
        retry_at=retry_at.isoformat(),
    )
    return False


def _read_bounded(response: httpx.Response, *, deadline: float) -> tuple[str, bool]:
    """At most WEBHOOK_MAX_RESPONSE_BYTES of the answer, and only until the deadline: an
    endless or trickling answer ends the attempt instead of holding the worker."""
    chunks: list[bytes] = []
    size = 0
    # Each read waits at most the timeout, and the deadline is checked after each one: an
    # attempt ends within twice WEBHOOK_TIMEOUT_SECONDS, however the answer trickles.
    for chunk in response.iter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size > WEBHOOK_MAX_RESPONSE_BYTES:
            return b"".join(chunks)[:RESPONSE_EXCERPT_CHARS].decode("utf-8", "replace"), True
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the answer took longer than the timeout")
    return b"".join(chunks).decode("utf-8", "replace"), False


def _internal_address(host: str, port: int) -> str | None:
    """Why ``host`` may not be a receiver in production, or None when every address it
    resolves to is public."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        return f"The host {host} does not resolve."
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return f"The host {host} resolves to {address}, an internal address."
    return None


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
