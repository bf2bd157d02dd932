"""The test run's servers: the environment's, or the embedded PostgreSQL and Redis.

A pytest plugin (``-p tests.servers`` in pyproject.toml), not a conftest: pytest-django loads
the settings before any conftest is imported, and the settings only read DATABASE_URL and
REDIS_URL. So before that, for whichever of the two the environment leaves unconfigured, the
embedded server is started and its URL exported, for this process and for every server and
``manage.py`` the suite starts.
"""

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import embedded
from config.startup import one_line


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    if early_config.known_args_namespace.help or early_config.known_args_namespace.version:
        return
    try:
        embedded.start_unconfigured_servers()
    except ImproperlyConfigured as exc:
        raise pytest.UsageError(f"convoy: configuration error: {one_line(exc)}") from None
