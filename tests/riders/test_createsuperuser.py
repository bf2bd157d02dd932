"""An operator's `manage.py createsuperuser` holds the same username rule as sign-up."""

import pytest
from django.core.management import CommandError, call_command

from riders.models import Rider

pytestmark = pytest.mark.django_db


# "\u0440\u0430dmin" reads "padmin" but starts with two Cyrillic letters.
@pytest.mark.parametrize("username", ["bad name", "\u0440\u0430dmin", "ab", "-dash-", "x" * 33])
def test_a_username_the_app_would_refuse_is_refused(username, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long passphrase for the operator")

    with pytest.raises(CommandError):
        call_command("createsuperuser", "--noinput", username=username, email="ops@convoy.test")

    assert not Rider.objects.filter(email="ops@convoy.test").exists()


def test_a_good_username_makes_a_superuser(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long passphrase for the operator")

    call_command("createsuperuser", "--noinput", username="ops.lead", email="ops@convoy.test")

    admin = Rider.objects.get(username="ops.lead")
    assert (admin.is_staff, admin.is_superuser) == (True, True)
    assert admin.check_password("a long passphrase for the operator")
