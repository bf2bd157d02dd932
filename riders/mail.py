"""Mail: queued in the transaction that causes it, sent after the commit, retried until sent.

``mail_enqueue`` writes the mail as an outbox row inside the caller's transaction, so the
mail exists if and only if the change does. Once that transaction commits, a background
thread of this process makes the first attempt; the request that caused the mail may wait a
little for it (``mail_receipt``) to tell the rider "sent" rather than "queued", but never
longer than ``EMAIL_REQUEST_WAIT_MS``, and a mail server that is down fails nothing.
``manage.py deliver_mail`` makes every later attempt.
"""

import os
import queue
import smtplib
import threading
from concurrent.futures import Future
from concurrent.futures import wait as wait_for_attempt
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from functools import partial
from uuid import UUID

import structlog
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.utils import timezone

from riders.models import DeliveryStatus, Mail
from riders.outbox import (
    DeliveryFailure,
    DeliveryKind,
    Outcome,
    PermanentDeliveryFailure,
    attempt,
    claim_due,
    deliver_due,
)

logger = structlog.get_logger(__name__)

BACKGROUND_SENDERS = 2


def mail_enqueue(
    *,
    to: str,
    subject: str,
    body: str,
    purpose: str,
    rider_id: UUID | None = None,
    deliver_by: datetime | None = None,
) -> Mail:
    """Queue one mail in the current transaction; its first attempt follows the commit."""
    mail = Mail.objects.create(
        to_address=to,
        subject=subject,
        body=body,
        purpose=purpose,
        rider_id=rider_id,
        deliver_by=deliver_by,
    )
    transaction.on_commit(partial(_background.submit, mail.pk))
    return mail


@dataclass(frozen=True)
class MailReceipt:
    """What a rider is told about a mail: ``sent``, ``queued`` (with when it is tried next)
    or ``failed`` (the receiving server refused the address)."""

    status: str
    next_attempt_at: datetime | None


def mail_receipt(mail: Mail, *, wait: bool = True) -> MailReceipt:
    """The mail's state after its first attempt, waiting for that attempt at most
    EMAIL_REQUEST_WAIT_MS (and not at all with ``wait=False``). Call it after the commit."""
    future = _background.pending(mail.pk)
    if wait and future is not None and settings.EMAIL_REQUEST_WAIT_MS > 0:
        # wait() never raises: an attempt that crashed reads as still queued.
        wait_for_attempt([future], timeout=settings.EMAIL_REQUEST_WAIT_MS / 1000)
    state = Mail.objects.filter(pk=mail.pk).values("status", "attempts", "next_attempt_at").first()
    if state is None or state["status"] == DeliveryStatus.PENDING:
        # Still pending: tried next at its due time (or as soon as an attempt is made).
        due = state["next_attempt_at"] if state and state["attempts"] else None
        return MailReceipt(status="queued", next_attempt_at=due)
    if state["status"] == DeliveryStatus.SENT:
        return MailReceipt(status="sent", next_attempt_at=None)
    return MailReceipt(status="failed", next_attempt_at=None)


def mail_deliver_due(*, batch_size: int = 50, limit: int | None = None) -> dict[Outcome, int]:
    """Attempt every mail that is due (``manage.py deliver_mail``)."""
    return deliver_due(MAIL, batch_size=batch_size, limit=limit)


def mail_purge_finished(*, older_than: timedelta) -> int:
    """Delete mail rows finished (sent, given up, expired) and written before the cutoff."""
    cutoff = timezone.now() - older_than
    deleted, _ = (
        Mail.objects.exclude(status=DeliveryStatus.PENDING).filter(created_at__lt=cutoff).delete()
    )
    return deleted


def _send(mail: Mail) -> None:
    """Hand the mail to the configured backend (SMTP in production)."""
    sender = settings.DEFAULT_FROM_EMAIL
    domain = parseaddr(sender)[1].rpartition("@")[2] or "convoy"
    message = EmailMessage(
        subject=mail.subject,
        body=mail.body,
        from_email=sender,
        to=[mail.to_address],
        # Stable across attempts: a copy delivered twice (an attempt that died after the
        # server took it) is recognisably the same mail.
        headers={"Message-ID": f"<{mail.pk}@{domain}>"},
    )
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        failure = (
            PermanentDeliveryFailure if all(code >= 500 for code in codes) else DeliveryFailure
        )
        raise failure(f"recipient refused: {_describe(exc)}") from exc
    except smtplib.SMTPDataError as exc:
        failure = PermanentDeliveryFailure if exc.smtp_code >= 500 else DeliveryFailure
        raise failure(f"message refused: {_describe(exc)}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        # Down, unreachable, too slow, TLS or log-in trouble: all of it may pass.
        raise DeliveryFailure(f"mail server unavailable: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")


def _lease() -> timedelta:
    # One attempt is at most a handful of exchanges with the server, each bounded by
    # EMAIL_TIMEOUT: connect, greeting, STARTTLS, log-in, sender, recipient, data.
    return timedelta(seconds=10 * settings.EMAIL_TIMEOUT + 30)


MAIL = DeliveryKind(model=Mail, send=_send, lease=_lease, name="mail")


class _BackgroundSender:
    """A few daemon threads per process making each new mail's first attempt.

    Daemon threads: a stopping server never waits for a slow mail server. A mail whose
    attempt is cut short that way stays pending, and deliver_mail takes it up once its lease
    ends.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[UUID, Future]] = queue.SimpleQueue()
        self._pending: dict[UUID, Future] = {}
        self._started_in: int | None = None  # the process whose threads run

    def submit(self, mail_id: UUID) -> None:
        future: Future = Future()
        with self._lock:
            self._pending[mail_id] = future
            # A forked worker inherits the flag but not the threads.
            if self._started_in != os.getpid():
                self._queue = queue.SimpleQueue()
                for number in range(BACKGROUND_SENDERS):
                    threading.Thread(
                        target=self._work,
                        args=(self._queue,),
                        name=f"convoy-mail-{number}",
                        daemon=True,
                    ).start()
                self._started_in = os.getpid()
        self._queue.put((mail_id, future))

    def pending(self, mail_id: UUID) -> Future | None:
        with self._lock:
            return self._pending.get(mail_id)

    def _work(self, work: "queue.SimpleQueue[tuple[UUID, Future]]") -> None:
        while True:
            mail_id, future = work.get()
            try:
                future.set_result(self._attempt(mail_id))
            except Exception as exc:
                # The row is still pending and leased, so deliver_mail retries it; this
                # thread must live on for the next mail.
                logger.exception("background mail attempt failed", mail_id=str(mail_id))
                future.set_exception(exc)
            finally:
                with self._lock:
                    self._pending.pop(mail_id, None)
                connection.close()

    @staticmethod
    def _attempt(mail_id: UUID) -> Outcome | None:
        claimed = claim_due(MAIL, limit=1, ids=[mail_id])
        return attempt(MAIL, claimed[0]) if claimed else None


_background = _BackgroundSender()
