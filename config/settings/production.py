"""Production: a real secret key is required and the browser-facing defences are on."""

from django.core.exceptions import ImproperlyConfigured

from config import email_config, logs
from config.env import env_bool, env_choice, env_int, env_str
from config.settings.base import *  # noqa: F403

SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY or len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set to at least 32 characters")

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
# Browsers reach Convoy (admin console, API docs) over TLS only, so they are told to keep to
# it; an operator still serving plain HTTP somewhere sets DJANGO_HSTS_SECONDS=0.
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)

# Real mail: an SMTP server, a sender receivers accept, and links over https.
email_config.require_production_mail()
CONVOY_PUBLIC_URL = email_config.public_url_from_env(require_https=True)

# One JSON object per line, for the log collector.
LOG_FORMAT = env_choice("LOG_FORMAT", logs.LOG_FORMATS, "json")
LOGGING = logs.logging_config(LOG_LEVEL, LOG_FORMAT)  # noqa: F405
