"""The pages at the mailed links' paths, as a browser uses them: opening a link shows a form
and spends nothing; the form's POST (with its CSRF token) confirms the address or sets the
password through the API's services, and every way a link can be wrong has its page."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from riders.account_mail import LINK_PATHS
from riders.account_pages import CONTENT_SECURITY_POLICY
from riders.auth_tokens import token_issue
from riders.email_tokens import email_token_issue
from riders.models import AuthToken, EmailToken, EmailTokenPurpose, Rider
from tests.api.test_auth import GENEROUS_RATES
from tests.riders.factories import TEST_PASSWORD, RiderFactory

VERIFY = "/account/verify-email/"
RESET = "/account/reset-password/"
NEW_PASSWORD = "a-new-Long-passphrase-42"
FORGED = "C" * 43
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

pytestmark = pytest.mark.django_db


def _issue(rider, purpose: EmailTokenPurpose, *, expired: bool = False) -> str:
    issued = email_token_issue(rider=rider, purpose=purpose, lifetime=timedelta(hours=1))
    if expired:
        now = timezone.now()
        EmailToken.objects.filter(pk=issued.token.pk).update(
            created_at=now - timedelta(hours=3), expires_at=now - timedelta(seconds=1)
        )
    return issued.key


def _verify_key(rider, *, expired: bool = False) -> str:
    return _issue(rider, EmailTokenPurpose.VERIFY_EMAIL, expired=expired)


def _reset_key(rider, *, expired: bool = False) -> str:
    return _issue(rider, EmailTokenPurpose.RESET_PASSWORD, expired=expired)


def _spent(key: str) -> bool:
    [token] = [t for t in EmailToken.objects.all() if t.key_digest == _digest(key)]
    return token.used_at is not None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _text(response) -> str:
    return response.content.decode()


def _assert_private(response) -> None:
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"].startswith("text/html")


def _reset(client: Client, key: str, password: str = NEW_PASSWORD, again: str | None = None):
    return client.post(
        RESET,
        {"token": key, "new_password": password, "new_password_again": again or password},
    )


def test_the_pages_are_at_the_paths_the_mails_link_to():
    assert reverse("account-verify-email") == LINK_PATHS[EmailTokenPurpose.VERIFY_EMAIL]
    assert reverse("account-reset-password") == LINK_PATHS[EmailTokenPurpose.RESET_PASSWORD]


def test_opening_a_confirmation_link_shows_the_button_and_spends_nothing():
    rider = RiderFactory()
    key = _verify_key(rider)

    for _ in range(3):  # a scanner, a previewer, the rider
        response = Client().get(VERIFY, {"token": key})
        assert response.status_code == 200
        _assert_private(response)

    page = _text(response)
    assert "Convoy" in page
    assert '<meta name="viewport"' in page
    assert "Confirm my address" in page
    assert 'method="post"' in page
    assert f'value="{key}"' in page
    assert CSRF_FIELD.search(page)
    assert "<script" not in page
    assert "http" not in page.split("<body>")[1]  # nothing loaded from elsewhere
    assert not _spent(key)
    assert not Rider.objects.get(pk=rider.pk).email_verified


def test_posting_the_form_confirms_the_address_once():
    rider = RiderFactory(email="Gravel.Queen@example.com")
    key = _verify_key(rider)
    client = Client()

    confirmed = client.post(VERIFY, {"token": key})

    assert confirmed.status_code == 200
    _assert_private(confirmed)
    assert "Address confirmed" in _text(confirmed)
    assert "Gravel.Queen@example.com" in _text(confirmed)
    assert Rider.objects.get(pk=rider.pk).email_verified
    again = client.post(VERIFY, {"token": key})
    assert again.status_code == 410
    assert "already been used" in _text(again)
    _assert_private(again)


def test_the_form_refuses_a_post_without_its_csrf_token():
    rider = RiderFactory()
    key = _verify_key(rider)
    browser = Client(enforce_csrf_checks=True)

    refused = browser.post(VERIFY, {"token": key})
    assert refused.status_code == 403
    assert not _spent(key)

    page = browser.get(VERIFY, {"token": key})
    csrf = CSRF_FIELD.search(_text(page)).group(1)
    accepted = browser.post(VERIFY, {"token": key, "csrfmiddlewaretoken": csrf})
    assert accepted.status_code == 200, _text(accepted)
    assert Rider.objects.get(pk=rider.pk).email_verified


@pytest.mark.parametrize("path", [VERIFY, RESET])
@pytest.mark.parametrize(
    "query",
    [
        {},
        {"token": ""},
        {"token": "short"},
        {"token": "A" * 42 + "!"},
        {"token": "A" * 44},
        {"token": "A" * 100_000},
        {"token": "<script>alert(1)</script>"},
    ],
)
def test_a_missing_or_malformed_token_shows_the_invalid_link_page(path, query):
    response = Client().get(path, query)

    assert response.status_code == 400
    _assert_private(response)
    assert "This link is not valid" in _text(response)
    assert "<script>alert" not in _text(response)
    assert 'method="post"' not in _text(response)


@pytest.mark.parametrize("path", [VERIFY, RESET])
def test_a_post_without_a_usable_token_shows_the_invalid_link_page(path):
    for data in ({}, {"token": "x" * 5000}, {"token": FORGED}):
        passwords = {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
        response = Client().post(path, {**data, **passwords})
        assert response.status_code == 400, data
        assert "This link is not valid" in _text(response)


def test_expired_and_replaced_confirmation_links_say_what_to_do():
    rider = RiderFactory()
    expired = _verify_key(RiderFactory(), expired=True)
    older = _verify_key(rider)
    _verify_key(rider)  # a newer mail replaces it

    gone = Client().post(VERIFY, {"token": expired})
    replaced = Client().post(VERIFY, {"token": older})

    assert gone.status_code == 410
    assert "This link has expired" in _text(gone)
    assert "ask for a new confirmation mail" in _text(gone).lower()
    assert replaced.status_code == 410
    assert "no longer applies" in _text(replaced)
    assert "newest mail" in _text(replaced)
    assert not Rider.objects.get(pk=rider.pk).email_verified


def test_a_link_for_the_other_purpose_is_not_valid_here():
    rider = RiderFactory()
    reset_key = _reset_key(rider)

    response = Client().post(VERIFY, {"token": reset_key})

    assert response.status_code == 400
    assert not Rider.objects.get(pk=rider.pk).email_verified


def test_opening_a_reset_link_shows_the_form_and_spends_nothing():
    rider = RiderFactory()
    key = _reset_key(rider)

    response = Client().get(RESET, {"token": key})

    assert response.status_code == 200
    _assert_private(response)
    page = _text(response)
    assert page.count('type="password"') == 2
    assert 'autocomplete="new-password"' in page
    assert not _spent(key)


def test_the_reset_form_sets_the_password_and_says_every_device_was_signed_out():
    rider = RiderFactory(username="hairpin")
    for n in range(2):
        token_issue(rider=rider, device_name=f"phone {n}")
    key = _reset_key(rider)

    done = _reset(Client(), key)

    assert done.status_code == 200, _text(done)
    _assert_private(done)
    assert "Every device was signed out" in _text(done)
    assert "2 devices" in _text(done)
    assert not AuthToken.objects.filter(user=rider).exists()
    assert Rider.objects.get(pk=rider.pk).check_password(NEW_PASSWORD)
    again = _reset(Client(), key, "another-Long-passphrase-7")
    assert again.status_code == 410
    assert "already been used" in _text(again)
    assert Rider.objects.get(pk=rider.pk).check_password(NEW_PASSWORD)


def test_mismatching_passwords_keep_the_link_and_the_password():
    rider = RiderFactory()
    key = _reset_key(rider)

    response = _reset(Client(), key, NEW_PASSWORD, NEW_PASSWORD + "x")

    assert response.status_code == 422
    assert "do not match" in _text(response)
    assert f'value="{key}"' in _text(response)  # the form again, for another try
    assert not _spent(key)
    assert Rider.objects.get(pk=rider.pk).check_password(TEST_PASSWORD)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", "This password is too short. It must contain at least 8 characters."),
        ("password123", "This password is too common."),
        ("8273645192", "This password is entirely numeric."),
        ("x" * 300, "A password must be at most 256 characters long."),
    ],
)
def test_a_weak_password_shows_the_validators_messages_and_keeps_the_link(password, message):
    rider = RiderFactory()
    key = _reset_key(rider)
    client = Client()

    refused = _reset(client, key, password)

    assert refused.status_code == 422
    assert message in _text(refused)
    assert not _spent(key)
    assert Rider.objects.get(pk=rider.pk).check_password(TEST_PASSWORD)
    assert _reset(client, key).status_code == 200
    assert Rider.objects.get(pk=rider.pk).check_password(NEW_PASSWORD)


def test_a_password_like_the_username_is_refused():
    rider = RiderFactory(username="mountainpass", email="mountainpass@example.com")
    key = _reset_key(rider)

    refused = _reset(Client(), key, "mountainpass")

    assert refused.status_code == 422
    assert "too similar to the" in _text(refused)


def test_expired_and_replaced_reset_links_leave_the_password_as_it_was():
    rider = RiderFactory()
    expired = _reset_key(RiderFactory(), expired=True)
    older = _reset_key(rider)
    _reset_key(rider)

    gone = _reset(Client(), expired)
    replaced = _reset(Client(), older)

    assert (gone.status_code, replaced.status_code) == (410, 410)
    assert "Forgot password" in _text(gone)
    assert "Your password has not changed" in _text(replaced)
    assert Rider.objects.get(pk=rider.pk).check_password(TEST_PASSWORD)


def test_a_body_over_the_upload_limit_is_refused_with_a_page(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    rider = RiderFactory()
    key = _reset_key(rider)

    response = _reset(Client(), key, "p" * 10_000)

    assert response.status_code == 413
    _assert_private(response)
    assert "too large" in _text(response)
    assert not _spent(key)


def test_other_methods_are_not_allowed():
    response = Client().put(VERIFY)
    assert response.status_code == 405
    assert response["Cache-Control"] == "no-store"


@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "credentials_ip": "3/min"})
def test_link_uses_share_the_apis_window_per_address_and_answer_429_with_a_page():
    rider = RiderFactory()
    key = _verify_key(rider)
    client = Client()
    # Opening the link is not a use: it is not counted.
    for _ in range(5):
        assert client.get(VERIFY, {"token": key}).status_code == 200
    api = APIClient().post("/api/v1/auth/verify-email/", {"token": FORGED}, format="json")
    assert api.status_code == 400
    assert client.post(VERIFY, {"token": FORGED}).status_code == 400
    assert _reset(client, FORGED).status_code == 400

    limited = client.post(VERIFY, {"token": key})

    assert limited.status_code == 429
    _assert_private(limited)
    assert int(limited["Retry-After"]) >= 1
    assert "Too many attempts" in _text(limited)
    assert not _spent(key)
    other_address = Client(REMOTE_ADDR="10.9.8.7").post(VERIFY, {"token": key})
    assert other_address.status_code == 200
    assert (
        APIClient()
        .post(
            "/api/v1/auth/password-reset/confirm/",
            {"token": FORGED, "new_password": NEW_PASSWORD},
            format="json",
        )
        .status_code
        == 429
    )


def _browser_post(browser: Client, path: str, data: dict, **headers):
    return browser.post(path, data, secure=True, headers=headers)


def test_only_a_post_from_convoys_own_page_passes_the_csrf_check():
    # With Referrer-Policy same-origin a browser posts the page's form with Convoy's Origin.
    rider = RiderFactory()
    key = _verify_key(rider)
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(VERIFY, {"token": key}, secure=True)
    form = {"token": key, "csrfmiddlewaretoken": CSRF_FIELD.search(_text(page)).group(1)}

    opaque = _browser_post(browser, VERIFY, form, Origin="null", Sec_Fetch_Site="same-origin")
    elsewhere = _browser_post(browser, VERIFY, form, Origin="https://evil.example")
    no_token = _browser_post(browser, VERIFY, {"token": key}, Origin="https://testserver")

    assert [r.status_code for r in (opaque, elsewhere, no_token)] == [403] * 3
    assert no_token["Cache-Control"] == "no-store"
    assert not _spent(key)
    accepted = _browser_post(browser, VERIFY, form, Origin="https://testserver")
    assert accepted.status_code == 200, _text(accepted)
    assert Rider.objects.get(pk=rider.pk).email_verified


def test_the_same_origin_as_the_host_passes_too():
    rider = RiderFactory()
    key = _reset_key(rider)
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(RESET, {"token": key}, secure=True)
    csrf = CSRF_FIELD.search(_text(page)).group(1)
    form = {
        "token": key,
        "csrfmiddlewaretoken": csrf,
        "new_password": NEW_PASSWORD,
        "new_password_again": NEW_PASSWORD,
    }

    done = _browser_post(browser, RESET, form, Origin="https://testserver")

    assert done.status_code == 200, _text(done)


def test_an_oversized_form_under_the_csrf_check_is_refused_with_a_page(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    rider = RiderFactory()
    key = _reset_key(rider)
    browser = Client(enforce_csrf_checks=True)
    browser.get(RESET, {"token": key})

    response = browser.post(
        RESET, {"token": key, "new_password": "p" * 10_000, "new_password_again": "p"}
    )

    assert response.status_code == 413
    _assert_private(response)
    assert not _spent(key)


def test_a_token_never_reaches_the_log(caplog):
    rider = RiderFactory()
    verify_key, reset_key = _verify_key(rider), _reset_key(rider)
    client = Client()
    with caplog.at_level("DEBUG"):
        client.get(VERIFY, {"token": verify_key})
        client.post(f"{VERIFY}?token={verify_key}", {"token": verify_key})
        client.post(f"{VERIFY}?token={verify_key}", {"token": verify_key})  # 410, logged
        client.get(RESET, {"token": reset_key})
        _reset(client, reset_key, "short")  # 422, logged
        client.get(RESET, {"token": reset_key + "x"})  # 400, logged

    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "/account/verify-email/" in logged
    assert "/account/reset-password/" in logged
    assert verify_key not in logged
    assert reset_key not in logged
