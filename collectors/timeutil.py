"""Instants as the sources write them, and the one rule for naive datetimes (they are UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def as_utc(dt: datetime) -> datetime:
    """Naive datetimes are taken as UTC (facts are always aware; databases may drop the offset)."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def parse_instant(v: Any) -> datetime | None:
    """An ISO 8601 instant from an API answer (`Z` or an offset); None for null or empty."""
    if v in (None, ""):
        return None
    return datetime.fromisoformat(str(v).replace("Z", "+00:00"))
