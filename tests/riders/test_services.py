import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import identify_hasher
from django.test import override_settings

from riders.errors import EmailTaken, InvalidRiderData, UsernameTaken, WeakPassword, WrongPassword
from riders.models import Rider
from riders.services import rider_change_password, rider_create, rider_update
from tests.riders.factories import TEST_PASSWORD, RiderFactory

STRONG_PASSWORD = "gravel-switchback-77"
ARGON2 = "django.contrib.auth.hashers.Argon2PasswordHasher"

pytestmark = pytest.mark.django_db


def _create(**overrides) -> Rider:
    values = {"username": "easy.rider", "email": "easy@example.com", "password": STRONG_PASSWORD}
    return rider_create(**(values | overrides))


# --- rider_create -------------------------------------------------------------------------


def test_create_stores_the_rider_with_a_hashed_checkable_password():
    created = _create(display_name="Easy")

    stored = Rider.objects.get(pk=created.pk)
    assert (stored.username, stored.email, stored.display_name) == (
        "easy.rider",
        "easy@example.com",
        "Easy",
    )
    assert stored.password != STRONG_PASSWORD
    assert STRONG_PASSWORD not in stored.password
    assert stored.check_password(STRONG_PASSWORD)
    assert not stored.check_password(STRONG_PASSWORD.upper())
    assert stored.is_active
    assert not stored.is_staff
    assert not stored.is_superuser


def test_create_normalises_username_email_and_display_name():
    created = _create(
        username="  Easy.Rider ", email=" Easy@Example.COM ", display_name="  Easy   Rider "
    )

    stored = Rider.objects.get(pk=created.pk)
    assert stored.username == "Easy.Rider"
    assert stored.email == "Easy@example.com"
    assert stored.display_name == "Easy Rider"


def test_create_without_password_makes_an_account_that_cannot_log_in():
    created = _create(password=None)

    stored = Rider.objects.get(pk=created.pk)
    assert not stored.has_usable_password()
    assert authenticate(username="easy.rider", password="") is None


def test_create_superuser_through_the_manager_makes_a_staff_superuser():
    admin = Rider.objects.create_superuser("Chief", "chief@example.com", STRONG_PASSWORD)

    stored = Rider.objects.get(pk=admin.pk)
    assert stored.is_staff
    assert stored.is_superuser
    assert stored.check_password(STRONG_PASSWORD)


@pytest.mark.parametrize(
    "username",
    [
        "EASY.RIDER",
        "easy.rider",
        " Easy.Rider ",
        pytest.param("\uff45\uff41\uff53\uff59.\uff52\uff49\uff44\uff45\uff52", id="full-width"),
    ],
)
def test_create_refuses_a_username_taken_in_any_case(username):
    _create()

    with pytest.raises(UsernameTaken) as excinfo:
        _create(username=username, email="other@example.com")

    assert excinfo.value.code == "username_taken"
    assert excinfo.value.status == 409
    assert "username" in excinfo.value.fields
    assert Rider.objects.count() == 1


@pytest.mark.parametrize("email", ["EASY@example.com", "easy@EXAMPLE.com", "Easy@Example.Com"])
def test_create_refuses_an_email_taken_in_any_case(email):
    _create()

    with pytest.raises(EmailTaken) as excinfo:
        _create(username="someone.else", email=email)

    assert excinfo.value.code == "email_taken"
    assert "email" in excinfo.value.fields
    assert Rider.objects.count() == 1


def test_create_maps_the_unique_index_to_username_taken_when_the_check_is_raced(monkeypatch):
    _create()
    # As if a concurrent registration committed between the friendly check and the insert.
    monkeypatch.setattr("riders.services.rider_find_by_username", lambda username: None)

    with pytest.raises(UsernameTaken):
        _create(username="EASY.RIDER", email="other@example.com")

    assert Rider.objects.count() == 1


def test_create_maps_the_unique_index_to_email_taken_when_the_check_is_raced(monkeypatch):
    _create()
    monkeypatch.setattr("riders.services.rider_find_by_email", lambda email: None)

    with pytest.raises(EmailTaken):
        _create(username="someone.else", email="EASY@EXAMPLE.COM")

    assert Rider.objects.count() == 1


@pytest.mark.parametrize(
    "username",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param(None, id="none"),
        pytest.param("ab", id="too-short"),
        pytest.param("r" * 33, id="too-long"),
        pytest.param("\u0430dmin", id="cyrillic-homoglyph"),
        pytest.param("easy rider", id="space"),
    ],
)
def test_create_rejects_an_invalid_username(username):
    with pytest.raises(InvalidRiderData) as excinfo:
        _create(username=username)

    assert excinfo.value.code == "invalid_rider"
    assert excinfo.value.status == 422
    assert list(excinfo.value.fields) == ["username"]


def test_create_does_not_let_a_homoglyph_pose_as_an_existing_rider():
    _create(username="admin", email="admin@example.com")

    with pytest.raises(InvalidRiderData):
        _create(username="\u0430dmin", email="fake@example.com")

    assert list(Rider.objects.values_list("username", flat=True)) == ["admin"]


@pytest.mark.parametrize("email", ["", None, "not-an-email", "easy@", "@example.com", "a b@c.de"])
def test_create_rejects_an_invalid_email(email):
    with pytest.raises(InvalidRiderData) as excinfo:
        _create(email=email)

    assert list(excinfo.value.fields) == ["email"]


def test_create_reports_every_invalid_field_at_once():
    with pytest.raises(InvalidRiderData) as excinfo:
        _create(username="x", email="nope", display_name="bad\x00")

    assert set(excinfo.value.fields) == {"username", "email", "display_name"}


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("", id="empty"),
        pytest.param("Ab1-", id="too-short"),
        pytest.param("password", id="common"),
        pytest.param("84736251", id="numeric"),
        pytest.param("easy.rider", id="same-as-username"),
        pytest.param("x" * 257, id="too-long"),
        pytest.param("gravel-\ud800-switchback", id="lone-surrogate"),
        pytest.param(12345678, id="not-text"),
    ],
)
def test_create_rejects_a_weak_password(password):
    with pytest.raises(WeakPassword) as excinfo:
        _create(password=password)

    assert excinfo.value.code == "weak_password"
    assert list(excinfo.value.fields) == ["password"]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"username": "EASY.RIDER", "email": "new@example.com"}, UsernameTaken),
        ({"username": "new.rider", "email": "EASY@example.com"}, EmailTaken),
        ({"username": "\u0430dmin", "email": "new@example.com"}, InvalidRiderData),
        ({"username": "new.rider", "email": "broken"}, InvalidRiderData),
        ({"username": "new.rider", "email": "new@example.com", "password": "123"}, WeakPassword),
    ],
    ids=["username-taken", "email-taken", "bad-username", "bad-email", "weak-password"],
)
def test_create_writes_nothing_on_any_error(overrides, error):
    _create()
    before = list(Rider.objects.values_list("pk", "username", "email", "password"))

    with pytest.raises(error):
        _create(**overrides)

    assert list(Rider.objects.values_list("pk", "username", "email", "password")) == before


# --- rider_update -------------------------------------------------------------------------


def test_update_changes_the_given_fields_only(rider):
    before_email = rider.email
    before_updated_at = rider.updated_at

    rider_update(rider=rider, username=" New.Name ", display_name="  Night  Owl ")

    stored = Rider.objects.get(pk=rider.pk)
    assert stored.username == rider.username == "New.Name"
    assert stored.display_name == rider.display_name == "Night Owl"
    assert stored.email == before_email
    assert stored.updated_at > before_updated_at
    assert rider.updated_at == stored.updated_at


def test_update_with_nothing_to_change_runs_no_query(rider, exact_queries):
    with exact_queries(0):
        assert rider_update(rider=rider) is rider


def test_update_of_display_name_alone_looks_nothing_up(rider, exact_queries):
    # SAVEPOINT, UPDATE, RELEASE: no username or email look-up when neither changes.
    with exact_queries(3):
        rider_update(rider=rider, display_name="Quiet")


def test_update_normalises_email(rider):
    rider_update(rider=rider, email="New.Mail@Example.ORG")

    assert Rider.objects.get(pk=rider.pk).email == "New.Mail@example.org"


def test_update_to_own_username_in_another_case_is_allowed(rider):
    rider_update(rider=rider, username=rider.username.upper(), email=rider.email.upper())

    stored = Rider.objects.get(pk=rider.pk)
    assert stored.username == rider.username.upper()


@pytest.mark.parametrize(
    ("field", "error", "code"),
    [("username", UsernameTaken, "username_taken"), ("email", EmailTaken, "email_taken")],
)
def test_update_refuses_another_riders_name_or_email(rider, other_rider, field, error, code):
    before = Rider.objects.values().get(pk=rider.pk)
    original = getattr(rider, field)

    with pytest.raises(error) as excinfo:
        rider_update(rider=rider, **{field: getattr(other_rider, field).upper()})

    assert excinfo.value.code == code
    assert Rider.objects.values().get(pk=rider.pk) == before
    # The caller's object still describes what is stored.
    assert getattr(rider, field) == original


def test_update_maps_a_raced_unique_index_and_leaves_the_object_alone(
    rider, other_rider, monkeypatch
):
    original = rider.username
    monkeypatch.setattr("riders.services.rider_find_by_username", lambda username: None)

    with pytest.raises(UsernameTaken):
        rider_update(rider=rider, username=other_rider.username.swapcase())

    assert rider.username == original
    assert Rider.objects.get(pk=rider.pk).username == original


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"username": "\u0430dmin"}, "username"),
        ({"username": ""}, "username"),
        ({"email": "nope"}, "email"),
        ({"display_name": "x" * 65}, "display_name"),
    ],
)
def test_update_validates_like_create(rider, changes, field):
    before = Rider.objects.values().get(pk=rider.pk)

    with pytest.raises(InvalidRiderData) as excinfo:
        rider_update(rider=rider, **changes)

    assert list(excinfo.value.fields) == [field]
    assert Rider.objects.values().get(pk=rider.pk) == before


# --- rider_change_password ----------------------------------------------------------------


def test_change_password_replaces_the_password(rider):
    rider_change_password(rider=rider, current_password=TEST_PASSWORD, new_password=STRONG_PASSWORD)

    stored = Rider.objects.get(pk=rider.pk)
    assert stored.check_password(STRONG_PASSWORD)
    assert not stored.check_password(TEST_PASSWORD)


@pytest.mark.parametrize(
    "current",
    [
        pytest.param("not-the-password", id="wrong"),
        pytest.param(TEST_PASSWORD.upper(), id="wrong-case"),
        pytest.param("", id="empty"),
        pytest.param(None, id="none"),
        pytest.param("\ud800", id="lone-surrogate"),
    ],
)
def test_change_password_requires_the_current_password(rider, current):
    with pytest.raises(WrongPassword) as excinfo:
        rider_change_password(rider=rider, current_password=current, new_password=STRONG_PASSWORD)

    assert excinfo.value.code == "wrong_password"
    assert Rider.objects.get(pk=rider.pk).check_password(TEST_PASSWORD)


@pytest.mark.parametrize("new_password", ["short", "password", "12345678901", ""])
def test_change_password_rejects_a_weak_new_password(rider, new_password):
    with pytest.raises(WeakPassword) as excinfo:
        rider_change_password(
            rider=rider, current_password=TEST_PASSWORD, new_password=new_password
        )

    assert list(excinfo.value.fields) == ["new_password"]
    stored = Rider.objects.get(pk=rider.pk)
    assert stored.check_password(TEST_PASSWORD)


def test_change_password_rejects_a_password_like_the_username():
    rider = RiderFactory(username="mountainpass")

    with pytest.raises(WeakPassword):
        rider_change_password(
            rider=rider, current_password=TEST_PASSWORD, new_password="MountainPass"
        )


# --- logging in ---------------------------------------------------------------------------


def test_get_by_natural_key_ignores_letter_case():
    created = _create(username="Easy.Rider")

    assert Rider.objects.get_by_natural_key("EASY.RIDER").pk == created.pk
    assert Rider.objects.get_by_natural_key("easy.rider").pk == created.pk
    with pytest.raises(Rider.DoesNotExist):
        Rider.objects.get_by_natural_key("easy.rider2")


@pytest.mark.parametrize(
    "backends",
    [
        pytest.param(None, id="configured-backends"),
        pytest.param(["django.contrib.auth.backends.ModelBackend"], id="django-model-backend"),
    ],
)
def test_authenticate_accepts_the_username_in_another_case(backends):
    created = _create(username="Easy.Rider")
    overrides = {} if backends is None else {"AUTHENTICATION_BACKENDS": backends}

    with override_settings(**overrides):
        assert authenticate(username="eASY.rIDER", password=STRONG_PASSWORD) == created
        assert authenticate(username="easy.rider", password="wrong-password-1") is None


# --- password hashing ---------------------------------------------------------------------


def test_production_settings_hash_new_passwords_with_argon2():
    # The test settings swap in MD5 for speed; what ships is the base list.
    from config.settings.base import PASSWORD_HASHERS

    assert PASSWORD_HASHERS[0] == ARGON2


def test_argon2_hashes_and_verifies_a_real_password():
    with override_settings(PASSWORD_HASHERS=[ARGON2]):
        created = _create()
        stored = Rider.objects.get(pk=created.pk)

        assert stored.password.startswith("argon2")
        assert identify_hasher(stored.password).algorithm == "argon2"
        assert stored.check_password(STRONG_PASSWORD)
        assert not stored.check_password("gravel-switchback-78")
        assert authenticate(username="EASY.RIDER", password=STRONG_PASSWORD) == created
