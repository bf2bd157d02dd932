"""Reading settings from the environment.

Every environment variable Convoy reads goes through these helpers, so a malformed value
always stops start-up with one line that names the variable and what it expects.
"""

import ipaddress
import os
from pathlib import Path
from typing import overload
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@overload
def env_str(name: str, default: str) -> str: ...
@overload
def env_str(name: str, default: None = None) -> str | None: ...
def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


@overload
def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int: ...
@overload
def env_int(
    name: str, default: None = None, *, minimum: int | None = None, maximum: int | None = None
) -> int | None: ...
def env_int(
    name: str,
    default: int | None = None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    raw = env_str(name)
    if raw is None:
        return default
    expected = _describe_range(minimum, maximum)
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {expected}, got {raw!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ImproperlyConfigured(f"{name} must be {expected}, got {raw!r}")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    """One of ``choices``, matched regardless of case (``info`` is ``INFO``)."""
    raw = env_str(name, default)
    by_lower = {choice.lower(): choice for choice in choices}
    if raw.lower() in by_lower:
        return by_lower[raw.lower()]
    if raw not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def env_list(name: str, default: list[str]) -> list[str]:
    raw = env_str(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_path(name: str, default: Path) -> Path:
    """An absolute filesystem path such as ``/var/lib/convoy/exports``; whether it can be
    written is checked by what writes there, since reading settings touches no disk."""
    raw = env_str(name)
    if raw is None:
        return default
    if not Path(raw).is_absolute():
        raise ImproperlyConfigured(f"{name} must be an absolute path, got {raw!r}")
    return Path(raw)


def env_url(name: str, schemes: tuple[str, ...]) -> str | None:
    raw = env_str(name)
    if raw is None:
        return None
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not a valid URL: {exc}") from None
    if parts.scheme not in schemes:
        raise ImproperlyConfigured(
            f"{name} must use one of the schemes {', '.join(schemes)}, got {parts.scheme or 'none'!r}"
        )
    return raw


def _describe_range(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an integer from {minimum} to {maximum}"
    if minimum is not None:
        return f"an integer of at least {minimum}"
    if maximum is not None:
        return f"an integer of at most {maximum}"
    return "an integer"


_RATE_PERIODS = ("s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day")


def env_rate(name: str, default: str) -> str:
    """A request rate such as ``30/min``: a positive count, a slash, and a period."""
    raw = env_str(name, default)
    count, _, period = raw.partition("/")
    if not count.isdigit() or int(count) < 1 or period not in _RATE_PERIODS:
        raise ImproperlyConfigured(
            f"{name} must be a rate like 30/min (count/s, min, hour or day), got {raw!r}"
        )
    return raw


def env_networks(
    name: str, default: list[str]
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated addresses or CIDR networks, such as ``127.0.0.1,10.0.0.0/8``."""
    networks = []
    for item in env_list(name, default):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must be comma-separated addresses or networks like 10.0.0.0/8, "
                f"got {item!r}"
            ) from None
    return networks
