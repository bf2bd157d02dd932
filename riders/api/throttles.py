"""Rate limits on credentials: log-in and password reset attempts per address and per
account, wrong current passwords per account. On the generic sliding window of config.api.throttles, here because
they need to find riders. The support console's log-in counts in the same windows."""

import hashlib

from config.api.throttles import ConfiguredRateThrottle
from riders.selectors import credential_account_key


def _submitted_name(request) -> object:
    """The name typed to log in: the API's JSON body, or the console's form."""
    data = getattr(request, "data", None)
    if data is None:
        data = getattr(request, "POST", None)
    name = data.get("username") if data is not None and hasattr(data, "get") else None
    if isinstance(name, int | float) and not isinstance(name, bool):
        name = str(name)  # the serializer accepts a JSON number as a username too
    return name


class CredentialsIPThrottle(ConfiguredRateThrottle):
    """Log-in, registration and password reset attempts (and uses of mailed links) per
    client address."""

    scope = "credentials_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class CredentialsAccountThrottle(ConfiguredRateThrottle):
    """Log-in and password reset requests per account, whatever address they come from and
    whichever of its names (username or email) is typed: one account, one window."""

    scope = "credentials_account"

    def get_cache_key(self, request, view):
        key = credential_account_key(_submitted_name(request))
        if key is None:
            return None
        ident = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


def credential_attempt_wait(request) -> float | None:
    """Count one log-in attempt of this request in the API's windows (per address and per
    account); the seconds to wait when either is full, else None. For the support console,
    so guesses there and over the API add up."""
    waits = []
    for throttle in (CredentialsIPThrottle(), CredentialsAccountThrottle()):
        if not throttle.allow_request(request, None):
            waits.append(throttle.wait() or 1)
    return max(waits) if waits else None


def link_use_wait(request) -> float | None:
    """Count one use of a mailed link (confirming an address, resetting a password) in the
    API's per-address window, as its verify-email and password-reset/confirm do; the seconds
    to wait when it is full, else None. For the pages at the links' paths, so uses there and
    over the API add up."""
    throttle = CredentialsIPThrottle()
    if throttle.allow_request(request, None):
        return None
    return throttle.wait() or 1
