"""Outgoing mail settings from the environment.

Convoy sends mail through Django's email framework. With EMAIL_HOST set it speaks SMTP to
that server; without it, development and test settings print each mail to the console and
production settings refuse to start, since password resets and address confirmations would
otherwise vanish. Every value is checked here, so a typo stops start-up with one line naming
the variable, never a failed mail an hour later.
"""

from dataclasses import dataclass
from email.utils import parseaddr

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email

from config.env import env_choice, env_int, env_str, env_url

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
CONSOLE_BACKEND = "django.core.mail.backends.console.EmailBackend"
# starttls: plain connection upgraded with STARTTLS (submission, port 587); ssl: TLS from the
# first byte (SMTPS, port 465); none: no encryption, for a relay on the same host only.
SECURITY_MODES = ("starttls", "ssl", "none")
_DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
DEVELOPMENT_SENDER = "Convoy <no-reply@localhost>"
DEVELOPMENT_PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class EmailSettings:
    backend: str
    host: str
    port: int
    use_tls: bool
    use_ssl: bool
    user: str
    password: str
    timeout: int
    sender: str


def email_settings_from_env() -> EmailSettings:
    host = env_str("EMAIL_HOST", "")
    security = env_choice("EMAIL_SECURITY", SECURITY_MODES, "starttls")
    user = env_str("EMAIL_HOST_USER", "")
    password = env_str("EMAIL_HOST_PASSWORD", "")
    if password and not user:
        raise ImproperlyConfigured("EMAIL_HOST_PASSWORD is set but EMAIL_HOST_USER is not")
    if user and not password:
        raise ImproperlyConfigured("EMAIL_HOST_USER is set but EMAIL_HOST_PASSWORD is not")
    if password and security == "none":
        raise ImproperlyConfigured(
            "EMAIL_HOST_PASSWORD would cross the network in clear text with "
            "EMAIL_SECURITY=none; use starttls or ssl"
        )
    return EmailSettings(
        backend=SMTP_BACKEND if host else CONSOLE_BACKEND,
        host=host or "localhost",
        port=env_int("EMAIL_PORT", _DEFAULT_PORTS[security], minimum=1, maximum=65535),
        use_tls=security == "starttls",
        use_ssl=security == "ssl",
        user=user,
        password=password,
        timeout=env_int("EMAIL_TIMEOUT", 10, minimum=1, maximum=120),
        sender=sender_from_env(),
    )


def sender_from_env() -> str:
    """EMAIL_FROM: ``no-reply@example.com`` or ``Convoy <no-reply@example.com>``."""
    raw = env_str("EMAIL_FROM", DEVELOPMENT_SENDER)
    _, address = parseaddr(raw)
    problem = None
    if "\n" in raw or "\r" in raw:
        problem = "a single line"
    else:
        try:
            validate_email(address)
        except ValidationError:
            problem = "an address like no-reply@example.com or Convoy <no-reply@example.com>"
    if problem:
        raise ImproperlyConfigured(f"EMAIL_FROM must be {problem}, got {raw!r}")
    return raw


def public_url_from_env(*, require_https: bool) -> str:
    """CONVOY_PUBLIC_URL: where riders reach Convoy, the start of every link in a mail."""
    url = env_url("CONVOY_PUBLIC_URL", ("https",) if require_https else ("http", "https"))
    return (url or DEVELOPMENT_PUBLIC_URL).rstrip("/")


def require_production_mail() -> None:
    """Production sends real mail: the server, the sender and the links must be named."""
    for name, meaning in (
        ("EMAIL_HOST", "the SMTP server Convoy sends mail through"),
        ("EMAIL_FROM", "the sender of Convoy's mail, e.g. Convoy <no-reply@example.com>"),
        ("CONVOY_PUBLIC_URL", "the https:// address riders reach Convoy at, for mail links"),
    ):
        if not env_str(name):
            raise ImproperlyConfigured(f"{name} must be set with production settings: {meaning}")
