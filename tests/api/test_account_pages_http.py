"""The mailed links followed as a rider without the app does, against ``manage.py serve``:
from the mail a real SMTP server received to the page, its form and what it answers; and the
server's own log, which records the page's path but never the token."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from django.conf import settings
from django.utils import timezone

from bench.harness import server_process
from riders.email_tokens import email_token_issue
from riders.models import EmailTokenPurpose, Rider
from tests.mail import ReceivedMail
from tests.ops.processes import server_environment
from tests.riders.factories import RiderFactory

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a-new-Long-passphrase-42"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _link(mail: ReceivedMail, path: str) -> str:
    """The link to ``path`` in the mail, as path and query (the mail's host is
    CONVOY_PUBLIC_URL; the test server listens elsewhere)."""
    found = re.search(rf"https?://\S+{re.escape(path)}\?token=[A-Za-z0-9_-]+", mail.text)
    assert found, mail.text
    parts = urlsplit(found.group(0))
    assert f"{parts.scheme}://{parts.netloc}" == settings.CONVOY_PUBLIC_URL
    return f"{parts.path}?{parts.query}"


def _form(page: httpx.Response) -> dict[str, str]:
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "same-origin"
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    return {"csrfmiddlewaretoken": CSRF_FIELD.search(page.text).group(1), "token": token.group(1)}


def _as_browser(base: str) -> dict[str, str]:
    """What a browser sends with a form posted from Convoy's own page (same-origin policy)."""
    return {"Origin": base, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}


def test_a_rider_without_the_app_follows_both_mailed_links_to_their_pages(
    live_server_url, smtp_server
):
    smtp_server.inbox.clear()
    with httpx.Client(base_url=live_server_url, timeout=15) as http:
        registered = http.post(
            "/api/v1/auth/register/",
            json={
                "username": "desk_rider",
                "email": "desk_rider@example.com",
                "password": "gravel-Road-77",
            },
        )
        assert registered.status_code == 201, registered.text
        [welcome] = smtp_server.inbox.wait_for(to="desk_rider@example.com")
        link = _link(welcome, "/account/verify-email/")

    with httpx.Client(base_url=live_server_url, timeout=15) as browser:
        # A mail scanner opens the link first: nothing is spent.
        assert httpx.get(f"{live_server_url}{link}", timeout=15).status_code == 200
        page = browser.get(link)
        assert "Confirm my address" in page.text
        form = _form(page)
        without_csrf = browser.post(
            "/account/verify-email/",
            data={"token": form["token"]},
            headers=_as_browser(live_server_url),
        )
        assert without_csrf.status_code == 403
        assert not Rider.objects.get(username="desk_rider").email_verified

        confirmed = browser.post(
            "/account/verify-email/", data=form, headers=_as_browser(live_server_url)
        )
        assert confirmed.status_code == 200, confirmed.text
        assert "desk_rider@example.com" in confirmed.text
        assert Rider.objects.get(username="desk_rider").email_verified
        again = browser.post(
            "/account/verify-email/", data=form, headers=_as_browser(live_server_url)
        )
        assert again.status_code == 410
        assert "already been used" in again.text

        asked = browser.post("/api/v1/auth/password-reset/", json={"username": "desk_rider"})
        assert asked.status_code == 202
        reset_mail = smtp_server.inbox.wait_for(2, to="desk_rider@example.com")[1]
        form = _form(browser.get(_link(reset_mail, "/account/reset-password/")))
        mismatch = browser.post(
            "/account/reset-password/",
            data={**form, "new_password": NEW_PASSWORD, "new_password_again": "other"},
            headers=_as_browser(live_server_url),
        )
        assert mismatch.status_code == 422
        assert "do not match" in mismatch.text
        done = browser.post(
            "/account/reset-password/",
            data={**form, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD},
            headers=_as_browser(live_server_url),
        )
        assert done.status_code == 200, done.text
        assert "Every device was signed out" in done.text
        logged_in = browser.post(
            "/api/v1/auth/login/", json={"username": "desk_rider", "password": NEW_PASSWORD}
        )
        assert logged_in.status_code == 200
        huge = browser.post(
            "/account/reset-password/",
            data={**form, "new_password": "p" * 2_000_000, "new_password_again": "p"},
            headers=_as_browser(live_server_url),
        )
        assert huge.status_code in (400, 413)


def test_the_servers_log_has_the_pages_path_but_never_the_token(tmp_path):
    rider = RiderFactory(email_verified_at=timezone.now())
    keys = {
        purpose: email_token_issue(rider=rider, purpose=purpose, lifetime=timedelta(hours=1)).key
        for purpose in EmailTokenPurpose
    }
    env = server_environment(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        CONVOY_KEY_PREFIX=settings.CONVOY_KEY_PREFIX,
        LOG_LEVEL="DEBUG",
    )
    log_path = tmp_path / "server.log"
    with (
        server_process(workers=1, extra_env=env, log_path=log_path) as server,
        httpx.Client(base_url=server.base, timeout=15) as browser,
    ):
        verify = keys[EmailTokenPurpose.VERIFY_EMAIL]
        reset = keys[EmailTokenPurpose.RESET_PASSWORD]
        form = _form(browser.get("/account/verify-email/", params={"token": verify}))
        browser.post("/account/verify-email/", data=form, headers=_as_browser(server.base))
        browser.post(
            f"/account/verify-email/?token={verify}", data=form, headers=_as_browser(server.base)
        )
        form = _form(browser.get("/account/reset-password/", params={"token": reset}))
        weak = browser.post(
            f"/account/reset-password/?token={reset}",
            data={**form, "new_password": "short", "new_password_again": "short"},
            headers=_as_browser(server.base),
        )
        assert weak.status_code == 422
        browser.get("/account/reset-password/", params={"token": reset + "x"})
        log = server.log_text()

    assert "/account/verify-email/" in log
    assert "/account/reset-password/" in log
    assert verify not in log
    assert reset not in log
