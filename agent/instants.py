"""The bounds the CLI and the API put on the instants and windows a question names (one rule for both)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

MAX_WINDOW_S = 90 * 86400  # an engineer's window: the on-call spans ahead are read for each of its instants


def iso_only(v: Any) -> Any:
    """Refuse a number where an ISO 8601 instant is asked (pydantic reads `1700000000` as Unix seconds, and
    a larger one as milliseconds: `?since=99999999999` was 1973)."""
    if isinstance(v, (int, float)) or (isinstance(v, str) and v.strip().lstrip("-").replace(".", "", 1).isdigit()):
        raise ValueError("an ISO 8601 instant with a UTC offset, e.g. 2026-11-16T09:30:00+00:00, not a number")
    return v


def instant_problem(t: datetime) -> str | None:
    """Why `t` cannot be asked about (None when it can): it needs a UTC offset and a year from 1970 to 9000,
    so that windows around it cannot overflow."""
    if t.tzinfo is None or t.utcoffset() is None:
        example = t.replace(tzinfo=UTC).isoformat()
        return f"the instant needs a UTC offset, e.g. {example}"
    try:
        year = t.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not 1970 <= year <= 9000:
        return "the instant must be between 1970 and 9000"
    return None


def window_problem(seconds: float) -> str | None:
    """Why an engineer's window cannot be asked about (None when it can)."""
    if not 0 < seconds <= MAX_WINDOW_S:
        return "must be more than 0 and at most 90d"
    return None
