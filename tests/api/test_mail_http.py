"""Mail through the whole server stack: ``manage.py serve`` sends to a real SMTP server
after the commit, answers the same reset request in the same time for any name, and keeps
answering while the mail server is down, leaving deliver_mail to send later."""

import statistics
import time

import httpx
import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from bench.harness import free_port, running_server
from riders.models import DeliveryStatus, Mail, Rider
from tests.mail import link_token
from tests.ops.processes import database_url_for, run_manage, server_environment
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db(transaction=True)

RELAXED_RATES = {
    "THROTTLE_CREDENTIALS_IP_RATE": "1000000/min",
    "THROTTLE_CREDENTIALS_ACCOUNT_RATE": "1000000/min",
    "THROTTLE_PASSWORD_RESET_MAIL_RATE": "1000000/min",
}
NEW_PASSWORD = "a-new-Long-passphrase-42"
LINK = "/account/verify-email/"


def _server(**env: str):
    return running_server(
        workers=1,
        extra_env=server_environment(
            DJANGO_SETTINGS_MODULE="config.settings.test",
            CONVOY_KEY_PREFIX=settings.CONVOY_KEY_PREFIX,
            **env,
        ),
    )


def _register(http: httpx.Client, name: str) -> httpx.Response:
    return http.post(
        "/api/v1/auth/register/",
        json={"username": name, "email": f"{name}@example.com", "password": "gravel-Road-77"},
    )


def test_a_rider_signs_up_confirms_the_address_and_resets_the_password(
    live_server_url, smtp_server
):
    smtp_server.inbox.clear()
    with httpx.Client(base_url=live_server_url, timeout=15) as http:
        registered = _register(http, "night_owl")
        assert registered.status_code == 201, registered.text
        assert registered.json()["verification_mail"]["status"] == "sent"
        key = registered.json()["token"]["key"]
        [welcome] = smtp_server.inbox.wait_for(to="night_owl@example.com")

        # Before the address is confirmed, no reset mail goes to it.
        assert (
            http.post("/api/v1/auth/password-reset/", json={"username": "night_owl"}).status_code
            == 202
        )
        confirmed = http.post(
            "/api/v1/auth/verify-email/",
            json={"token": link_token(welcome, "/account/verify-email/")},
        )
        assert confirmed.json() == {"email": "night_owl@example.com", "email_verified": True}
        assert smtp_server.inbox.mails(to="night_owl@example.com") == [welcome]

        asked = http.post("/api/v1/auth/password-reset/", json={"username": "NIGHT_OWL"})
        assert asked.status_code == 202
        reset_mail = smtp_server.inbox.wait_for(2, to="night_owl@example.com")[1]
        reset = http.post(
            "/api/v1/auth/password-reset/confirm/",
            json={
                "token": link_token(reset_mail, "/account/reset-password/"),
                "new_password": NEW_PASSWORD,
            },
        )
        assert reset.json() == {"signed_out_devices": 1}
        me = http.get("/api/v1/riders/me/", headers={"Authorization": f"Bearer {key}"})
        assert me.status_code == 401
        again = http.post(
            "/api/v1/auth/login/", json={"username": "night_owl", "password": NEW_PASSWORD}
        )
        assert again.status_code == 200
        assert again.json()["rider"]["email_verified"] is True


def test_a_reset_request_takes_as_long_for_a_real_account_as_for_none(smtp_server):
    RiderFactory(username="real_rider", email_verified_at=timezone.now())
    timings: dict[str, list[float]] = {"real": [], "unknown": []}
    with (
        _server(**smtp_server.environment(), **RELAXED_RATES) as base,
        httpx.Client(base_url=base, timeout=15) as http,
    ):
        for round_number in range(25):
            for kind, name in (("real", "real_rider"), ("unknown", f"ghost{round_number}")):
                started = time.perf_counter()
                response = http.post("/api/v1/auth/password-reset/", json={"username": name})
                timings[kind].append(time.perf_counter() - started)
                assert response.status_code == 202
                assert response.json()["message"].startswith("If that username or email")
        smtp_server.inbox.wait_for(25, to="real_rider@example.com")

    real, unknown = (statistics.median(timings[kind][5:]) for kind in ("real", "unknown"))
    # The real account's path writes a token and a mail row; nothing waits for the mail
    # server. A few milliseconds apart at most, against request times of several.
    assert abs(real - unknown) < max(0.010, 0.5 * unknown), (real, unknown)


def test_with_the_mail_server_down_the_rider_is_told_and_deliver_mail_sends_it_later(
    smtp_server,
):
    with (
        _server(EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(free_port()), EMAIL_SECURITY="none") as base,
        httpx.Client(base_url=base, timeout=15) as http,
    ):
        started = time.monotonic()
        registered = _register(http, "tunnel_rider")
        elapsed = time.monotonic() - started
        assert registered.status_code == 201, registered.text
        receipt = registered.json()["verification_mail"]
        key = registered.json()["token"]["key"]
        resent = http.post(
            "/api/v1/riders/me/email-verification/", headers={"Authorization": f"Bearer {key}"}
        )

    assert receipt["status"] == "queued"
    assert receipt["next_attempt_at"] is not None
    assert elapsed < 5
    assert resent.status_code == 202
    assert resent.json()["status"] == "queued"
    rider = Rider.objects.get(username="tunnel_rider")
    mails = list(Mail.objects.filter(rider=rider).order_by("created_at"))
    assert [(m.status, m.attempts) for m in mails] == [(DeliveryStatus.PENDING, 1)] * 2
    assert all(m.body and "mail server unavailable" in m.last_error for m in mails)

    # The server is back; both are due.
    smtp_server.inbox.clear()
    Mail.objects.update(next_attempt_at=timezone.now())
    result = run_manage("deliver_mail", env=_command_env(smtp_server))

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("mail: 2 sent, 0 to retry later"), result.stdout
    received = smtp_server.inbox.wait_for(2, to="tunnel_rider@example.com")
    by_id = {f"<{m.pk}@localhost>": m for m in mails}
    older, newer = sorted(received, key=lambda r: by_id[r.message["Message-ID"]].created_at)
    # The resent link replaced the first one: only the newest confirms.
    verify = "/api/v1/auth/verify-email/"
    client = APIClient()
    stale = client.post(verify, {"token": link_token(older, LINK)}, format="json")
    assert stale.status_code == 410
    assert stale.json()["error"]["code"] == "token_superseded"
    fresh = client.post(verify, {"token": link_token(newer, LINK)}, format="json")
    assert fresh.status_code == 200
    assert Rider.objects.get(pk=rider.pk).email_verified


def _command_env(smtp_server) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url_for(settings.DATABASES["default"]["NAME"]),
        **smtp_server.environment(),
    }
