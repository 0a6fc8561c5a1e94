"""OWN002: an SLO with no paging burn-rate alert, or only a slow-burn window."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, ClassVar

from collectors.durations import parse_duration
from collectors.facts import SLO, Rule
from collectors.promql import parse as parse_promql
from rules.checks.own011_no_for import is_paging
from rules.engine import CheckContext
from rules.findings import Evidence, Finding, Fix, Severity
from rules.fixes import SLI_WINDOWS, rules_yaml, slo_rules, sloth_id

if TYPE_CHECKING:
    from rules.exprs import ExprFacts

_RATIO_RATE = re.compile(r"ratio_rate(\d+[smhdwy])$")


def source_of(ctx: CheckContext, kind: str, name: str | None = None) -> tuple[str, datetime | None]:
    """(name, last success) of the source of that kind (and name, when given)."""
    for res in ctx.graph.snapshot.sources:
        st = res.status
        if st.kind == kind and (name is None or st.name == name):
            return st.name, st.last_success_at
    return name or kind, None


def _walk(node: Any) -> Iterator[Any]:
    yield node
    t = type(node).__name__
    kids: list[Any] = []
    if t == "MatrixSelector":
        kids = [node.vector_selector]
    elif t in ("ParenExpr", "UnaryExpr", "SubqueryExpr", "AggregateExpr"):
        kids = [node.expr]
    elif t == "BinaryExpr":
        kids = [node.lhs, node.rhs]
    elif t == "Call":
        kids = list(node.args)
    for k in kids:
        yield from _walk(k)


def _selectors(node: Any) -> Iterator[tuple[str | None, dict[str, str]]]:
    """(metric name, equality matchers) of every vector selector."""
    for n in _walk(node):
        if type(n).__name__ == "VectorSelector":
            eq = {m.name: m.value for m in n.matchers.matchers if str(m.op) in ("MatchOp.Equal", "=")}
            yield (str(n.name) if n.name else eq.get("__name__")), eq


def _windows(node: Any) -> list[float]:
    """Seconds of every window a term reads: range selectors, subqueries, Sloth's `ratio_rate<w>` names."""
    out: list[float] = []
    for n in _walk(node):
        t = type(n).__name__
        if t in ("MatrixSelector", "SubqueryExpr") and getattr(n, "range", None) is not None:
            out.append(n.range.total_seconds())
        if t == "VectorSelector":
            m = _RATIO_RATE.search(str(n.name or ""))
            if m:
                out.append(parse_duration(m.group(1)))
    return out


def _or_terms(node: Any) -> list[Any]:
    t = type(node).__name__
    if t == "ParenExpr":
        return _or_terms(node.expr)
    if t == "BinaryExpr" and str(node.op).strip() == "or":
        return _or_terms(node.lhs) + _or_terms(node.rhs)
    return [node]


# burn windows per expression shape (rules.exprs.template: the expression with its matcher values set
# aside). The windows are read from the tree's structure, ranges and metric names, never from a matcher
# value, so expressions of one shape have the same windows: Sloth's alerts of every SLO share a few
# shapes (measured on L: 888 parses, 0.19 s, become a handful)
_WINDOWS_OF_SHAPE: dict[str, list[float | None]] = {}


def burn_windows(expr: str) -> list[float | None]:
    """The longest window of each `or` term (None: a term that reads no window, i.e. an instant check)."""
    from rules.exprs import facts  # (imported here: rules.exprs imports this module)

    text = facts(expr).shape_text  # the expression's shape when it has one (see rules.exprs)
    if text is None:
        return parse_burn_windows(expr)
    got = _WINDOWS_OF_SHAPE.get(text)
    if got is None:
        if len(_WINDOWS_OF_SHAPE) >= 10_000:
            _WINDOWS_OF_SHAPE.clear()
        got = _WINDOWS_OF_SHAPE[text] = parse_burn_windows(text)
    return list(got)


def parse_burn_windows(expr: str) -> list[float | None]:
    """`burn_windows`, parsing the expression itself."""
    try:
        node = parse_promql(expr)
    except Exception:  # noqa: BLE001 - an unparsable expr is OWN007's concern, not a slow window
        return [None]
    out: list[float | None] = []
    for term in _or_terms(node):
        ws = _windows(term)
        out.append(max(ws) if ws else None)
    return out


def belongs(rule: Rule, slo: SLO) -> bool:
    """Whether an alerting rule is one of the SLO's alerts: by name, by Sloth labels, or by the series it reads."""
    if slo.page_alert and rule.name == slo.page_alert:
        return True
    if rule.labels.get("sloth_slo") == slo.name and rule.labels.get("sloth_service", slo.service) == slo.service:
        return True
    try:
        node = parse_promql(rule.expr)
    except Exception:  # noqa: BLE001
        return False
    for _, eq in _selectors(node):
        if eq.get("sloth_id") == sloth_id(slo):
            return True
        if eq.get("sloth_slo") == slo.name and eq.get("sloth_service") == slo.service:
            return True
    return False


class _BelongsIndex:
    """Positions of the alerting rules `belongs` can accept for an SLO (by name, Sloth labels, selectors)."""

    def __init__(self, rules: list[Rule], names: set[str] | None = None):
        """`names`: the page alert names `candidates` will be asked about (None: every name is indexed).

        Only rules whose text holds `sloth_` are read for Sloth references: a selector's label name is
        written in the text, and `rules.exprs.derive` records no reference for such a text either (on L,
        50,000 fact lookups and set walks for a few thousand Sloth alerts)."""
        from rules.exprs import facts  # (imported here: rules.exprs imports this module)

        self.by_name: dict[str, list[int]] = {}
        self.by_slo_label: dict[str, list[int]] = {}
        self.by_sloth_id: dict[str, list[int]] = {}
        self.by_slo_service: dict[tuple[str, str], list[int]] = {}
        for i, r in enumerate(rules):
            if names is None or r.name in names:
                self.by_name.setdefault(r.name, []).append(i)
            if "sloth_slo" in r.labels:
                self.by_slo_label.setdefault(r.labels["sloth_slo"], []).append(i)
            if "sloth_" not in r.expr:
                continue
            ids, pairs = _sloth_refs(r.expr, facts)
            for v in ids:
                self.by_sloth_id.setdefault(v, []).append(i)
            for pair in pairs:
                self.by_slo_service.setdefault(pair, []).append(i)

    def candidates(self, slo: SLO) -> list[int]:
        found: set[int] = set()
        if slo.page_alert:
            found.update(self.by_name.get(slo.page_alert, ()))
        found.update(self.by_slo_label.get(slo.name, ()))
        found.update(self.by_sloth_id.get(sloth_id(slo), ()))
        found.update(self.by_slo_service.get((slo.name, slo.service), ()))
        return sorted(found)


def slo_alerts(g: Any) -> dict[tuple[str, str], list[int]]:
    """Per SLO (service, name), the positions in `g.alert_rules()` of its alerting rules (`belongs`: the spec's
    alert name, Sloth labels, or a selector of its `sloth_id`), made once per graph: the one link between
    SLOs and alerts that the checks, the paging answers, the memo and the metrics share."""

    def build() -> dict[tuple[str, str], list[int]]:
        alert_rules = g.alert_rules()
        names = {s.page_alert for s in g.slos.slos if s.page_alert}
        index = _BelongsIndex([sr.rule for sr in alert_rules], names)
        return {
            (s.service, s.name): [i for i in index.candidates(s) if belongs(alert_rules[i].rule, s)]
            for s in g.slos.slos
        }

    return g.memo(("own002", "slo_alerts"), build)


def _sloth_refs(expr: str, facts: Callable[[str], ExprFacts]) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    """The `sloth_id` values and (`sloth_slo`, `sloth_service`) pairs an expr's selectors test for equality
    (`facts`: rules.exprs.facts, passed in rather than imported per call: 50,000 calls on L)."""
    f = facts(expr)
    if f.error is not None:
        return frozenset(), frozenset()
    if f.sloth_refs is not None:
        return f.sloth_refs
    return sloth_refs_of(parse_promql(expr))


def sloth_refs_of(node: Any) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    """`_sloth_refs` of a parsed expression."""
    ids, pairs = set(), set()
    for _, eq in _selectors(node):
        if "sloth_id" in eq:
            ids.add(eq["sloth_id"])
        if "sloth_slo" in eq and "sloth_service" in eq:
            pairs.add((eq["sloth_slo"], eq["sloth_service"]))
    return frozenset(ids), frozenset(pairs)


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "instant"
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= n and seconds % n == 0:
            return f"{int(seconds // n)}{unit}"
    return f"{int(seconds)}s"


def can_page(a: Any) -> bool:
    """Whether an alert's routes page someone: OWN011's `is_paging` (it pages, or would but for a maintenance
    window, a service in maintenance or a muted route), or may: a routing key that cannot be read, or a
    PagerDuty service whose levels have nobody on call now (a coverage hole, OWN005's concern)."""
    return is_paging(a) or any(
        p.outcome == "unknown"
        or (p.pagerduty_service and p.outcome == "nobody" and p.reason == "nobody on call at any level")
        for p in a.paths
    )


class SLONoPage:
    id: ClassVar[str] = "OWN002"
    severity: ClassVar[Severity] = "warning"
    summary: ClassVar[str] = "SLO with no paging burn-rate alert (or only a slow-burn window)"

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        g = ctx.graph
        alert_rules = g.alert_rules()
        linked = slo_alerts(g)
        recorded = {(r.rule.name, r.rule.labels.get("sloth_id")) for r in g.recording_rules()} | {
            (r.name, r.labels.get("sloth_id")) for r in g.slos.generated_rules if r.type == "recording"
        }
        slo_src, slo_at = source_of(ctx, "slo")
        for slo in g.slos.slos:
            fast_max = ctx.duration(self.id, "fast_burn_window", slo.service, "1h")
            at = linked[(slo.service, slo.name)]
            mine = [alert_rules[i] for i in at]
            answer = dict(zip(map(id, mine), at, strict=True))  # a rule's position: its answer in ctx.alerts
            pages = [sr for sr in mine if sr.rule.labels.get("sloth_severity", "page") != "ticket"]
            tickets = [sr for sr in mine if sr.rule.labels.get("sloth_severity") == "ticket"]
            windows = {id(sr): burn_windows(sr.rule.expr) for sr in pages}
            fast = [sr for sr in pages if any(w is None or w <= fast_max for w in windows[id(sr)])]
            # a fast-burn alert counts when its routes can page someone: reaching Slack only, a low-urgency
            # PagerDuty service or a receiver with no integration is no page
            paging = [sr for sr in fast if can_page(ctx.alerts[answer[id(sr)]])]
            if paging:
                continue
            if fast:
                a = ctx.alerts[answer[id(fast[0])]]
                why = "; ".join(
                    sorted({f"{p.receiver}: {p.outcome}" + (f" ({p.reason})" if p.reason else "") for p in a.paths})
                )
                reason = f"its page alert {fast[0].rule.name} pages nobody: {why or 'no route'}"
            elif pages:
                longest = sorted({_fmt(w) for sr in pages for w in windows[id(sr)]})
                reason = (
                    f"its page alert {pages[0].rule.name} has only slow-burn windows ({', '.join(longest)}; "
                    f"none of {_fmt(fast_max)} or less): a fast burn exhausts budget for hours before it pages"
                )
            elif slo.page_alert:
                reason = f"its page alert {slo.page_alert} exists in no alerting rule"
            elif slo.format in ("sloth", "sloth-k8s"):
                reason = "its page alert is disabled in the spec" + (
                    f" (only the ticket alert {tickets[0].rule.name} exists)" if tickets else ""
                )
            else:
                reason = "no alerting rule pages on its burn rate"
            yield Finding(
                check=self.id,
                severity=self.severity,
                service=slo.service,
                subject=slo.name,
                summary=f"SLO {slo.service}/{slo.name} ({slo.objective:g}% over {slo.window}) has no fast-burn page: {reason}",
                evidence=[
                    Evidence(
                        source=slo_src,
                        kind="slo",
                        observed_at=slo_at,
                        file=slo.location.file,
                        line=slo.location.line,
                        values={
                            "objective": slo.objective,
                            "window": slo.window,
                            "format": slo.format,
                            "page_alert": slo.page_alert,
                            "ticket_alert": slo.ticket_alert,
                        },
                    ),
                    *[self._rule_evidence(ctx, sr, windows.get(id(sr))) for sr in [*pages, *tickets]],
                ],
                fix=self._fix(ctx, slo, pages, tickets, recorded),
            )

    def _rule_evidence(self, ctx: CheckContext, sr: Any, windows: list[float | None] | None) -> Evidence:
        name, at = source_of(ctx, "prometheus", sr.source)
        r = sr.rule
        ws = windows if windows is not None else burn_windows(r.expr)
        return Evidence(
            source=name,
            kind="prometheus",
            observed_at=at,
            file=r.location.file,
            line=r.location.line,
            values={
                "alert": r.name,
                "sloth_severity": r.labels.get("sloth_severity"),
                "severity": r.labels.get("severity"),
                "longest_window_per_term": [_fmt(w) for w in ws],
            },
        )

    def _fix(self, ctx: CheckContext, slo: SLO, pages: list[Any], tickets: list[Any], recorded: set) -> Fix:
        sid = sloth_id(slo)
        have_recordings = all((f"slo:sli_error:ratio_rate{w}", sid) in recorded for w in SLI_WINDOWS)
        name = slo.page_alert or slo.ticket_alert or next((sr.rule.name for sr in [*pages, *tickets]), None)
        labels = dict(slo.page_labels)
        labels.setdefault("severity", str(ctx.param(self.id, "page_severity", slo.service, "critical")))
        existing = next((rb for sr in [*pages, *tickets] if (rb := sr.rule.annotations.get("runbook_url"))), None)
        svc = ctx.graph.service(slo.service)
        base = (svc.runbook_base_url if svc else None) or "https://runbooks.example.com/" + slo.service
        runbook = existing or f"{base.rstrip('/')}/slo-{slo.name}"
        page_for = ctx.param(self.id, "page_for", slo.service, "2m") or None
        sloth = slo.format in ("sloth", "sloth-k8s")
        # A ticket alert only where none exists and the spec did not switch it off.
        ticket = not tickets and (slo.ticket_alert is not None or not sloth)
        doc = slo_rules(
            slo,
            alert_name=name,
            page_labels=labels,
            ticket_labels={**{k: v for k, v in labels.items() if k != "severity"}, "severity": "warning"},
            page_for=page_for,
            runbook_url=runbook,
            recordings=not have_recordings,
            meta=False,
            ticket=ticket,
        )
        has_rules = any(grp["name"].startswith("sloth-slo-sli-recordings-") for grp in doc["groups"])
        if not have_recordings and not has_rules:
            return Fix(
                summary="the SLO's SLI has no error/total or raw error-ratio query to record; generate the rules "
                "with `sloth generate` and enable its page alert (page: 1h/5m at 14.4x or 6h/30m at 6x)",
            )
        parts = ["the page alert (1h/5m at 14.4x or 6h/30m at 6x the error budget)"]
        if ticket:
            parts.append("the ticket alert (1d/2h at 3x or 3d/6h at 1x)")
        if not have_recordings:
            parts.append("the SLI recordings they read")
        what = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
        if pages:
            r = pages[0].rule
            where = f"{PurePath(r.location.file).name}:{r.location.line}" if r.location.file else "its rule file"
            how = f"replace {r.name} ({where}) with {what}"
        elif slo.page_alert and sloth:
            how = f"deploy the rules `sloth generate` writes for the spec, or add {what}"
        elif sloth:
            how = f"enable `page_alert` in the Sloth spec and regenerate, or add {what}"
        else:
            how = f"add {what}"
        if have_recordings:
            how += " (the SLI recordings they read already exist)"
        header = (
            f"Burn-rate alerts for SLO {slo.service}/{slo.name} ({slo.objective:g}%), Sloth google-30d windows.\n"
            f"Suggested by ownership-agent {self.id}"
            + (
                "; the runbook is the SLO's existing one."
                if existing
                else f"; replace the runbook placeholder {runbook}."
            )
        )
        return Fix(summary=how, rules_yaml=rules_yaml(doc, header=header))
