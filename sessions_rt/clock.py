"""Times in the live state: epoch milliseconds in Redis, aware datetimes and ISO 8601 outside."""

from datetime import UTC, datetime

from django.utils import timezone


def to_ms(moment: datetime | None) -> int:
    """``moment`` (default: now) as whole epoch milliseconds."""
    return int((moment or timezone.now()).timestamp() * 1000)


def from_ms(ms: int | float | bytes | str) -> datetime:
    return datetime.fromtimestamp(int(float(ms)) / 1000, tz=UTC)


def iso(moment: datetime) -> str:
    """The ISO 8601 form the REST API also uses (UTC, ``Z``), to the millisecond."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_from_ms(ms: int | float | bytes | str) -> str:
    return iso(from_ms(ms))
