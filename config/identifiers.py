import uuid

from config.errors import InvalidIdentifier


def parse_uuid(value: object, *, what: str) -> uuid.UUID:
    """Accept a UUID or its text form; anything else is a malformed identifier."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value.strip())
        except ValueError:
            pass
    raise InvalidIdentifier(f"{what} must be a UUID.", fields={what: ["Not a valid UUID."]})
