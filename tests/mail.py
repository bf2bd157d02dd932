"""A real SMTP server on the loopback interface (aiosmtpd) that keeps what it receives.

aiosmtpd is the SMTP server of the Python standard library's own successor line (smtpd was
removed in 3.12): it speaks the protocol for real, so the tests exercise Django's SMTP
backend, the sockets and the server's replies, with nothing of the mail path replaced.
"""

import email
import email.policy
import logging
import re
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from bench.harness import free_port

# aiosmtpd logs every SMTP command at INFO.
logging.getLogger("mail.log").setLevel(logging.WARNING)

# Recipients on this domain are refused for good (550), like a mailbox that does not exist.
REFUSED_DOMAIN = "refused.example"


@dataclass(frozen=True)
class ReceivedMail:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        assert body is not None
        return body.get_content()


class Inbox:
    """aiosmtpd's handler: accepts every mail except those to REFUSED_DOMAIN."""

    def __init__(self) -> None:
        self._arrived = threading.Condition()
        self._mails: list[ReceivedMail] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().endswith(f"@{REFUSED_DOMAIN}"):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._arrived:
            self._mails.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def mails(self, *, to: str | None = None) -> list[ReceivedMail]:
        with self._arrived:
            return [
                m
                for m in self._mails
                if to is None or to.lower() in (r.lower() for r in m.recipients)
            ]

    def wait_for(
        self, count: int = 1, *, to: str | None = None, timeout: float = 15
    ) -> list[ReceivedMail]:
        """The mails to ``to`` once at least ``count`` have arrived; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(found := self.mails(to=to)) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"expected {count} mail(s) to {to}, got {len(found)}"
                self._arrived.wait(left)
        return found

    def clear(self) -> None:
        with self._arrived:
            self._mails.clear()


class SmtpServer:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.host = "127.0.0.1"
        self.port = free_port()
        self._controller = Controller(self.inbox, hostname=self.host, port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def environment(self) -> dict[str, str]:
        """What a server process needs to send its mail here."""
        return {"EMAIL_HOST": self.host, "EMAIL_PORT": str(self.port), "EMAIL_SECURITY": "none"}


def smtp_settings(settings, *, port: int, host: str = "127.0.0.1") -> None:
    """Point this process's Django mail at an SMTP server (pytest-django's ``settings``)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = host
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5


def link_token(mail: ReceivedMail, path: str) -> str:
    """The token of the link to ``path`` in the mail's text."""
    found = re.search(rf"{re.escape(path)}\?token=([A-Za-z0-9_-]+)", mail.text)
    assert found, mail.text
    return found.group(1)
