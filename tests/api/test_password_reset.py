"""Password reset through the API: the same answer for any name, a real mail for a confirmed
address, and a link that works once, for a while, for the password it was sent about."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from riders.email_tokens import email_token_issue
from riders.models import (
    AuditAction,
    AuditEntry,
    AuthToken,
    EmailToken,
    EmailTokenPurpose,
    Mail,
    Rider,
)
from riders.password_reset import RESET_REQUESTED_ANSWER
from tests.api.assertions import api_error
from tests.api.test_auth import GENEROUS_RATES, _log_in
from tests.mail import link_token
from tests.racing import race
from tests.riders.factories import TEST_PASSWORD, RiderFactory

REQUEST = "/api/v1/auth/password-reset/"
CONFIRM = "/api/v1/auth/password-reset/confirm/"
PASSWORD_CHANGE = "/api/v1/riders/me/password/"
ME = "/api/v1/riders/me/"
LINK_PATH = "/account/reset-password/"
NEW_PASSWORD = "a-new-Long-passphrase-42"
FORGED = "B" * 43


@pytest.fixture
def verified(db):
    return RiderFactory(
        username="roadrunner", email="Road.Runner@example.com", email_verified_at=timezone.now()
    )


def _ask(client: APIClient, name: object, **extra):
    return client.post(REQUEST, {"username": name}, format="json", **extra)


def _confirm(key: str, password: str = NEW_PASSWORD):
    return APIClient().post(CONFIRM, {"token": key, "new_password": password}, format="json")


def _issue(rider) -> str:
    return email_token_issue(
        rider=rider, purpose=EmailTokenPurpose.RESET_PASSWORD, lifetime=timedelta(hours=1)
    ).key


def _assert_same_answer(response) -> None:
    assert response.status_code == 202, response.content
    assert response.json() == {"message": RESET_REQUESTED_ANSWER}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["roadrunner", "ROADRUNNER", "road.runner@EXAMPLE.com"])
def test_a_reset_link_is_mailed_to_a_confirmed_address(mail_server, api_client, verified, name):
    _assert_same_answer(_ask(api_client, name))

    [mail] = mail_server.wait_for(to="Road.Runner@example.com")
    assert mail.message["Subject"] == "Reset your Convoy password"
    assert "http://127.0.0.1:8000/account/reset-password/?token=" in mail.text
    assert '"roadrunner"' in mail.text


@pytest.mark.django_db(transaction=True)
def test_the_mailed_link_sets_the_password_and_signs_out_every_device(
    mail_server, api_client, auth_client, verified
):
    phones = [auth_client(verified, device_name=f"phone {n}") for n in range(3)]
    _ask(api_client, "roadrunner")
    [mail] = mail_server.wait_for(to=verified.email)

    response = _confirm(link_token(mail, LINK_PATH))

    assert response.status_code == 200, response.content
    assert response.json() == {"signed_out_devices": 3}
    assert not AuthToken.objects.filter(user=verified).exists()
    for phone in phones:
        api_error(phone.get(ME), 401, "authentication_failed")
    assert _log_in(api_client, "roadrunner").status_code == 401
    assert _log_in(api_client, "roadrunner", NEW_PASSWORD).status_code == 200
    [entry] = AuditEntry.objects.filter(action=AuditAction.PASSWORD_RESET)
    assert (entry.actor_id, entry.target_id) == (verified.pk, str(verified.pk))
    assert entry.details == {"signed_out_devices": 3}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "name",
    ["nobody-here", "nobody@example.com", "unconfirmed", "unconfirmed@example.com", "closed"],
)
def test_no_mail_yet_the_same_answer_when_no_confirmed_active_account_matches(
    mail_server, api_client, name
):
    RiderFactory(username="unconfirmed", email="unconfirmed@example.com")
    RiderFactory(username="closed", email_verified_at=timezone.now(), is_active=False)

    _assert_same_answer(_ask(api_client, name))

    assert not Mail.objects.exists()
    assert not EmailToken.objects.exists()
    assert mail_server.mails() == []


@pytest.mark.django_db(transaction=True)
def test_the_answer_is_the_same_while_the_mail_server_is_down(
    mail_server_down, api_client, verified
):
    _assert_same_answer(_ask(api_client, "roadrunner"))

    # Queued, and retried by deliver_mail; the link works as soon as it arrives.
    assert Mail.objects.get(to_address=verified.email).status == "pending"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"username": None},
        {"username": 12345},
        {"username": ["roadrunner"]},
        {"username": {"name": "roadrunner"}},
        {"username": "x" * 1001},
        {"username": "road\u0000runner"},
        {"username": "roadrunner", "email": "x@example.com"},
    ],
    ids=["missing", "null", "number", "list", "object", "huge", "nul", "unknown-field"],
)
def test_a_malformed_request_is_400(api_client, verified, payload):
    api_error(api_client.post(REQUEST, payload, format="json"), 400, "invalid_request")

    assert not EmailToken.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["", "   ", "'; DROP TABLE x; --", "x" * 1000])
def test_names_no_rider_can_have_get_the_same_answer(api_client, verified, name):
    _assert_same_answer(_ask(api_client, name))

    assert not EmailToken.objects.exists()


@pytest.mark.django_db
def test_a_lone_surrogate_is_refused_as_malformed_json(api_client, verified):
    body = '{"username": "road\\ud800runner"}'

    response = api_client.post(REQUEST, body, content_type="application/json")

    api_error(response, 400, "malformed_request")


@pytest.mark.django_db
def test_a_forged_token_is_400_and_changes_nothing(verified):
    _issue(verified)

    api_error(_confirm(FORGED), 400, "token_invalid")

    assert Rider.objects.get(pk=verified.pk).check_password(TEST_PASSWORD)


@pytest.mark.django_db
def test_a_used_link_is_410(verified):
    key = _issue(verified)
    assert _confirm(key).status_code == 200

    api_error(_confirm(key, "another-Long-passphrase-7"), 410, "token_used")

    assert Rider.objects.get(pk=verified.pk).check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_an_expired_link_is_410(verified):
    key = _issue(verified)
    EmailToken.objects.update(
        created_at=timezone.now() - timedelta(hours=2),
        expires_at=timezone.now() - timedelta(seconds=1),
    )

    api_error(_confirm(key), 410, "token_expired")

    assert Rider.objects.get(pk=verified.pk).check_password(TEST_PASSWORD)


@pytest.mark.django_db
def test_a_confirmation_link_does_not_reset_a_password(verified):
    key = email_token_issue(
        rider=verified, purpose=EmailTokenPurpose.VERIFY_EMAIL, lifetime=timedelta(hours=1)
    ).key

    api_error(_confirm(key), 400, "token_invalid")


@pytest.mark.django_db
@pytest.mark.parametrize("weak", ["short1!", "password123", "8675309123", "roadrunner1", "x" * 257])
def test_a_weak_password_is_422_and_leaves_the_link_usable(auth_client, verified, weak):
    phone = auth_client(verified)
    key = _issue(verified)

    api_error(_confirm(key, weak), 422, "weak_password")

    stored = Rider.objects.get(pk=verified.pk)
    assert stored.check_password(TEST_PASSWORD)
    assert phone.get(ME).status_code == 200
    assert not AuditEntry.objects.filter(action=AuditAction.PASSWORD_RESET).exists()
    assert _confirm(key).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [
        {"token": FORGED},
        {"new_password": NEW_PASSWORD},
        {"token": None, "new_password": NEW_PASSWORD},
        {"token": 7, "new_password": NEW_PASSWORD},
        {"token": FORGED, "new_password": 12345678},
        {"token": FORGED, "new_password": "x" * 1001},
        {"token": FORGED * 1000, "new_password": NEW_PASSWORD},
        {"token": FORGED, "new_password": NEW_PASSWORD, "username": "roadrunner"},
    ],
    ids=[
        "no-password",
        "no-token",
        "null-token",
        "number-token",
        "number-password",
        "huge-password",
        "huge-token",
        "unknown-field",
    ],
)
def test_a_malformed_confirmation_is_400(api_client, payload):
    api_error(api_client.post(CONFIRM, payload, format="json"), 400, "invalid_request")


@pytest.mark.django_db
def test_a_newer_link_supersedes_the_earlier_one(api_client, verified):
    first = _issue(verified)
    _ask(api_client, "roadrunner")

    api_error(_confirm(first), 410, "token_superseded")


@pytest.mark.django_db
def test_a_password_change_supersedes_a_pending_link(auth_client, verified):
    key = _issue(verified)
    response = auth_client(verified).post(
        PASSWORD_CHANGE,
        {"current_password": TEST_PASSWORD, "new_password": "changed-Long-passphrase-3"},
        format="json",
    )
    assert response.status_code == 200

    api_error(_confirm(key), 410, "token_superseded")

    assert Rider.objects.get(pk=verified.pk).check_password("changed-Long-passphrase-3")


@pytest.mark.django_db
def test_a_new_address_supersedes_a_link_sent_to_the_old_one(auth_client, verified):
    key = _issue(verified)
    assert (
        auth_client(verified).patch(ME, {"email": "new@example.com"}, format="json").status_code
        == 200
    )

    api_error(_confirm(key), 410, "token_superseded")


@pytest.mark.django_db
def test_a_deactivated_rider_cannot_use_a_link(verified):
    key = _issue(verified)
    Rider.objects.filter(pk=verified.pk).update(is_active=False)

    api_error(_confirm(key), 400, "token_invalid")


@pytest.mark.django_db(transaction=True)
def test_two_uses_of_one_link_at_once_reset_once(verified):
    key = _issue(verified)
    passwords = ["first-Long-passphrase-1", "second-Long-passphrase-2"]

    responses = race([lambda p=p: _confirm(key, p) for p in passwords])

    assert sorted(r.status_code for r in responses) == [200, 410]
    winner = passwords[[r.status_code for r in responses].index(200)]
    assert Rider.objects.get(pk=verified.pk).check_password(winner)
    assert AuditEntry.objects.filter(action=AuditAction.PASSWORD_RESET).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_links_of_one_account_used_at_once_reset_once(verified):
    # Issued side by side (as if the second request raced the first): both unspent.
    keys = [_issue(verified)]
    EmailToken.objects.update(revoked_at=None)
    keys.append(
        email_token_issue(
            rider=RiderFactory(),
            purpose=EmailTokenPurpose.RESET_PASSWORD,
            lifetime=timedelta(hours=1),
        ).key
    )
    EmailToken.objects.filter(key_digest__isnull=False).exclude(rider=verified).update(
        rider=verified, email=verified.email
    )

    responses = race([lambda k=k: _confirm(k) for k in keys])

    assert sorted(r.status_code for r in responses) == [200, 410]
    assert AuditEntry.objects.filter(action=AuditAction.PASSWORD_RESET).count() == 1


# --- Rate limits ------------------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "credentials_account": "3/min"})
@pytest.mark.parametrize("name", ["roadrunner", "no-such-rider"])
def test_requests_for_one_account_are_limited_like_log_in_whether_or_not_it_exists(
    api_client, verified, name
):
    for n in range(3):
        _assert_same_answer(_ask(api_client, name, REMOTE_ADDR=f"10.2.0.{n}"))

    error = api_error(_ask(api_client, name.upper(), REMOTE_ADDR="10.2.1.1"), 429, "rate_limited")
    assert 0 < error["retry_after_seconds"] <= 60


@pytest.mark.django_db
@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "credentials_account": "3/min"})
def test_resets_and_log_ins_of_an_account_share_one_window(api_client, verified):
    for n in range(2):
        assert (
            _log_in(api_client, "roadrunner", "wrong", REMOTE_ADDR=f"10.3.0.{n}").status_code == 401
        )
    _assert_same_answer(_ask(api_client, "road.runner@example.com", REMOTE_ADDR="10.3.1.1"))

    api_error(_log_in(api_client, "roadrunner", REMOTE_ADDR="10.3.1.2"), 429, "rate_limited")


@pytest.mark.django_db
@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "credentials_ip": "3/min"})
def test_requests_from_one_address_are_limited_like_log_in(api_client, verified):
    for name in ("roadrunner", "someone", "someone-else"):
        _assert_same_answer(_ask(api_client, name, REMOTE_ADDR="203.0.113.9"))

    api_error(_ask(api_client, "another", REMOTE_ADDR="203.0.113.9"), 429, "rate_limited")
    api_error(_confirm(FORGED), 400, "token_invalid")  # another address


@pytest.mark.django_db
@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "password_reset_mail": "2/hour"})
def test_past_the_mail_limit_the_answer_stays_the_same_but_no_mail_goes(api_client, verified):
    for _ in range(4):
        _assert_same_answer(_ask(api_client, "roadrunner"))

    assert Mail.objects.filter(to_address=verified.email).count() == 2
