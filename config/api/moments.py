"""Moments taken from query parameters, always handed on in UTC.

Python accepts UTC offsets up to ±23:59 and PostgreSQL only up to ±15:59, and a moment at
the edge of the calendar (year 1 or 9999) may not exist in UTC at all: such values must be
refused as bad parameters before they reach a query, or they end in a 500.
"""

from datetime import UTC, datetime


def as_utc(moment: datetime) -> datetime | None:
    """The same moment in UTC; None when it has no time zone or cannot be expressed in UTC."""
    if moment.utcoffset() is None:
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def parse_utc(text: str) -> datetime | None:
    """An ISO 8601 date-time with an offset, in UTC; None for anything else."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return as_utc(moment)
