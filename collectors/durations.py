"""Prometheus duration syntax (`1h30m`, `7d`, `500ms`)."""

from __future__ import annotations

import re

_UNITS = {"y": 365 * 86400.0, "w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
# ASCII digits only, as Go's model.ParseDuration (`\d` alone took "１s" as a second)
_DURATION = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$", re.ASCII)


def parse_duration(value: str | int | float) -> float:
    """Seconds in a Prometheus duration; raises ValueError on anything Prometheus would refuse."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value == 0:
            return 0.0
        raise ValueError(f"not a valid duration string: {value!r} (a unit is required)")
    s = str(value).strip()
    if s == "0":
        return 0.0
    m = _DURATION.match(s)
    if not s or not m:
        raise ValueError(f"not a valid duration string: {s!r}")
    groups = m.groups()
    total = 0.0
    for unit, idx in zip(["y", "w", "d", "h", "m", "s", "ms"], range(1, 14, 2), strict=True):
        if groups[idx]:
            total += int(groups[idx]) * _UNITS[unit]
    return total


def parse_go_duration(value: str | int | float) -> float:
    """`parse_duration` as Prometheus and Alertmanager read their files (model.Duration): no blank around it
    (`" 30s"` is refused there; the agent's own config is lenient)."""
    if isinstance(value, str) and value != value.strip():
        raise ValueError(f"not a valid duration string: {value!r}")
    return parse_duration(value)


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration for a number of seconds."""
    if seconds == 0:
        return "0s"
    ms = int(round(seconds * 1000))
    out = ""
    for unit, size in (("w", 7 * 86400000), ("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000), ("ms", 1)):
        if ms >= size:
            n, ms = divmod(ms, size)
            out += f"{n}{unit}"
    return out
