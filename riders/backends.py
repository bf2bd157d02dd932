from django.contrib.auth.backends import ModelBackend

from riders.models import Rider
from riders.selectors import rider_find_by_login


class UsernameOrEmailBackend(ModelBackend):
    """Riders log in with their username or their email, in any letter case."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not isinstance(username, str) or not isinstance(password, str) or not username:
            return None
        rider = rider_find_by_login(identifier=username)
        if rider is None:
            # Hash anyway so a missing account takes as long as a wrong password.
            Rider().set_password(password)
            return None
        if rider.check_password(password) and self.user_can_authenticate(rider):
            return rider
        return None
