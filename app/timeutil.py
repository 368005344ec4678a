"""One clock for the whole server (naive UTC, as stored in the database)."""

from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def in_seconds(seconds: int) -> datetime:
    return utcnow() + timedelta(seconds=seconds)
