"""Rate limits kept in Redis through the cache, so every worker counts the same requests.

Rates come from settings.API_THROTTLE_RATES at request time (not import time), so an
operator's environment and the tests can change them.
"""

import hashlib

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from riders.selectors import credential_lookup_key


class ConfiguredRateThrottle(SimpleRateThrottle):
    def get_rate(self):
        return settings.API_THROTTLE_RATES.get(self.scope)


class RiderRateThrottle(ConfiguredRateThrottle):
    """The general per-rider rate for authenticated requests (per IP for anonymous ones)."""

    scope = "rider"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            ident = f"rider:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class CredentialsIPThrottle(ConfiguredRateThrottle):
    """Log-in and registration attempts per client address."""

    scope = "credentials_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class CredentialsAccountThrottle(ConfiguredRateThrottle):
    """Log-in attempts per account name, whatever address they come from."""

    scope = "credentials_account"

    def get_cache_key(self, request, view):
        name = request.data.get("username") if hasattr(request.data, "get") else None
        if isinstance(name, int | float) and not isinstance(name, bool):
            name = str(name)  # the serializer accepts a JSON number as a username too
        # The same key log-in looks the account up by, so no spelling gets its own counter.
        key = credential_lookup_key(name)
        if key is None:
            return None
        ident = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}
