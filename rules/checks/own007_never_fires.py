"""OWN007: an alert that can never fire: its expr needs metrics that no series has."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from collectors.facts import SignalsFacts
from collectors.promql_metrics import selected_metrics, stays_empty
from rules.checks.own002_slo_no_page import source_of
from rules.engine import CheckContext
from rules.exprs import facts
from rules.findings import Evidence, Finding, Fix, Severity


def signals_for(ctx: CheckContext, prometheus: str) -> tuple[list[str], set[str] | None]:
    """(signals sources used, metric names with series) for a Prometheus source: the signals source of the
    same name when there is one, otherwise the union of every signals source that knows its metric names
    (a metric any of them has counts as present). None: unknown."""
    sig: dict[str, SignalsFacts] = ctx.graph.signals
    if prometheus in sig:
        names = sig[prometheus].metric_names
        return [prometheus], None if names is None else set(names)
    known = {n: s.metric_names for n, s in sig.items() if s.metric_names is not None}
    if not known:
        return [], None
    return sorted(known), {m for names in known.values() for m in (names or [])}


class NeverFires:
    id: ClassVar[str] = "OWN007"
    severity: ClassVar[Severity] = "warning"
    summary: ClassVar[str] = "alert that can never fire: its expr needs metrics that no series has"

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        g = ctx.graph
        # Recorded series exist whenever their inputs do; a recording rule's own gaps are not the alert's.
        recorded = {sr.rule.name for sr in g.recording_rules()} | {
            r.name for r in g.slos.generated_rules if r.type == "recording"
        }
        per_source: dict[str, tuple[list[str], set[str] | None, dict[frozenset[str], bool]]] = {}
        for sr in g.alert_rules():
            rule = sr.rule
            got = per_source.get(sr.source)
            if got is None:
                got = per_source[sr.source] = (*signals_for(ctx, sr.source), {})
            used, present, all_known = got
            if present is None:
                continue
            known = facts(rule.expr)
            if known.error is not None:
                continue
            try:
                metrics = known.metrics  # (a property made on first read: read once)
                selected = metrics if metrics is not None else selected_metrics(rule.expr)
            except Exception:  # noqa: BLE001 - a rule Prometheus loaded always parses; be safe anyway
                continue
            # (most alerts select only metrics that exist: told without building three sets per alert, and
            # once per distinct set of metrics, a frozenset expressions of one shape share)
            fine = all_known.get(selected) if type(selected) is frozenset else None
            if fine is None:
                fine = all(m in present or m in recorded for m in selected)
                if type(selected) is frozenset:
                    all_known[selected] = fine
            if fine:
                continue
            missing = set(selected) - present - recorded
            if not stays_empty(rule.expr, missing):
                continue
            services = g.services_of_labels(ctx.paging.labels_of(sr).fixed)
            service = services[0] if services else None
            prom, prom_at = source_of(ctx, "prometheus", sr.source)
            evidence = [
                Evidence(
                    source=prom,
                    kind="prometheus",
                    observed_at=prom_at,
                    file=rule.location.file,
                    line=rule.location.line,
                    values={"alert": rule.name, "expr": rule.expr, "selects": sorted(selected)},
                ),
            ]
            for name in used:
                src, at = source_of(ctx, "prometheus_signals", name)
                evidence.append(
                    Evidence(
                        source=src,
                        kind="prometheus_signals",
                        observed_at=at,
                        values={
                            "missing": sorted(missing),
                            "metric_names_known": len(g.signals[name].metric_names or []),
                        },
                    )
                )
            close = {m: _close(present, m) for m in sorted(missing)}
            hints = "; ".join(f"{m}: did you mean {', '.join(c)}?" for m, c in close.items() if c)
            yield Finding(
                check=self.id,
                severity=self.severity,
                service=service,
                subject=rule.name,
                summary=f"alert {rule.name} can never fire: it selects {', '.join(sorted(missing))}, which no series "
                f"has on {sr.source}",
                evidence=evidence,
                fix=Fix(
                    summary="select the metric the exporter really exposes (renamed in an upgrade?) "
                    "or scrape the target that exports it; pair it with an `absent()` alert so a lost metric "
                    "is noticed" + (f" ({hints})" if hints else "")
                ),
            )


_NAMES_INDEX: dict[int, tuple[set[str], dict[tuple[str, str, str], list[str]]]] = {}


def _close(present: set[str], m: str) -> list[str]:
    """The first three names of `present` `_similar` to `m` (sorted): only names sharing its first two and
    last words can be, so they are looked up by those."""
    hit = _NAMES_INDEX.get(id(present))
    if hit is None or hit[0] is not present:
        index: dict[tuple[str, str, str], list[str]] = {}
        for p in present:
            parts = p.split("_")
            if len(parts) >= 2:
                index.setdefault((parts[0], parts[1], parts[-1]), []).append(p)
        _NAMES_INDEX.clear()
        _NAMES_INDEX[id(present)] = hit = (present, index)
    parts = m.split("_")
    if len(parts) < 2:
        return []
    return sorted(p for p in hit[1].get((parts[0], parts[1], parts[-1]), ()) if _similar(m, p))[:3]


def _similar(a: str, b: str) -> bool:
    """Same prefix up to the last underscore-separated word: `x_rejected_requests_total` ~ `x_rejections_total`."""
    pa, pb = a.split("_"), b.split("_")
    common = 0
    for x, y in zip(pa, pb, strict=False):
        if x != y:
            break
        common += 1
    return common >= 2 and pa[-1] == pb[-1]
