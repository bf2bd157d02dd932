from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class BoundedJSONParser(JSONParser):
    """JSON that can be stored and echoed back: no pathological nesting, no lone surrogates.

    The body size limit is Django's DATA_UPLOAD_MAX_MEMORY_SIZE (API_MAX_BODY_BYTES), which
    answers 413 before parsing starts.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON nested too deeply.") from None
        if _has_lone_surrogate(data):
            raise exceptions.ParseError("Text contains an unpaired UTF-16 surrogate.")
        return data


def _has_lone_surrogate(value) -> bool:
    # "\ud800" is valid JSON but not valid Unicode text: PostgreSQL refuses to store it and
    # the response renderer cannot encode it, so it is refused at the door.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
