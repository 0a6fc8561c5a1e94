"""Collectors: one module per source kind, one small protocol, an explicit list of built-ins.

Each collector only reads its source and returns facts; it never decides anything.
Extra collectors come through the entry-point group `ownership_agent.collectors`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Protocol

from collectors.facts import SourceFacts

ENTRY_POINT_GROUP = "ownership_agent.collectors"


@dataclass
class Collected:
    """What one collection of one source returned."""

    facts: SourceFacts
    observed_at: datetime | None = None  # when the source itself observed them (recordings), else now
    detail: str | None = None
    # a digest of everything the facts depend on (the code, the config, each input file's content) when they
    # came from or were just written to an on-disk cache; None otherwise (see SourceStatus.facts_key)
    facts_key: str | None = None
    # reads the store's text of the facts (agent.store.codec's form) when the collector has one at hand (the
    # forked PagerDuty parse writes it); None (or a reader answering None): the store serialises the facts
    stored_text: Callable[[], str | None] | None = None


class Collector(Protocol):
    """A source kind: its name, typed config, and `collect()`."""

    kind: ClassVar[str]
    name: str

    def collect(self) -> Collected:
        """Read the source; raise OwnershipError subclasses on failure."""
        ...


class SourceCollector:
    """The shared constructor: a source's typed config, the folder its paths are relative to, and
    the I/O handed in (`http_transport=` for tests against local servers; `now=`, `previous_facts=`)."""

    kind: ClassVar[str]

    def __init__(self, config: Any, base: Path, **io: Any):
        self.config = config
        self.name: str = config.name
        self.base = base
        self.io = io
        self.transport: Any = io.get("http_transport")


class CollectorFactory(Protocol):
    kind: ClassVar[str]

    def __call__(self, config: Any, base: Path, **io: Any) -> Collector: ...


def builtin() -> tuple[type, ...]:
    from collectors.alertmanager import AlertmanagerCollector
    from collectors.catalog import CatalogCollector
    from collectors.pagerduty import PagerDutyCollector
    from collectors.postgres import PostgresCollector
    from collectors.prometheus import PrometheusCollector
    from collectors.prometheus_signals import SignalsCollector
    from collectors.slo import SLOCollector

    return (
        CatalogCollector,
        PrometheusCollector,
        AlertmanagerCollector,
        PagerDutyCollector,
        SLOCollector,
        SignalsCollector,
        PostgresCollector,
    )


def registry() -> dict[str, Any]:
    """kind -> collector class: the built-ins, then plugins (which may not replace a built-in)."""
    reg: dict[str, Any] = {c.kind: c for c in builtin()}  # type: ignore[attr-defined]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        if cls.kind not in reg:
            reg[cls.kind] = cls
    return reg


def expand_globs(base: Path, patterns: list[str]) -> list[Path]:
    """Files matching the globs, relative to base, sorted; a literal path that is missing is kept (so it errors)."""
    out: list[Path] = []
    for pat in patterns:
        p = Path(pat)
        root = p if p.is_absolute() else base / p
        if any(ch in pat for ch in "*?["):
            anchor = Path(root.anchor) if root.is_absolute() else base
            rel = str(root.relative_to(anchor)) if root.is_absolute() else pat
            out.extend(sorted(anchor.glob(rel)))
        else:
            out.append(root)
    seen: set[Path] = set()
    return [p for p in out if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]
