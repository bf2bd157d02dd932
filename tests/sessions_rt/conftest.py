"""Real Redis for every test, under a key prefix of its own that is emptied before and after."""

import uuid
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from config.redis_config import redis_client
from sessions_rt.store import keys


def delete_keys(client, pattern: str) -> None:
    for key in list(client.scan_iter(match=pattern, count=1000)):
        client.delete(key)


@pytest.fixture
def redis():
    return redis_client()


@pytest.fixture(autouse=True)
def isolated_prefix(settings, redis):
    """A prefix per test: nothing another test (or another suite on this Redis) wrote is seen,
    and nothing of this test survives it."""
    settings.CONVOY_KEY_PREFIX = f"convoy-test-{uuid.uuid4().hex[:12]}"
    pattern = f"{keys.key_prefix()}:*"
    delete_keys(redis, pattern)
    yield
    delete_keys(redis, pattern)


@pytest.fixture
def all_keys(redis):
    """Every key this test's prefix holds, as text."""

    def collect() -> list[str]:
        return sorted(key.decode() for key in redis.scan_iter(match=f"{keys.key_prefix()}:*"))

    return collect


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def room_id() -> str:
    return new_id()


@pytest.fixture
def leader_id() -> str:
    return new_id()


@pytest.fixture
def t0() -> datetime:
    """A fixed "now" a little in the past, so tests can step time forward explicitly."""
    return timezone.now().replace(microsecond=0) - timedelta(minutes=5)


@pytest.fixture(autouse=True)
def fresh_channel_layer(settings):
    """A channel layer object of this test's own. channels keeps one per process, channels_redis
    keeps asyncio locks in it, and every test runs on a new event loop: a socket torn down while
    its layer receive was starting can leave a lock held for the next test's loop."""
    settings.CHANNEL_LAYERS = dict(settings.CHANNEL_LAYERS)
