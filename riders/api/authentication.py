from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from riders.auth_tokens import token_authenticate


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <key>`` with a per-device token issued at log-in."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        result = token_authenticate(key=header[1])
        if result is None:
            raise exceptions.AuthenticationFailed("The token is invalid or expired.")
        return result

    def authenticate_header(self, request):
        # Makes DRF answer 401 (with this challenge) rather than 403 to anonymous requests.
        return f'{self.keyword} realm="convoy"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "riders.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A per-device token."}
