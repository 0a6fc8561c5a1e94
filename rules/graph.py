"""The ownership graph: facts from every source joined by service, team, person and key (pure, no I/O)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from collectors.facts import (
    AlertmanagerFacts,
    CatalogFacts,
    PagerDutyFacts,
    PDOnCall,
    PostgresFacts,
    PrometheusFacts,
    Route,
    Rule,
    Service,
    SignalsFacts,
    SLOFacts,
    Snapshot,
)

T = TypeVar("T")


@dataclass
class SourcedRule:
    rule: Rule
    source: str


@dataclass
class OwnershipGraph:
    """Everything the rules engine reads, indexed; built once per snapshot."""

    snapshot: Snapshot
    catalog: CatalogFacts = field(default_factory=CatalogFacts)
    prometheus: dict[str, PrometheusFacts] = field(default_factory=dict)
    alertmanagers: dict[str, AlertmanagerFacts] = field(default_factory=dict)
    pagerduty: PagerDutyFacts = field(default_factory=PagerDutyFacts)
    slos: SLOFacts = field(default_factory=SLOFacts)
    signals: dict[str, SignalsFacts] = field(default_factory=dict)
    postgres: dict[str, PostgresFacts] = field(default_factory=dict)
    # indexes derived from the facts, built on first use (the facts are not changed after the build)
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def memo(self, key: Any, build: Callable[[], T]) -> T:
        """A value derived from the facts, computed once per graph (indexes shared by checks and answers)."""
        try:
            return self._memo[key]  # type: ignore[no-any-return]
        except KeyError:
            v = self._memo[key] = build()
            return v

    @classmethod
    def build(cls, snap: Snapshot) -> OwnershipGraph:
        g = cls(snapshot=snap)
        cat = CatalogFacts()
        pd = PagerDutyFacts()
        for res in snap.sources:
            f = res.facts
            name = res.status.name
            if f is None:
                continue
            if f.kind == "catalog":
                cat.services += f.services
                cat.teams += f.teams
                cat.people += f.people
            elif f.kind == "prometheus":
                g.prometheus[name] = f
            elif f.kind == "alertmanager":
                g.alertmanagers[name] = f
            elif f.kind == "pagerduty":
                for k in type(pd).model_fields:
                    if k != "kind":
                        getattr(pd, k).extend(getattr(f, k))
            elif f.kind == "slo":
                g.slos.slos += f.slos
                g.slos.generated_rules += f.generated_rules
            elif f.kind == "prometheus_signals":
                g.signals[name] = f
            elif f.kind == "postgres":
                g.postgres[name] = f
        g.catalog = cat
        g.pagerduty = pd
        return g

    # ------------------------------------------------------------------ catalog

    def _services_key(self) -> tuple[int, int]:
        # the catalog list is replaced or extended only while building: its identity and length key the indexes
        return id(self.catalog.services), len(self.catalog.services)

    def service(self, name: str) -> Service | None:
        key = ("service_by_name", self._services_key())
        by_name = self._memo.get(key)
        if by_name is None:
            by_name = {}
            for s in self.catalog.services:
                by_name.setdefault(s.name, s)  # the first of a name, as a linear scan finds it
            self._memo[key] = by_name
        return by_name.get(name)

    def _sourced(self, kind: str) -> list[SourcedRule]:
        # built once per graph, a new list each call (callers may change their list, not the rules): the
        # answers and checks ask 5 times per snapshot, 50,000 SourcedRule objects each time on L (0.2 s).
        # The Prometheus facts' identity and size key it, as `_services_key` does the catalog's.
        key = ("sourced_rules", kind, tuple((src, id(p.rules), len(p.rules)) for src, p in self.prometheus.items()))
        got = self.memo(
            key, lambda: [SourcedRule(r, src) for src, p in self.prometheus.items() for r in p.rules if r.type == kind]
        )
        return list(got)

    def alert_rules(self) -> list[SourcedRule]:
        return self._sourced("alerting")

    def recording_rules(self) -> list[SourcedRule]:
        return self._sourced("recording")

    def services_of_labels(self, labels: dict[str, str]) -> list[str]:
        """Services whose alert selectors the labels satisfy (an alert may match none)."""
        key = ("selector_index", self._services_key())
        got = self._memo.get(key)
        if got is None:
            # one (label, value) pair of every non-empty selector -> (catalog position, service, selector)
            index: dict[tuple[str, str], list[tuple[int, str, dict[str, str]]]] = {}
            selector_names: set[str] = set()
            for pos, s in enumerate(self.catalog.services):
                for sel in s.alert_selectors:
                    if sel:
                        k = min(sel)
                        index.setdefault((k, sel[k]), []).append((pos, s.name, sel))
                        selector_names.update(sel)
            # the answer reads only the labels some selector names: alerts agreeing on those share it
            answers: dict[tuple[str | None, ...], list[str]] = {}
            got = self._memo[key] = (index, tuple(sorted(selector_names)), answers)
        index, names, answers = got
        akey = tuple(map(labels.get, names))
        hit = answers.get(akey)
        if hit is None:
            hit = answers[akey] = self._services_of_labels(index, labels)
            if len(answers) > 100_000:
                answers.clear()
                answers[akey] = hit
        return list(hit)

    @staticmethod
    def _services_of_labels(
        index: dict[tuple[str, str], list[tuple[int, str, dict[str, str]]]], labels: dict[str, str]
    ) -> list[str]:
        hits: dict[int, str] = {}
        for kv in labels.items():
            for pos, name, sel in index.get(kv, ()):
                if pos not in hits and all(labels.get(k) == v for k, v in sel.items()):
                    hits[pos] = name
        return [hits[p] for p in sorted(hits)]

    # ------------------------------------------------------------------ routing tree

    @staticmethod
    def count_routes(route: Route) -> int:
        return 1 + sum(OwnershipGraph.count_routes(r) for r in route.routes)

    # ------------------------------------------------------------------ on call

    def oncall_at(self, at: datetime) -> list[PDOnCall]:
        """On-call entries holding at an instant (entries without bounds hold always)."""
        return [
            o for o in self.pagerduty.oncalls if (o.start is None or o.start <= at) and (o.end is None or at < o.end)
        ]

    def oncall_by_policy(self, at: datetime) -> dict[str, dict[int, list[str]]]:
        out: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
        for o in self.oncall_at(at):
            if o.user_id not in out[o.escalation_policy_id][o.escalation_level]:
                out[o.escalation_policy_id][o.escalation_level].append(o.user_id)
        return out
