"""Confirming an email address through the API: the mail a real SMTP server receives, the
link's token, and every way a token can be wrong."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from riders.email_tokens import email_token_issue
from riders.models import DeliveryStatus, EmailToken, EmailTokenPurpose, Mail, Rider
from tests.api.assertions import api_error
from tests.api.test_auth import GENEROUS_RATES
from tests.mail import link_token
from tests.racing import race
from tests.riders.factories import RiderFactory

REGISTER = "/api/v1/auth/register/"
VERIFY = "/api/v1/auth/verify-email/"
RESEND = "/api/v1/riders/me/email-verification/"
ME = "/api/v1/riders/me/"
LINK_PATH = "/account/verify-email/"
FORGED = "A" * 43


def _register(client: APIClient, **overrides):
    values = {
        "username": "alpine_rider",
        "email": "alpine@example.com",
        "password": "gravel-Road-77",
    }
    return client.post(REGISTER, {**values, **overrides}, format="json")


def _bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def _issue(rider, **lifetime) -> str:
    return email_token_issue(
        rider=rider,
        purpose=EmailTokenPurpose.VERIFY_EMAIL,
        lifetime=timedelta(**(lifetime or {"hours": 1})),
    ).key


@pytest.mark.django_db(transaction=True)
def test_a_new_account_is_mailed_a_link_that_confirms_its_address(mail_server, api_client):
    response = _register(api_client)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["rider"]["email_verified"] is False
    assert body["verification_mail"] == {"status": "sent", "next_attempt_at": None}
    [mail] = mail_server.wait_for(to="alpine@example.com")
    assert mail.message["Subject"] == "Confirm your email address for Convoy"
    assert mail.message["To"] == "alpine@example.com"
    assert "http://127.0.0.1:8000/account/verify-email/?token=" in mail.text
    me = _bearer(body["token"]["key"])
    assert me.get(ME).json()["email_verified"] is False

    # Opened on any device: the link needs no token of the app.
    confirmed = APIClient().post(VERIFY, {"token": link_token(mail, LINK_PATH)}, format="json")

    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json() == {"email": "alpine@example.com", "email_verified": True}
    assert me.get(ME).json()["email_verified"] is True


@pytest.mark.django_db(transaction=True)
def test_registering_while_the_mail_server_is_down_succeeds_and_says_queued(
    mail_server_down, api_client
):
    response = _register(api_client)

    assert response.status_code == 201, response.content
    receipt = response.json()["verification_mail"]
    assert receipt["status"] == "queued"
    assert receipt["next_attempt_at"] is not None
    mail = Mail.objects.get(to_address="alpine@example.com")
    assert (mail.status, mail.attempts) == (DeliveryStatus.PENDING, 1)
    assert Rider.objects.filter(username="alpine_rider").exists()


@pytest.mark.django_db
def test_a_used_link_is_410_and_changes_nothing(api_client, rider):
    key = _issue(rider)
    assert api_client.post(VERIFY, {"token": key}, format="json").status_code == 200
    verified_at = Rider.objects.get(pk=rider.pk).email_verified_at

    api_error(api_client.post(VERIFY, {"token": key}, format="json"), 410, "token_used")

    assert Rider.objects.get(pk=rider.pk).email_verified_at == verified_at


@pytest.mark.django_db
def test_an_expired_link_is_410(api_client, rider):
    key = _issue(rider)
    EmailToken.objects.filter(rider=rider).update(
        created_at=timezone.now() - timedelta(hours=3),
        expires_at=timezone.now() - timedelta(seconds=1),
    )

    api_error(api_client.post(VERIFY, {"token": key}, format="json"), 410, "token_expired")

    assert Rider.objects.get(pk=rider.pk).email_verified_at is None


@pytest.mark.django_db
def test_a_forged_link_is_400(api_client, rider):
    _issue(rider)

    api_error(api_client.post(VERIFY, {"token": FORGED}, format="json"), 400, "token_invalid")

    assert Rider.objects.get(pk=rider.pk).email_verified_at is None


@pytest.mark.django_db
def test_a_reset_link_does_not_confirm_an_address(api_client, rider):
    key = email_token_issue(
        rider=rider, purpose=EmailTokenPurpose.RESET_PASSWORD, lifetime=timedelta(hours=1)
    ).key

    api_error(api_client.post(VERIFY, {"token": key}, format="json"), 400, "token_invalid")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"token": None},
        {"token": 12345},
        {"token": ["A" * 43]},
        {"token": "A" * 42},
        {"token": "A" * 43 + "\n"},
        {"token": "A" * 100_000},
        {"token": "é" * 43},
        {"token": FORGED, "email": "x@example.com"},
    ],
    ids=[
        "missing",
        "null",
        "number",
        "list",
        "short",
        "newline",
        "huge",
        "accents",
        "unknown-field",
    ],
)
def test_a_malformed_token_is_400(api_client, payload):
    api_error(api_client.post(VERIFY, payload, format="json"), 400, "invalid_request")


@pytest.mark.django_db
def test_a_link_to_an_address_the_rider_no_longer_has_is_superseded(auth_client, rider):
    key = _issue(rider)
    client = auth_client(rider)
    assert client.patch(ME, {"email": "new.address@example.com"}, format="json").status_code == 200

    api_error(APIClient().post(VERIFY, {"token": key}, format="json"), 410, "token_superseded")

    assert Rider.objects.get(pk=rider.pk).email_verified_at is None


@pytest.mark.django_db(transaction=True)
def test_a_changed_address_is_unconfirmed_until_its_own_link_is_opened(mail_server, auth_client):
    rider = RiderFactory(email_verified_at=timezone.now())
    client = auth_client(rider)

    response = client.patch(ME, {"email": "New.Address@Example.com"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["email"] == "New.Address@example.com"
    assert body["email_verified"] is False
    assert body["verification_mail"]["status"] == "sent"
    [mail] = mail_server.wait_for(to="New.Address@example.com")
    assert mail_server.mails(to=rider.email) == []
    confirmed = APIClient().post(VERIFY, {"token": link_token(mail, LINK_PATH)}, format="json")
    assert confirmed.json() == {"email": "New.Address@example.com", "email_verified": True}


@pytest.mark.django_db
def test_a_change_of_letter_case_keeps_the_address_confirmed(auth_client):
    rider = RiderFactory(email="ana@example.com", email_verified_at=timezone.now())

    response = auth_client(rider).patch(ME, {"email": "ANA@example.com"}, format="json")

    assert response.status_code == 200
    assert response.json()["email_verified"] is True
    assert response.json()["verification_mail"] is None
    assert not Mail.objects.exists()


@pytest.mark.django_db
def test_a_profile_change_without_a_new_address_mails_nothing(auth_client, rider):
    response = auth_client(rider).patch(ME, {"display_name": "Night Owl"}, format="json")

    assert response.json()["verification_mail"] is None
    assert not Mail.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_resent_link_replaces_the_earlier_one(mail_server, auth_client, rider):
    first = _issue(rider)

    response = auth_client(rider).post(RESEND)

    assert response.status_code == 202, response.content
    assert response.json() == {"status": "sent", "next_attempt_at": None}
    [mail] = mail_server.wait_for(to=rider.email)
    api_error(APIClient().post(VERIFY, {"token": first}, format="json"), 410, "token_superseded")
    newest = APIClient().post(VERIFY, {"token": link_token(mail, LINK_PATH)}, format="json")
    assert newest.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_resending_while_the_mail_server_is_down_says_queued(mail_server_down, auth_client, rider):
    response = auth_client(rider).post(RESEND)

    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert response.json()["next_attempt_at"] is not None


@pytest.mark.django_db
def test_resending_to_a_confirmed_address_is_409(auth_client):
    rider = RiderFactory(email_verified_at=timezone.now())

    api_error(auth_client(rider).post(RESEND), 409, "email_already_verified")

    assert not Mail.objects.exists()


@pytest.mark.django_db
def test_resending_takes_no_body(auth_client, rider):
    response = auth_client(rider).post(RESEND, {"email": "x@example.com"}, format="json")

    api_error(response, 400, "invalid_request")


@pytest.mark.django_db
@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "verification_mail": "3/hour"})
def test_confirmation_mails_are_limited_per_account_whatever_asks_for_them(auth_client, rider):
    client = auth_client(rider)
    assert client.post(RESEND).status_code == 202
    assert client.patch(ME, {"email": "second@example.com"}, format="json").status_code == 200
    assert client.post(RESEND).status_code == 202

    limited = client.post(RESEND)
    error = api_error(limited, 429, "rate_limited")
    assert 0 < error["retry_after_seconds"] <= 3600
    assert int(limited["Retry-After"]) == error["retry_after_seconds"]
    # A new address is refused too, and stays unchanged: nobody is mailed through us at will.
    api_error(client.patch(ME, {"email": "third@example.com"}, format="json"), 429, "rate_limited")
    assert Rider.objects.get(pk=rider.pk).email == "second@example.com"
    assert Mail.objects.count() == 3
    # Another account has its own window.
    assert auth_client(RiderFactory()).post(RESEND).status_code == 202


@pytest.mark.django_db
@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "verification_mail": "1/hour"})
def test_a_refused_address_change_gives_its_place_in_the_window_back(auth_client, rider):
    taken = RiderFactory(email="taken@example.com")
    client = auth_client(rider)

    api_error(client.patch(ME, {"email": taken.email}, format="json"), 409, "email_taken")

    assert client.post(RESEND).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_two_uses_of_one_link_at_once_confirm_once(rider):
    key = _issue(rider)

    def use():
        return APIClient().post(VERIFY, {"token": key}, format="json")

    responses = race([use, use])

    assert sorted(r.status_code for r in responses) == [200, 410]
    [loser] = [r for r in responses if r.status_code == 410]
    api_error(loser, 410, "token_used")
    assert EmailToken.objects.get(rider=rider).used_at is not None


@pytest.mark.django_db
def test_a_deactivated_riders_link_is_refused(api_client):
    rider = RiderFactory(is_active=False)
    key = _issue(rider)

    api_error(api_client.post(VERIFY, {"token": key}, format="json"), 400, "token_invalid")


@pytest.mark.django_db
def test_the_own_address_typed_with_spaces_is_no_change(auth_client):
    rider = RiderFactory(email="ana@example.com", email_verified_at=timezone.now())

    response = auth_client(rider).patch(ME, {"email": "  ana@EXAMPLE.com "}, format="json")

    assert response.json()["email_verified"] is True
    assert response.json()["verification_mail"] is None
    assert not EmailToken.objects.exists()
