"""Settings shared by every environment. Everything variable comes from the environment."""

from pathlib import Path

from config import database, email_config, logs, redis_config
from config.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_networks,
    env_path,
    env_rate,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = env_str("DJANGO_SECRET_KEY", "convoy-development-only-secret-key-change-me-in-prod")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "config.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "config.apps.ConvoyConfig",
    "riders",
    "rooms",
    "telemetry",
    "sessions_rt",
    "procrastinate.contrib.django",
]

MIDDLEWARE = [
    "config.observability.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The console's own look (admin/base_site.html: search box, time zone) must come
        # before django.contrib.admin's templates, which APP_DIRS would find first.
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Riders -------------------------------------------------------------------------------
AUTH_USER_MODEL = "riders.Rider"
# Usernames are unique case-insensitively through an expression index (see Rider.Meta), which
# is stronger than the plain unique column this check looks for.
SILENCED_SYSTEM_CHECKS = ["auth.E003", "auth.W004"]
AUTHENTICATION_BACKENDS = ["riders.backends.UsernameOrEmailBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTH_TOKEN_TTL_DAYS = env_int("AUTH_TOKEN_TTL_DAYS", 90, minimum=1, maximum=3650)
# How long the links Convoy mails stay good: confirming an address, resetting a password.
EMAIL_VERIFICATION_TTL_HOURS = env_int("EMAIL_VERIFICATION_TTL_HOURS", 48, minimum=1, maximum=720)
PASSWORD_RESET_TTL_MINUTES = env_int("PASSWORD_RESET_TTL_MINUTES", 60, minimum=5, maximum=1440)

# --- Mail ---------------------------------------------------------------------------------
# SMTP to EMAIL_HOST, or printed to the console without one (production requires it). Every
# mail is first a row of the outbox (riders.models.Mail), written in the transaction of the
# change that causes it, then delivered after the commit and retried by
# `manage.py deliver_mail` (riders.mail, riders.outbox).
_EMAIL = email_config.email_settings_from_env()
EMAIL_BACKEND = _EMAIL.backend
EMAIL_HOST = _EMAIL.host
EMAIL_PORT = _EMAIL.port
EMAIL_USE_TLS = _EMAIL.use_tls
EMAIL_USE_SSL = _EMAIL.use_ssl
EMAIL_HOST_USER = _EMAIL.user
EMAIL_HOST_PASSWORD = _EMAIL.password
EMAIL_TIMEOUT = _EMAIL.timeout
DEFAULT_FROM_EMAIL = SERVER_EMAIL = _EMAIL.sender
# How long a request that sent a mail waits for its first delivery attempt before answering
# "queued"; 0 never waits. The attempt itself goes on after the answer either way.
EMAIL_REQUEST_WAIT_MS = env_int("EMAIL_REQUEST_WAIT_MS", 2000, minimum=0, maximum=10_000)
# Delivered, abandoned and expired mail rows are deleted this long after they were written.
MAIL_RETENTION_DAYS = env_int("MAIL_RETENTION_DAYS", 30, minimum=1, maximum=3650)
CONVOY_PUBLIC_URL = email_config.public_url_from_env(require_https=False)

# --- Webhooks for operators (rooms/webhooks.py) -------------------------------------------
# One attempt's whole time: connecting, sending and reading the answer.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1, maximum=60)
# An endpoint failing this long is paused (staff resume it in the console).
WEBHOOK_RETRY_FOR_SECONDS = env_int("WEBHOOK_RETRY_FOR_SECONDS", 86400, minimum=60, maximum=604800)
# Receivers on loopback or private networks: refused in production, allowed in development and
# tests, whose receivers run on this machine.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False)
# Delivered webhook events (and their attempts) are forgotten this long after they happened.
OUTBOX_RETENTION_DAYS = env_int("OUTBOX_RETENTION_DAYS", 7, minimum=1, maximum=365)
# A delivery worker that sent no heartbeat for this long is taken for dead, and the jobs it
# held run again (a worker heartbeats every 5 s).
DELIVERY_STALLED_JOB_SECONDS = env_int("DELIVERY_STALLED_JOB_SECONDS", 30, minimum=15, maximum=3600)
PROCRASTINATE_WORKER_DEFAULTS = {
    "queues": ["deliveries"],
    "concurrency": env_int("DELIVERY_WORKER_CONCURRENCY", 8, minimum=1, maximum=100),
    "update_heartbeat_interval": 5,
    "stalled_worker_timeout": DELIVERY_STALLED_JOB_SECONDS,
    # A job waiting on its ride's lock is never announced when the lock frees (only new
    # jobs are): the worker looks for such jobs this often.
    "fetch_job_polling_interval": 0.2,
    # Done jobs leave the queue's table (the deliveries and attempts keep the record).
    "delete_jobs": "successful",
}

# --- Telemetry ----------------------------------------------------------------------------
TELEMETRY_RETENTION_DAYS = env_int("TELEMETRY_RETENTION_DAYS", 30, minimum=1, maximum=3650)
# How far ahead of the server clock a phone's occurred_at may be before it is refused.
TELEMETRY_MAX_CLOCK_SKEW_SECONDS = env_int(
    "TELEMETRY_MAX_CLOCK_SKEW_SECONDS", 300, minimum=0, maximum=86400
)

# Daily partitions of the connection log are created this many days ahead of today.
TELEMETRY_PARTITION_DAYS_AHEAD = env_int(
    "TELEMETRY_PARTITION_DAYS_AHEAD", 7, minimum=1, maximum=366
)

# --- Telemetry: data exports --------------------------------------------------------------
# Where export archives are written while they wait to be downloaded (readable by their
# owner only; docs/privacy.md). Give production a directory of its own on persistent disk.
EXPORT_DIR = env_path("EXPORT_DIR", BASE_DIR / ".convoy" / "exports")
# How long a ready archive is offered before build_exports deletes it.
EXPORT_EXPIRY_HOURS = env_int("EXPORT_EXPIRY_HOURS", 72, minimum=1, maximum=720)
# Histories of at most this many rows (connection logs, ride memberships, audit entries) are
# built during the request that asks; longer ones by manage.py build_exports.
EXPORT_INLINE_MAX_ROWS = env_int("EXPORT_INLINE_MAX_ROWS", 5000, minimum=0, maximum=1_000_000)
# A build not finished after this long is taken over by another run of build_exports.
EXPORT_BUILD_TIMEOUT_SECONDS = env_int(
    "EXPORT_BUILD_TIMEOUT_SECONDS", 1800, minimum=60, maximum=86400
)

# --- REST API -----------------------------------------------------------------------------
# Threads per server worker that run HTTP requests (config/asgi_handler.py); each holds at
# most one database connection while it serves a request. They share one interpreter lock:
# with 8, joins and leaves cost a worker 15% more CPU each than with 4 (bench.api), spent
# handing the lock around; more pay off only when requests mostly wait on PostgreSQL.
HTTP_THREADS_PER_WORKER = env_int("HTTP_THREADS_PER_WORKER", 4, minimum=1, maximum=256)
# A request that waited this long for one of those threads is answered 503 without running:
# its phone has given up (and will retry), and a join run now would answer the retry 409.
HTTP_QUEUE_TIMEOUT_SECONDS = env_int("HTTP_QUEUE_TIMEOUT_SECONDS", 10, minimum=1, maximum=600)
# After a failed PostgreSQL connection attempt, requests fail at once (503) for this long,
# then one at a time tries again (config/postgresql/breaker.py).
DB_BREAKER_SECONDS = env_int("DB_BREAKER_SECONDS", 2, minimum=1, maximum=60)
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1_048_576, minimum=1024, maximum=104_857_600)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
API_THROTTLE_RATES = {
    "rider": env_rate("THROTTLE_RIDER_RATE", "1200/min"),
    "credentials_ip": env_rate("THROTTLE_CREDENTIALS_IP_RATE", "30/min"),
    "credentials_account": env_rate("THROTTLE_CREDENTIALS_ACCOUNT_RATE", "10/min"),
    "password_failures": env_rate("THROTTLE_PASSWORD_FAILURES_RATE", "5/hour"),
    "verification_mail": env_rate("THROTTLE_VERIFICATION_MAIL_RATE", "5/hour"),
    "password_reset_mail": env_rate("THROTTLE_PASSWORD_RESET_MAIL_RATE", "3/hour"),
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["riders.api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["config.api.throttles.RiderRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["config.api.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "config.api.pagination.PagePagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exceptions.api_exception_handler",
    "PAGE_SIZE": 50,
    "NUM_PROXIES": env_int("NUM_PROXIES", 0, minimum=0, maximum=10),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Convoy API",
    "DESCRIPTION": (
        "The API of Convoy, group voice for motorcycle riders: accounts, rides (rooms), "
        "joining and leaving, telemetry upload and statistics. Errors share one shape: "
        '{"error": {"code": "room_full", "message": "...", "fields": {...}}}.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI is served from this host's static files: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Enums named for what they are, not for the field that happens to carry them.
    "ENUM_NAME_OVERRIDES": {"ExportStateEnum": "telemetry.models.ExportState"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api.schema.add_rules_of_every_operation",
    ],
}

# --- Ride safety ---------------------------------------------------------------------------------
# An SOS or a silent-rider alert nobody in the ride acknowledged this long after the ride was
# told is marked for the rider's emergency contacts (rooms.alert_escalation).
ALERT_CONTACT_AFTER_SECONDS = env_int("ALERT_CONTACT_AFTER_SECONDS", 180, minimum=30, maximum=86400)

# --- Real-time (Redis live state and the ride socket) ------------------------------------------
PRESENCE_TTL_SECONDS = env_int("PRESENCE_TTL_SECONDS", 90, minimum=5, maximum=3600)
RECONNECT_GRACE_SECONDS = env_int("RECONNECT_GRACE_SECONDS", 30, minimum=1, maximum=600)
ROOM_SESSION_TTL_SECONDS = env_int("ROOM_SESSION_TTL_SECONDS", 3600, minimum=60, maximum=86400)
REALTIME_EVENT_LOG_LENGTH = env_int("REALTIME_EVENT_LOG_LENGTH", 500, minimum=10, maximum=10000)
WS_AUTH_TIMEOUT_SECONDS = env_int("WS_AUTH_TIMEOUT_SECONDS", 5, minimum=1, maximum=60)
# The largest frame a phone may send, in bytes of UTF-8 as it crosses the wire (1009 above it).
WS_MAX_MESSAGE_BYTES = env_int("WS_MAX_MESSAGE_BYTES", 32_768, minimum=1024, maximum=1_048_576)
WS_MESSAGES_PER_SECOND = env_int("WS_MESSAGES_PER_SECOND", 20, minimum=1, maximum=1000)
WS_MESSAGE_BURST = env_int("WS_MESSAGE_BURST", 60, minimum=1, maximum=10000)
# A heartbeat this soon after the rider's presence was last refreshed (by a heartbeat, a
# position or a status) is acknowledged without a Redis write; 0 refreshes on every one.
WS_HEARTBEAT_REFRESH_SECONDS = env_int(
    "WS_HEARTBEAT_REFRESH_SECONDS", 2, minimum=0, maximum=PRESENCE_TTL_SECONDS // 3
)

# A closed socket's reason says when the phone should come back (retry_after_ms), drawn per
# socket over these windows so a host's phones do not all reconnect in the same second. After
# a restart they must be back inside the grace period, or the ride would see them time out.
WS_RESTART_RECONNECT_WINDOW_SECONDS = env_int(
    "WS_RESTART_RECONNECT_WINDOW_SECONDS",
    min(10, max(1, RECONNECT_GRACE_SECONDS // 2)),
    minimum=1,
    maximum=max(1, RECONNECT_GRACE_SECONDS - 1),
)
WS_UNAVAILABLE_RECONNECT_WINDOW_SECONDS = env_int(
    "WS_UNAVAILABLE_RECONNECT_WINDOW_SECONDS", 30, minimum=1, maximum=600
)

# --- Ride safety: the recent trail and the watcher (docs/realtime.md, docs/architecture.md) --
# A point of each rider's trail every TRAIL_SAMPLE_SECONDS, kept TRAIL_KEEP_SECONDS: the
# stopped and split rules read their history from it, so it must cover the longest threshold.
TRAIL_SAMPLE_SECONDS = env_int("TRAIL_SAMPLE_SECONDS", 5, minimum=1, maximum=60)
TRAIL_KEEP_SECONDS = env_int(
    "TRAIL_KEEP_SECONDS", 900, minimum=max(60, 10 * TRAIL_SAMPLE_SECONDS), maximum=3600
)
# Riders this close to one whose socket dropped tell a crash (they kept their connections)
# from a dead zone (they dropped too).
SILENT_NEIGHBOUR_KM = env_int("SILENT_NEIGHBOUR_KM", 3, minimum=1, maximum=50)
WATCH_INTERVAL_SECONDS = env_int("WATCH_INTERVAL_SECONDS", 2, minimum=1, maximum=30)
# A watcher that dies loses its rides after this long; renewed every interval, so it must
# outlast a few of them.
WATCH_LEASE_SECONDS = env_int(
    "WATCH_LEASE_SECONDS",
    max(10, 3 * WATCH_INTERVAL_SECONDS),
    minimum=2 * WATCH_INTERVAL_SECONDS,
    maximum=300,
)

# --- Internationalisation, static files ---------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".convoy" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Logs and metrics ---------------------------------------------------------------------
LOG_LEVEL = env_choice("LOG_LEVEL", logs.LOG_LEVELS, "INFO")
# Readable lines for a developer's terminal; production settings default to JSON.
LOG_FORMAT = env_choice("LOG_FORMAT", logs.LOG_FORMATS, "console")
LOGGING = logs.logging_config(LOG_LEVEL, LOG_FORMAT)
# /metrics answers scrapers on these networks (the direct peer's address), or any caller
# presenting ``Authorization: Bearer <METRICS_TOKEN>``; everyone else gets 403.
METRICS_ALLOWED_NETWORKS = env_networks("METRICS_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128"])
METRICS_TOKEN = env_str("METRICS_TOKEN")

# --- Data stores: from the environment only -----------------------------------------------
# Importing settings starts nothing. With development or test settings, manage.py, the test
# run and the benchmarks start the embedded servers first and export their URLs
# (config/embedded.py); anywhere else a missing server stops start-up with its variable's name.
DATABASES = {"default": database.database_settings(database.database_url_from_env())}
REDIS_SENTINEL = redis_config.redis_sentinel_from_env()
REDIS_URL = REDIS_SENTINEL.url if REDIS_SENTINEL is not None else redis_config.redis_url_from_env()

CONVOY_KEY_PREFIX = env_str("CONVOY_KEY_PREFIX", "convoy")
CACHES = redis_config.cache_settings(REDIS_URL, CONVOY_KEY_PREFIX, REDIS_SENTINEL)
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
CHANNEL_LAYERS = redis_config.channel_layer_settings(
    REDIS_URL, f"{CONVOY_KEY_PREFIX}:channels", REDIS_SENTINEL
)
