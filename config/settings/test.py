"""Test run: the servers the environment names (the embedded ones, which the test run starts
and exports when none is configured), fast password hashing."""

from config.settings.base import *  # noqa: F403

DEBUG = False
# Argon2 is production's first hasher (asserted in tests); the suite hashes thousands of
# passwords, so it uses the cheapest one.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CONVOY_KEY_PREFIX = "convoy-test"
CACHES = redis_config.cache_settings(REDIS_URL, CONVOY_KEY_PREFIX, REDIS_SENTINEL)  # noqa: F405
CHANNEL_LAYERS = redis_config.channel_layer_settings(  # noqa: F405
    REDIS_URL,  # noqa: F405
    "convoy-test:channels",
    REDIS_SENTINEL,  # noqa: F405
)
# Static files straight from the apps: the suite never runs collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", True)  # noqa: F405
