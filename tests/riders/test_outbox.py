"""The outbox: a mail exists if and only if its change committed, reaches a real SMTP server
after the commit, and survives a mail server that is down, slow to come back or refusing."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from riders.email_tokens import email_token_issue, email_tokens_purge_spent
from riders.mail import mail_deliver_due, mail_enqueue, mail_purge_finished, mail_receipt
from riders.models import DeliveryStatus, EmailToken, EmailTokenPurpose, Mail
from riders.outbox import MAX_ATTEMPTS, RETRY_FIRST_DELAY_SECONDS, retry_delay
from tests.mail import REFUSED_DOMAIN, smtp_settings
from tests.ops.processes import PROJECT_ROOT, server_environment
from tests.racing import race

pytestmark = pytest.mark.django_db(transaction=True)


def _queue(to: str = "ana@example.com", **extra) -> Mail:
    with transaction.atomic():
        return mail_enqueue(to=to, subject="Hello", body="Ride safe.", purpose="test", **extra)


def test_a_committed_mail_is_delivered_after_the_commit(mail_server):
    mail = _queue()

    receipt = mail_receipt(mail)

    assert receipt.status == "sent"
    [received] = mail_server.wait_for(to="ana@example.com")
    assert received.message["Subject"] == "Hello"
    assert received.message["Message-ID"] == f"<{mail.pk}@localhost>"
    assert received.text.strip() == "Ride safe."
    stored = Mail.objects.get(pk=mail.pk)
    assert (stored.status, stored.attempts, stored.last_error) == (DeliveryStatus.SENT, 1, "")
    assert stored.finished_at is not None
    # The body may carry a live link: once delivered nothing needs it.
    assert stored.body == ""


def _change_that_fails_after_queueing_its_mail() -> None:
    with transaction.atomic():
        mail_enqueue(to="ana@example.com", subject="Hello", body="x", purpose="test")
        raise RuntimeError("the change failed")


def test_a_mail_of_a_rolled_back_change_never_exists_nor_leaves(mail_server):
    with pytest.raises(RuntimeError):
        _change_that_fails_after_queueing_its_mail()

    assert not Mail.objects.exists()
    assert set(mail_deliver_due().values()) == {0}
    assert mail_server.mails() == []


def test_a_mail_server_that_is_down_leaves_the_mail_pending_with_its_next_try(mail_server_down):
    before = timezone.now()
    mail = _queue()

    receipt = mail_receipt(mail)

    assert receipt.status == "queued"
    stored = Mail.objects.get(pk=mail.pk)
    assert stored.status == DeliveryStatus.PENDING
    assert stored.attempts == 1
    assert "mail server unavailable" in stored.last_error
    assert receipt.next_attempt_at == stored.next_attempt_at
    low, high = 0.8 * RETRY_FIRST_DELAY_SECONDS, 1.2 * RETRY_FIRST_DELAY_SECONDS
    assert before + timedelta(seconds=low) <= stored.next_attempt_at
    assert stored.next_attempt_at <= timezone.now() + timedelta(seconds=high)
    assert stored.body == "Ride safe."


def test_deliver_mail_sends_what_is_due_once_the_server_is_back(
    mail_server_down, smtp_server, settings
):
    mail = _queue()
    mail_receipt(mail)
    assert Mail.objects.get(pk=mail.pk).status == DeliveryStatus.PENDING
    # Not due yet: the command leaves it alone.
    smtp_settings(settings, port=smtp_server.port)
    smtp_server.inbox.clear()
    assert mail_deliver_due()["sent"] == 0
    Mail.objects.filter(pk=mail.pk).update(next_attempt_at=timezone.now())

    counts = mail_deliver_due()

    assert counts["sent"] == 1
    assert len(smtp_server.inbox.wait_for(to="ana@example.com")) == 1
    stored = Mail.objects.get(pk=mail.pk)
    assert (stored.status, stored.attempts) == (DeliveryStatus.SENT, 2)


def test_a_refused_address_is_given_up_at_once(mail_server):
    mail = _queue(to=f"nobody@{REFUSED_DOMAIN}")

    assert mail_receipt(mail).status == "failed"
    stored = Mail.objects.get(pk=mail.pk)
    assert stored.status == DeliveryStatus.FAILED
    assert "recipient refused" in stored.last_error
    assert stored.body == ""
    assert mail_server.mails() == []


def test_a_mail_past_its_deliver_by_is_not_sent(mail_server_down, smtp_server, settings):
    mail = _queue(deliver_by=timezone.now() + timedelta(minutes=5))
    mail_receipt(mail)
    smtp_settings(settings, port=smtp_server.port)
    smtp_server.inbox.clear()
    Mail.objects.filter(pk=mail.pk).update(
        next_attempt_at=timezone.now(), deliver_by=timezone.now()
    )

    assert mail_deliver_due()["expired"] == 1

    stored = Mail.objects.get(pk=mail.pk)
    assert stored.status == DeliveryStatus.EXPIRED
    assert stored.body == ""
    assert smtp_server.inbox.mails() == []


def test_after_the_last_attempt_the_mail_is_given_up(mail_server_down):
    mail = _queue()
    mail_receipt(mail)
    Mail.objects.filter(pk=mail.pk).update(
        attempts=MAX_ATTEMPTS - 1, next_attempt_at=timezone.now()
    )

    assert mail_deliver_due()["failed"] == 1

    stored = Mail.objects.get(pk=mail.pk)
    assert stored.status == DeliveryStatus.FAILED
    assert f"gave up after {MAX_ATTEMPTS} attempts" in stored.last_error


def test_retries_back_off_up_to_an_hour():
    delays = [retry_delay(n).total_seconds() for n in range(1, 12)]

    for attempt, delay in enumerate(delays, start=1):
        base = min(RETRY_FIRST_DELAY_SECONDS * 2 ** (attempt - 1), 3600)
        assert 0.8 * base <= delay <= 1.2 * base


def test_an_attempt_that_died_is_taken_up_once_its_lease_ends(mail_server):
    # Claimed by a process that then died: attempts counted, lease in the future.
    mail = Mail.objects.create(
        to_address="ana@example.com",
        subject="Hello",
        body="Ride safe.",
        purpose="test",
        attempts=1,
        next_attempt_at=timezone.now() + timedelta(minutes=2),
    )
    assert mail_deliver_due()["sent"] == 0

    Mail.objects.filter(pk=mail.pk).update(next_attempt_at=timezone.now())

    assert mail_deliver_due()["sent"] == 1
    assert Mail.objects.get(pk=mail.pk).attempts == 2


def test_runs_side_by_side_send_each_mail_once(mail_server):
    mails = Mail.objects.bulk_create(
        Mail(to_address=f"rider{n}@example.com", subject="Hello", body="x", purpose="test")
        for n in range(30)
    )

    outcomes = race([lambda: mail_deliver_due(batch_size=3)] * 4)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sum(o["sent"] for o in outcomes) == 30
    received = mail_server.wait_for(30)
    assert sorted(m.message["Message-ID"] for m in received) == sorted(
        f"<{m.pk}@localhost>" for m in mails
    )
    assert set(Mail.objects.values_list("attempts", flat=True)) == {1}


def test_two_deliver_mail_commands_at_once_send_each_mail_once(smtp_server):
    smtp_server.inbox.clear()
    Mail.objects.bulk_create(
        Mail(to_address=f"rider{n}@example.com", subject="Hello", body="x", purpose="test")
        for n in range(20)
    )
    env = _command_environment(smtp_server)

    commands = [
        subprocess.Popen(
            [sys.executable, "manage.py", "deliver_mail", "--batch-size", "2"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [command.communicate(timeout=60) for command in commands]

    assert [command.returncode for command in commands] == [0, 0], outputs
    assert len(smtp_server.inbox.wait_for(20)) == 20
    assert all(line.startswith("mail: ") for line, _ in outputs)
    assert not Mail.objects.filter(status=DeliveryStatus.PENDING).exists()
    assert set(Mail.objects.values_list("attempts", flat=True)) == {1}


def test_finished_mail_is_purged_after_the_retention(mail_server):
    old = timezone.now() - timedelta(days=31)
    kept_pending = Mail.objects.create(
        to_address="a@example.com", subject="s", body="b", purpose="test", created_at=old
    )
    sent_recently = _queue()
    mail_receipt(sent_recently)
    sent_long_ago = Mail.objects.create(
        to_address="b@example.com",
        subject="s",
        purpose="test",
        created_at=old,
        status=DeliveryStatus.SENT,
        finished_at=old,
    )

    assert mail_purge_finished(older_than=timedelta(days=30)) == 1

    assert set(Mail.objects.values_list("pk", flat=True)) == {kept_pending.pk, sent_recently.pk}
    assert not Mail.objects.filter(pk=sent_long_ago.pk).exists()


def _command_environment(smtp_server) -> dict[str, str]:
    # A small pool, like the suite's other child processes: the machine's PostgreSQL is shared.
    return {
        **os.environ,
        **server_environment(
            DJANGO_SETTINGS_MODULE="config.settings.test",
            DB_POOL_SIZE="1",
            DB_CONNECTION_LIMIT="2",
            **smtp_server.environment(),
        ),
    }


def test_spent_and_expired_links_are_deleted_after_the_retention(rider):
    old, recent = timezone.now() - timedelta(days=31), timezone.now() - timedelta(days=1)
    issued = {
        name: email_token_issue(
            rider=rider, purpose=EmailTokenPurpose.RESET_PASSWORD, lifetime=timedelta(hours=1)
        ).token
        for name in ("used_long_ago", "revoked_long_ago", "expired_long_ago", "used_recently")
    }
    # Each new link revoked the one before it; each row is then given its own story.
    EmailToken.objects.filter(pk=issued["used_long_ago"].pk).update(revoked_at=None, used_at=old)
    EmailToken.objects.filter(pk=issued["revoked_long_ago"].pk).update(revoked_at=old)
    EmailToken.objects.filter(pk=issued["expired_long_ago"].pk).update(
        revoked_at=None, created_at=old - timedelta(hours=1), expires_at=old
    )
    EmailToken.objects.filter(pk=issued["used_recently"].pk).update(revoked_at=None, used_at=recent)
    live = email_token_issue(
        rider=rider, purpose=EmailTokenPurpose.VERIFY_EMAIL, lifetime=timedelta(hours=1)
    ).token

    assert email_tokens_purge_spent(older_than=timedelta(days=30)) == 3

    assert set(EmailToken.objects.values_list("pk", flat=True)) == {
        issued["used_recently"].pk,
        live.pk,
    }
