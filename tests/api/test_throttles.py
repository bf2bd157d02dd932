"""The rate limits themselves, on the real Redis every worker shares."""

import gc
import time
import weakref

from django.test import override_settings
from rest_framework.test import APIRequestFactory

from config.api.throttles import SLIDING_WINDOW, sliding_window_admit
from config.redis_config import redis_client
from riders.api.throttles import CredentialsIPThrottle
from tests.api.assertions import api_error
from tests.api.test_auth import GENEROUS_RATES, _log_in
from tests.racing import race
from tests.riders.factories import TEST_PASSWORD, RiderFactory

FACTORY = APIRequestFactory()


def _attempt_from(address: str):
    def attempt():
        throttle = CredentialsIPThrottle()
        request = FACTORY.post("/api/v1/auth/login/", REMOTE_ADDR=address)
        return throttle.allow_request(request, None), throttle.wait()

    return attempt


@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "credentials_ip": "5/min"})
def test_simultaneous_attempts_pass_the_limit_exactly_as_often_as_it_allows():
    # Forty attempts at once, as from forty workers' threads: reading the history and
    # writing it back as two steps let several through on the same count.
    outcomes = race([_attempt_from("203.0.113.7")] * 40)

    assert not [o for o in outcomes if isinstance(o, Exception)]
    admitted = [wait for allowed, wait in outcomes if allowed]
    refused = [wait for allowed, wait in outcomes if not allowed]
    assert len(admitted) == 5
    assert len(refused) == 35
    assert all(0 < wait <= 60 for wait in refused)
    # Another address has its own window.
    assert _attempt_from("203.0.113.8")()[0] is True


@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "credentials_ip": "2/s"})
def test_the_window_slides_requests_pass_again_once_the_oldest_leaves_it():
    attempt = _attempt_from("198.51.100.4")
    assert [attempt()[0] for _ in range(3)] == [True, True, False]
    refused_wait = attempt()[1]
    assert 0 < refused_wait <= 1
    time.sleep(refused_wait + 0.05)
    assert attempt()[0] is True


@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "credentials_ip": None})
def test_a_scope_without_a_rate_is_not_limited():
    attempt = _attempt_from("192.0.2.1")
    assert all(attempt()[0] for _ in range(50))


@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "credentials_ip": "1000/min"})
def test_checking_a_limit_keeps_no_redis_client_alive():
    # Django makes a cache client per request (per thread and async context): anything the
    # throttle kept per client would keep every request's client, and the worker would grow.
    clients = []

    def in_a_new_thread():
        def attempt():
            clients.append(weakref.ref(redis_client()))
            return _attempt_from("192.0.2.9")()[0]

        return attempt

    assert race([in_a_new_thread() for _ in range(10)]) == [True] * 10
    gc.collect()
    assert len(clients) == 10
    assert [ref for ref in clients if ref() is not None] == []


@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "credentials_account": "10/min"})
def test_a_username_and_its_email_share_one_account_window(db, api_client):
    # Ten failures by username, then more by email: one account, so one window of ten.
    RiderFactory(username="roadrunner", email="Road.Runner@example.com")
    for n in range(10):
        response = _log_in(api_client, "roadrunner", "wrong", REMOTE_ADDR=f"10.1.0.{n}")
        assert response.status_code == 401
    response = _log_in(api_client, "road.runner@EXAMPLE.com", "wrong", REMOTE_ADDR="10.1.1.1")
    api_error(response, 429, "rate_limited")
    # The right password is refused too while the window is full.
    response = _log_in(api_client, "road.runner@example.com", REMOTE_ADDR="10.1.1.2")
    api_error(response, 429, "rate_limited")


PASSWORD_CHANGE = "/api/v1/riders/me/password/"
STRONG_NEW_PASSWORD = "a-new-Long-passphrase-42"


def _change_password(client, current: str):
    return client.post(
        PASSWORD_CHANGE,
        {"current_password": current, "new_password": STRONG_NEW_PASSWORD},
        format="json",
    )


@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "password_failures": "3/hour"})
def test_wrong_current_passwords_are_limited_and_then_even_the_right_one_waits(auth_client, rider):
    client = auth_client(rider)
    # A right password does not count: only failures fill the window.
    response = client.post(
        PASSWORD_CHANGE,
        {"current_password": TEST_PASSWORD, "new_password": "12345678"},
        format="json",
    )
    api_error(response, 422, "weak_password")
    for _ in range(3):
        api_error(_change_password(client, "guess"), 422, "wrong_password")
    response = _change_password(client, TEST_PASSWORD)
    error = api_error(response, 429, "rate_limited")
    assert 0 < error["retry_after_seconds"] <= 3600
    assert int(response["Retry-After"]) == error["retry_after_seconds"]
    rider.refresh_from_db()
    assert rider.check_password(TEST_PASSWORD)


@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "password_failures": "2/s"})
def test_the_password_change_works_again_once_the_failures_leave_the_window(auth_client, rider):
    client = auth_client(rider)
    for _ in range(2):
        api_error(_change_password(client, "guess"), 422, "wrong_password")
    wait = api_error(_change_password(client, TEST_PASSWORD), 429, "rate_limited")
    time.sleep(wait["retry_after_seconds"] + 0.05)
    assert _change_password(client, TEST_PASSWORD).status_code == 200


def test_a_redis_that_forgot_the_window_script_gets_it_loaded_again():
    redis = redis_client()
    redis.script_flush()
    assert redis.script_exists(SLIDING_WINDOW.sha) == [False]

    first = sliding_window_admit("test:forgot", window_ms=60_000, limit=1)
    second = sliding_window_admit("test:forgot", window_ms=60_000, limit=1)

    assert (first[0], second[0]) == (True, False)
    assert redis.script_exists(SLIDING_WINDOW.sha) == [True]
