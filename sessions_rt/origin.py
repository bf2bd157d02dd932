from channels.security.websocket import OriginValidator
from django.conf import settings


class PhoneOrBrowserOriginValidator(OriginValidator):
    """Phones send no Origin header and are let through (they authenticate with a token);
    a browser page must come from one of ALLOWED_HOSTS, so no other site can open a socket
    with a rider's ambient credentials."""

    def __init__(self, application):
        super().__init__(application, settings.ALLOWED_HOSTS)

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)
