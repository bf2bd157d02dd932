import os

import pytest
from django.conf import settings

from tests.ops.processes import CONFIGURATION_PREFIXES, database_url_for


@pytest.fixture
def without_configuration(monkeypatch):
    """No database, Redis or logging variable from the surrounding shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith(CONFIGURATION_PREFIXES):
            monkeypatch.delenv(name)


@pytest.fixture
def test_database_env(django_db_setup) -> dict[str, str]:
    """Point a child process at the test database, which surely exists, unlike the main one."""
    return {"DATABASE_URL": database_url_for(settings.DATABASES["default"]["NAME"])}
