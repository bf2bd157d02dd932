"""Registration, log-in, tokens and their rate limits, through the HTTP API."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from riders.auth_tokens import token_digest
from riders.models import AuthToken, Rider
from tests.api.assertions import api_error
from tests.riders.factories import TEST_PASSWORD, RiderFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
LOGIN = "/api/v1/auth/login/"
LOGOUT = "/api/v1/auth/logout/"
LOGOUT_ALL = "/api/v1/auth/logout-all/"
ME = "/api/v1/riders/me/"
STRONG_PASSWORD = "gravel-Road-77"
SQL = "'; DROP TABLE riders_rider; --"
GENEROUS_RATES = {
    "rider": "1000/min",
    "credentials_ip": "1000/min",
    "credentials_account": "1000/min",
}


def _registration(**overrides) -> dict:
    values = {
        "username": "alpine_rider",
        "email": "alpine@example.com",
        "password": STRONG_PASSWORD,
    }
    return {**values, **overrides}


def _bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def _log_in(client: APIClient, username: str, password: str = TEST_PASSWORD, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, format="json", **extra)


# --- Registration ---------------------------------------------------------------------------


def test_register_returns_the_rider_and_a_working_token(api_client):
    response = api_client.post(
        REGISTER, _registration(display_name="Alpine", device_name="Pixel 8"), format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["rider"]["username"] == "alpine_rider"
    assert body["rider"]["email"] == "alpine@example.com"
    assert body["rider"]["display_name"] == "Alpine"
    assert body["token"]["device_name"] == "Pixel 8"
    key = body["token"]["key"]
    assert key.startswith("cvy_")
    me = _bearer(key).get(ME)
    assert me.status_code == 200
    assert me.json()["id"] == body["rider"]["id"]


def test_register_stores_only_a_digest_of_the_token(api_client):
    key = api_client.post(REGISTER, _registration(), format="json").json()["token"]["key"]

    token = AuthToken.objects.get(user__username="alpine_rider")
    assert token.key_digest == token_digest(key)
    assert token.key_digest != key
    assert token.key_prefix == key[:12]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {AuthToken._meta.db_table} AS t WHERE t::text LIKE %s",
            [f"%{key[12:]}%"],
        )
        assert cursor.fetchone()[0] == 0


def test_register_username_taken_in_another_case(api_client):
    RiderFactory(username="alpine_rider")

    response = api_client.post(
        REGISTER, _registration(username="ALPINE_Rider", email="new@example.com"), format="json"
    )

    error = api_error(response, 409, "username_taken")
    assert "username" in error["fields"]


def test_register_email_taken_in_another_case(api_client):
    RiderFactory(username="someone", email="alpine@example.com")

    response = api_client.post(REGISTER, _registration(email="Alpine@EXAMPLE.com"), format="json")

    error = api_error(response, 409, "email_taken")
    assert "email" in error["fields"]


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"username": "ab"}, "invalid_rider", "username"),
        ({"username": "-starts-with-dash"}, "invalid_rider", "username"),
        ({"username": "x" * 33}, "invalid_rider", "username"),
        ({"username": "   "}, "invalid_rider", "username"),
        ({"email": "not-an-email"}, "invalid_rider", "email"),
        ({"email": "a@b"}, "invalid_rider", "email"),
        ({"password": "short1!"}, "weak_password", "password"),
        ({"password": "password123"}, "weak_password", "password"),
        ({"password": "8675309123"}, "weak_password", "password"),
        ({"password": "alpine_rider1"}, "weak_password", "password"),
        ({"display_name": "x" * 65}, "invalid_rider", "display_name"),
        ({"display_name": "bell\u0007"}, "invalid_rider", "display_name"),
    ],
)
def test_register_breaking_a_rule_is_422_with_fields(api_client, overrides, code, field):
    response = api_client.post(REGISTER, _registration(**overrides), format="json")

    error = api_error(response, 422, code)
    assert field in error["fields"]
    assert not Rider.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "a@example.com", "password": STRONG_PASSWORD}, "username"),
        ({"username": "alpine_rider", "email": "a@example.com"}, "password"),
        (_registration(username=["alpine"]), "username"),
        (_registration(username={"name": "alpine"}), "username"),
        (_registration(email=True), "email"),
        (_registration(password=None), "password"),
        (_registration(is_staff=True), "is_staff"),
        (_registration(nickname="al"), "nickname"),
    ],
)
def test_register_malformed_request_is_400(api_client, payload, field):
    response = api_client.post(REGISTER, payload, format="json")

    error = api_error(response, 400, "invalid_request")
    assert field in error["fields"]
    assert not Rider.objects.exists()


def test_register_body_that_is_not_an_object_is_400(api_client):
    response = api_client.post(REGISTER, ["alpine_rider"], format="json")

    api_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "username",
    [
        "\u0430lpine_rider",
        "alpin\u0435_rider",
        "\u0430lp\u0456n\u0435_r\u0456d\u0435r",
        "\u0391\u0392\u0393rider",
    ],
)
def test_register_homoglyph_username_is_422(api_client, username):
    # Cyrillic a/e/i (U+0430, U+0435, U+0456) and Greek capitals look like Latin letters: never part of a username.
    RiderFactory(username="alpine_rider")

    response = api_client.post(
        REGISTER, _registration(username=username, email="twin@example.com"), format="json"
    )

    error = api_error(response, 422, "invalid_rider")
    assert "username" in error["fields"]
    assert Rider.objects.count() == 1


def test_register_fullwidth_username_normalises_and_collides(api_client):
    RiderFactory(username="alpine")

    response = api_client.post(
        REGISTER, _registration(username="\uff21\uff2c\uff30\uff29\uff2e\uff25"), format="json"
    )

    api_error(response, 409, "username_taken")


@pytest.mark.parametrize("field", ["username", "email"])
def test_register_sql_text_in_identity_fields_is_refused(api_client, field):
    response = api_client.post(REGISTER, _registration(**{field: SQL}), format="json")

    error = api_error(response, 422, "invalid_rider")
    assert field in error["fields"]
    assert Rider.objects.count() == 0
    assert Rider._meta.db_table in connection.introspection.table_names()


def test_register_sql_text_is_stored_verbatim_where_it_is_allowed(api_client):
    response = api_client.post(
        REGISTER,
        _registration(display_name=SQL, device_name=SQL, password=SQL + " 2026"),
        format="json",
    )

    assert response.status_code == 201, response.content
    rider = Rider.objects.get()
    assert rider.display_name == SQL
    assert AuthToken.objects.get().device_name == SQL
    assert response.json()["rider"]["display_name"] == SQL
    login = _log_in(APIClient(), "alpine_rider", SQL + " 2026")
    assert login.status_code == 200
    assert set(connection.introspection.table_names()) >= {
        Rider._meta.db_table,
        AuthToken._meta.db_table,
    }


# --- Log-in ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["roadrunner", "ROADRUNNER", "RoadRunner"])
def test_log_in_by_username_in_any_case(api_client, spelling):
    rider = RiderFactory(username="roadrunner")

    response = _log_in(api_client, spelling)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["rider"]["id"] == str(rider.pk)
    assert body["token"]["key"].startswith("cvy_")


@pytest.mark.parametrize("spelling", ["road@example.com", "ROAD@Example.COM"])
def test_log_in_by_email(api_client, spelling):
    rider = RiderFactory(username="roadrunner", email="road@example.com")

    response = _log_in(api_client, spelling)

    assert response.status_code == 200, response.content
    assert response.json()["rider"]["id"] == str(rider.pk)


def test_each_log_in_issues_a_new_token_per_device(api_client):
    rider = RiderFactory(username="roadrunner")

    first = api_client.post(
        LOGIN,
        {"username": "roadrunner", "password": TEST_PASSWORD, "device_name": "phone"},
        format="json",
    ).json()["token"]
    second = api_client.post(
        LOGIN,
        {"username": "roadrunner", "password": TEST_PASSWORD, "device_name": "tablet"},
        format="json",
    ).json()["token"]

    assert first["key"] != second["key"]
    assert sorted(rider.auth_tokens.values_list("device_name", flat=True)) == ["phone", "tablet"]
    assert _bearer(first["key"]).get(ME).status_code == 200
    assert _bearer(second["key"]).get(ME).status_code == 200


def test_log_in_with_wrong_password_is_401(api_client):
    RiderFactory(username="roadrunner")

    response = _log_in(api_client, "roadrunner", "not-the-password")

    api_error(response, 401, "invalid_credentials")
    assert not AuthToken.objects.exists()


@pytest.mark.parametrize("unknown", ["nobody", "nobody@example.com", SQL])
def test_log_in_unknown_account_is_401_with_the_same_message(api_client, unknown):
    RiderFactory(username="roadrunner")
    wrong_password = api_error(
        _log_in(api_client, "roadrunner", "not-the-password"), 401, "invalid_credentials"
    )

    response = _log_in(api_client, unknown, "not-the-password")

    assert api_error(response, 401, "invalid_credentials") == wrong_password
    assert Rider.objects.count() == 1


def test_inactive_rider_cannot_log_in(api_client):
    RiderFactory(username="retired", is_active=False)

    response = _log_in(api_client, "retired")

    api_error(response, 401, "invalid_credentials")
    assert not AuthToken.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "roadrunner"},
        {"username": "roadrunner", "password": ["x"]},
        {"username": "roadrunner", "password": TEST_PASSWORD, "remember": True},
    ],
)
def test_log_in_malformed_request_is_400(api_client, payload):
    RiderFactory(username="roadrunner")

    api_error(api_client.post(LOGIN, payload, format="json"), 400, "invalid_request")


# --- Tokens ---------------------------------------------------------------------------------


def test_token_of_a_deactivated_rider_stops_working(auth_client, rider):
    client = auth_client(rider)
    Rider.objects.filter(pk=rider.pk).update(is_active=False)

    api_error(client.get(ME), 401, "authentication_failed")


def test_expired_token_is_401(auth_client, rider):
    client = auth_client(rider)
    past = timezone.now() - timedelta(days=1)
    AuthToken.objects.filter(user=rider).update(
        created_at=past - timedelta(days=90), expires_at=past
    )

    response = client.get(ME)

    api_error(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer cvy_a cvy_b",
        "Bearer not-a-convoy-key",
        "Bearer cvy_" + "x" * 200,
        "Bearer cvy_doesnotexist",
        "bearer cvy_doesnotexist",
    ],
)
def test_malformed_or_unknown_bearer_token_is_401(api_client, rider, header):
    response = api_client.get(ME, HTTP_AUTHORIZATION=header)

    api_error(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Token abc", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "cvy_abc"])
def test_other_authorization_schemes_are_anonymous(api_client, header):
    response = api_client.get(ME, HTTP_AUTHORIZATION=header)

    api_error(response, 401, "not_authenticated")


def test_no_authorization_header_is_401_with_bearer_challenge(api_client):
    response = api_client.get(ME)

    api_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="convoy"'


def test_first_use_of_a_token_records_last_used_at(auth_client, rider):
    client = auth_client(rider)

    assert client.get(ME).status_code == 200

    assert AuthToken.objects.get(user=rider).last_used_at is not None


# --- Log-out --------------------------------------------------------------------------------


def test_log_out_revokes_only_that_token(auth_client, rider, other_rider):
    phone = auth_client(rider, device_name="phone")
    tablet = auth_client(rider, device_name="tablet")
    stranger = auth_client(other_rider)

    response = phone.post(LOGOUT)

    assert response.status_code == 204
    api_error(phone.get(ME), 401, "authentication_failed")
    assert tablet.get(ME).status_code == 200
    assert stranger.get(ME).status_code == 200
    assert list(rider.auth_tokens.values_list("device_name", flat=True)) == ["tablet"]


def test_log_out_everywhere_revokes_every_token_of_the_rider(auth_client, rider, other_rider):
    phone = auth_client(rider, device_name="phone")
    tablet = auth_client(rider, device_name="tablet")
    stranger = auth_client(other_rider)

    response = phone.post(LOGOUT_ALL)

    assert response.status_code == 200
    assert response.json() == {"signed_out_devices": 2}
    api_error(phone.get(ME), 401, "authentication_failed")
    api_error(tablet.get(ME), 401, "authentication_failed")
    assert stranger.get(ME).status_code == 200


def test_log_out_needs_a_token(api_client):
    api_error(api_client.post(LOGOUT), 401, "not_authenticated")
    api_error(api_client.post(LOGOUT_ALL), 401, "not_authenticated")


# --- Rate limits ----------------------------------------------------------------------------


@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "credentials_ip": "3/min"})
def test_fourth_log_in_from_one_address_is_rate_limited(api_client):
    RiderFactory(username="roadrunner")
    for _ in range(3):
        assert _log_in(api_client, "roadrunner", "wrong-password").status_code == 401

    response = _log_in(api_client, "roadrunner")

    error = api_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) > 0
    assert error["retry_after_seconds"] > 0
    other_address = _log_in(api_client, "roadrunner", REMOTE_ADDR="10.0.0.9")
    assert other_address.status_code == 200


@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "credentials_ip": "3/min"})
def test_fourth_registration_from_one_address_is_rate_limited(api_client):
    for n in range(3):
        response = api_client.post(
            REGISTER, _registration(username=f"rider{n}", email=f"r{n}@example.com"), format="json"
        )
        assert response.status_code == 201, response.content

    response = api_client.post(REGISTER, _registration(), format="json")

    api_error(response, 429, "rate_limited")
    assert "Retry-After" in response
    assert Rider.objects.count() == 3


@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "credentials_account": "3/min"})
def test_log_in_attempts_on_one_account_are_limited_whatever_the_address(api_client):
    RiderFactory(username="roadrunner")
    RiderFactory(username="bystander")
    for n, spelling in enumerate(["roadrunner", "RoadRunner", " ROADRUNNER "]):
        response = _log_in(api_client, spelling, "wrong", REMOTE_ADDR=f"10.0.0.{n + 1}")
        assert response.status_code == 401

    response = _log_in(api_client, "roadrunner", REMOTE_ADDR="10.0.0.99")

    api_error(response, 429, "rate_limited")
    assert "Retry-After" in response
    assert _log_in(api_client, "bystander", REMOTE_ADDR="10.0.0.99").status_code == 200


@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "credentials_account": "3/min"})
def test_per_account_limit_cannot_be_dodged_with_fullwidth_spellings(api_client):
    RiderFactory(username="roadrunner")
    # U+FF52 and U+FF4F are full-width r and o: NFKC turns them into plain r and o.
    spellings = ["roadrunner", "\uff52oadrunner", "r\uff4fadrunner", "ro\uff41drunner"]
    for n, spelling in enumerate(spellings[:3]):
        response = _log_in(api_client, spelling, "wrong", REMOTE_ADDR=f"10.0.0.{n + 1}")
        assert response.status_code == 401

    response = _log_in(api_client, spellings[3], REMOTE_ADDR="10.0.0.99")

    api_error(response, 429, "rate_limited")


@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "credentials_account": "3/min"})
def test_per_account_limit_counts_a_username_sent_as_a_number(api_client):
    RiderFactory(username="20262027")
    for n in range(3):
        response = api_client.post(
            LOGIN,
            {"username": 20262027, "password": "wrong"},
            format="json",
            REMOTE_ADDR=f"10.0.0.{n + 1}",
        )
        # A username is a JSON string; the attempt is refused, and still counted.
        assert response.status_code == 400

    response = api_client.post(
        LOGIN,
        {"username": "20262027", "password": TEST_PASSWORD},
        format="json",
        REMOTE_ADDR="10.0.0.99",
    )

    api_error(response, 429, "rate_limited")


@override_settings(API_THROTTLE_RATES={**GENEROUS_RATES, "rider": "3/min"})
def test_general_rider_rate_limits_authenticated_requests(auth_client, rider, other_rider):
    client = auth_client(rider)
    for _ in range(3):
        assert client.get(ME).status_code == 200

    response = client.get(ME)

    api_error(response, 429, "rate_limited")
    assert "Retry-After" in response
    assert auth_client(other_rider).get(ME).status_code == 200
