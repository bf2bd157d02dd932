"""Fixtures of the telemetry tests: export archives in a directory of the test's own, and a
ride with history to delete or export."""

import pytest

from tests.telemetry.factories import History, ride_history


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.EXPORT_DIR = tmp_path / "exports"
    return settings.EXPORT_DIR


@pytest.fixture
def history(db) -> History:
    return ride_history()
