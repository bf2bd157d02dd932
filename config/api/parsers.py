from django.conf import settings
from rest_framework.parsers import JSONParser

from config.api.exceptions import PayloadTooLarge


class BoundedJSONParser(JSONParser):
    """JSON bodies up to API_MAX_BODY_BYTES; a larger body is refused before it is parsed."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = settings.API_MAX_BODY_BYTES
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        return super().parse(stream, media_type, parser_context)
