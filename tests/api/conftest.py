"""Fixtures of the REST API tests: a clean throttle state and export archives in a directory
of the test's own (clients live in tests/conftest.py)."""

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _clear_throttle_counters():
    """Throttle counters live in the cache (Redis); no test inherits another's requests.

    Only the throttle keys: FLUSHDB would also wipe the live state and the channel layer of
    anything else using the same Redis database.
    """
    cache.delete_pattern("throttle_*")
    yield
    cache.delete_pattern("throttle_*")


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.EXPORT_DIR = tmp_path / "exports"
    return settings.EXPORT_DIR
