"""The console's log-in counts in the API's log-in rate limits: same windows, same keys."""

import re

import httpx
import pytest
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.test import Client

from tests.admin.conftest import make_staff
from tests.api.test_auth import GENEROUS_RATES
from tests.riders.factories import TEST_PASSWORD

LOGIN = "/admin/login/"
API_LOGIN = "/api/v1/auth/login/"


@pytest.fixture(autouse=True)
def _clear_throttle_counters():
    cache.delete_pattern("throttle_*")
    yield
    cache.delete_pattern("throttle_*")


def _console_log_in(client: Client, username: str, password: str, **extra):
    return client.post(
        f"{LOGIN}?next=/admin/", {"username": username, "password": password}, **extra
    )


def test_console_log_in_is_limited_per_account_and_the_right_password_waits(db, settings):
    settings.API_THROTTLE_RATES = {**GENEROUS_RATES, "credentials_account": "3/min"}
    member = make_staff("support")
    client = Client()
    for n in range(3):
        response = _console_log_in(client, member.username, "wrong", REMOTE_ADDR=f"10.2.0.{n}")
        assert response.status_code == 200  # the form again, with its error
    response = _console_log_in(client, member.username, TEST_PASSWORD, REMOTE_ADDR="10.2.1.1")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert b"Too many log-in attempts" in response.content
    assert SESSION_KEY not in client.session


def test_console_log_in_is_limited_per_address(db, settings):
    settings.API_THROTTLE_RATES = {**GENEROUS_RATES, "credentials_ip": "2/min"}
    member = make_staff("support")
    client = Client()
    for n in range(2):
        assert _console_log_in(client, f"nobody-{n}", "wrong").status_code == 200
    response = _console_log_in(client, member.username, TEST_PASSWORD)
    assert response.status_code == 429
    assert SESSION_KEY not in client.session


def test_api_and_console_attempts_add_up_in_one_window(db, settings):
    settings.API_THROTTLE_RATES = {**GENEROUS_RATES, "credentials_account": "4/min"}
    member = make_staff("moderator")
    client = Client()
    for n in range(2):
        response = client.post(
            API_LOGIN,
            {"username": member.email, "password": "wrong"},
            content_type="application/json",
            REMOTE_ADDR=f"10.3.0.{n}",
        )
        assert response.status_code == 401
    for n in range(2):
        response = _console_log_in(client, member.username, "wrong", REMOTE_ADDR=f"10.3.1.{n}")
        assert response.status_code == 200
    response = client.post(
        API_LOGIN,
        {"username": member.username, "password": TEST_PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert _console_log_in(client, member.email, TEST_PASSWORD).status_code == 429


class TestThroughTheServer:
    """Over a real socket, at the default rates (10 per minute per account)."""

    pytestmark = pytest.mark.django_db(transaction=True)

    @staticmethod
    def _console_attempt(http: httpx.Client, username: str, password: str) -> httpx.Response:
        page = http.get(LOGIN)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        return http.post(
            LOGIN,
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{http.base_url}{LOGIN}"},
        )

    def test_wrong_guesses_then_the_right_password_is_still_refused(self, live_server_url):
        member = make_staff("support")
        with httpx.Client(base_url=live_server_url, timeout=10) as http:
            for _ in range(10):
                assert self._console_attempt(http, member.username, "wrong").status_code == 200
            refused = self._console_attempt(http, member.username, TEST_PASSWORD)
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) >= 1
            assert "Too many log-in attempts" in refused.text
            assert "sessionid" not in http.cookies

    def test_guesses_over_the_api_and_the_console_share_one_window(self, live_server_url):
        member = make_staff("moderator")
        with httpx.Client(base_url=live_server_url, timeout=10) as http:
            for _ in range(5):
                response = http.post(API_LOGIN, json={"username": member.email, "password": "x"})
                assert response.status_code == 401
            for _ in range(5):
                assert self._console_attempt(http, member.username, "wrong").status_code == 200
            assert self._console_attempt(http, member.email, TEST_PASSWORD).status_code == 429
            response = http.post(
                API_LOGIN, json={"username": member.username, "password": TEST_PASSWORD}
            )
            assert response.status_code == 429
            assert response.json()["error"]["code"] == "rate_limited"


def _console_password_change(client: Client, old_password: str):
    return client.post(
        "/admin/password_change/",
        {
            "old_password": old_password,
            "new_password1": "a-new-Long-passphrase-42",
            "new_password2": "a-new-Long-passphrase-42",
        },
    )


def test_wrong_passwords_in_the_console_and_the_app_share_one_window(db, settings):
    settings.API_THROTTLE_RATES = {**GENEROUS_RATES, "password_failures": "3/hour"}
    member = make_staff("support")
    client = Client()
    client.force_login(member)
    api = Client()
    token = api.post(
        API_LOGIN,
        {"username": member.username, "password": TEST_PASSWORD},
        content_type="application/json",
    ).json()["token"]["key"]
    for _ in range(2):
        assert _console_password_change(client, "guess").status_code == 200
    response = api.post(
        "/api/v1/riders/me/password/",
        {"current_password": "guess", "new_password": "a-new-Long-passphrase-42"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 422
    response = _console_password_change(client, TEST_PASSWORD)
    assert response.status_code == 200
    assert "Too many wrong passwords" in response.content.decode()
    member.refresh_from_db()
    assert member.check_password(TEST_PASSWORD)
