"""The checks, listed explicitly (one module each; ids are constants and unique)."""

from __future__ import annotations

from rules.checks.own000_source_stale import SourceStale
from rules.checks.own001_no_owner import NoOwner

CHECKS: tuple[type, ...] = (
    SourceStale,
    NoOwner,
)
