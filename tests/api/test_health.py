"""Liveness and readiness probes: no token, real PostgreSQL and Redis behind them."""

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_is_ok_without_a_token(api_client):
    response = api_client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_both_stores_with_latencies(api_client):
    response = api_client.get("/readyz")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"postgresql", "redis"}
    for check in body["checks"].values():
        assert check["ok"] is True
        assert isinstance(check["latency_ms"], int | float)
        assert 0 <= check["latency_ms"] < 5000


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_only_get(api_client, path):
    assert api_client.post(path).status_code == 405
