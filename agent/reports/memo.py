"""The design-memo skeleton of a service: the six questions of DESIGN.md, each pre-filled with evidence
that names its source and time, suggestions marked as such, and an empty line for the reader's judgment
(pure: graph, paging answer and findings in, a Memo out; rendering is `render_memo`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agent.errors import InputError
from agent.reports.common import (
    Cited,
    Format,
    Question,
    SourceAsOf,
    SourceTimes,
    Suggestion,
    as_of,
    fmt_duration,
    fmt_number,
    fmt_time,
    relpath,
    render,
    sources_as_of,
)
from collectors.facts import SLO, Snapshot
from rules.findings import SEVERITY_RANK, Finding
from rules.graph import OwnershipGraph, SourcedRule
from rules.oncall import OnCallIndex
from rules.paging import AlertPaging, PagingResolver

QUESTIONS = (
    "What is the SLO or implicit expectation of this system?",
    "Where is the bottleneck: database, queue, cache, deployment, ownership or review process?",
    "Which failure mode would hurt users first?",
    "What would you change if you had one week?",
    "What would you intentionally postpone even if it is technically correct?",
    "Which metric would prove the change worked?",
)
WINDOW = timedelta(days=30)
NOISY_FIRES = 5  # an alert that fired this often in 30 days is a noise candidate
NOISY_SHORT = 3  # ... or resolved by itself within 5 minutes this often
TOP_STATEMENTS = 3
SLOW_MEAN_MS = 100.0  # a statement this slow on average is a database candidate ...
HEAVY_SHARE = 0.5  # ... and so is one taking this share of its database's execution time
Category = Literal["database", "queue", "noisy alerts", "ownership"]
CATEGORY_ORDER: tuple[Category, ...] = ("database", "queue", "noisy alerts", "ownership")
CHECK_CATEGORY: dict[str, Category] = {
    "OWN010": "database",
    "OWN009": "queue",
    "OWN008": "noisy alerts",
    **{c: "ownership" for c in ("OWN001", "OWN002", "OWN003", "OWN004", "OWN005", "OWN006", "OWN007")},
    **{c: "ownership" for c in ("OWN011", "OWN012", "OWN013")},
}
MEASURABLE = ("OWN005", "OWN008", "OWN009", "OWN010")  # checks whose finding has a metric (_spec_for_finding)
MetricKind = Literal[
    "queue_lag", "slow_query_mean_ms", "alert_fires_30d", "pages_30d", "slo_burn_fires_30d", "coverage_gap_hours_14d"
]
HistoryItem = tuple[int | None, datetime, OwnershipGraph | Snapshot]


class Bottleneck(BaseModel):
    """A bottleneck candidate: ranked first by the severity of the finding behind it, then by category."""

    rank: int
    category: Category
    subject: str
    text: str
    finding: str | None = Field(None, description="check id of the finding behind it, if any")
    severity: str | None = None
    magnitude: float | None = Field(None, description="the measured value that orders candidates of one category")
    evidence: list[Cited] = Field(default_factory=list)


class MetricSpec(BaseModel):
    """What to measure, so the same metric can be read from any snapshot."""

    kind: MetricKind
    service: str
    subject: str = Field(description="queue, statement queryid, alert name, SLO name, policy, or the service")
    database: str | None = None


class MetricPoint(BaseModel):
    snapshot_id: int | None = None
    at: datetime
    value: float | None


class ProofMetric(BaseModel):
    """The metric that would prove the change worked: today's value and, from snapshot history, then."""

    spec: MetricSpec
    name: str
    unit: str
    better: Literal["lower"] = "lower"
    why: str
    source: str
    kind: str
    observed_at: datetime | None = None
    now: MetricPoint
    then: MetricPoint | None = Field(None, description="the earliest earlier snapshot with a value")
    history: list[MetricPoint] = Field(default_factory=list, description="earlier snapshots, oldest first")
    change: float | None = None
    change_pct: float | None = None


class Memo(BaseModel):
    """`ownership memo SERVICE`: a design-memo skeleton, one per service."""

    service: str
    team: str | None
    tier: int | None = None
    description: str | None = None
    now: datetime
    snapshot_id: int | None = None
    questions: list[Question]
    bottlenecks: list[Bottleneck] = Field(default_factory=list)
    metric: ProofMetric | None = None
    caveats: list[Cited] = Field(default_factory=list, description="sources that failed or are stale")
    sources: list[SourceAsOf] = Field(default_factory=list)


# --------------------------------------------------------------------------- measuring


def _alert_fires(g: OwnershipGraph, names: set[str], service: str, at: datetime) -> tuple[float | None, str | None]:
    """Episodes starting in the 30 days up to `at` of alerts with these names attributed to the service."""
    if not g.signals:
        return None, None
    n = 0
    src = None
    for name, sig in sorted(g.signals.items()):
        src = src or name
        for h in sig.alert_history:
            if h.alertname not in names or h.labels.get("service", service) != service:
                continue
            if h.episodes:
                n += sum(1 for start, _ in h.episodes if at - WINDOW <= start <= at)
            else:
                n += h.fires
    return float(n), src


def _slo_alert_names(g: OwnershipGraph, slo: SLO) -> set[str]:
    """The spec's alert names and those of the rules linked to the SLO (OWN002's link, `slo_alerts`)."""
    page, ticket = _slo_alerts_by_severity(g, slo)
    return {n for n in (slo.page_alert, slo.ticket_alert) if n} | set(page) | set(ticket)


def _slo_alerts_by_severity(g: OwnershipGraph, slo: SLO) -> tuple[list[str], list[str]]:
    """(page, ticket) alert names of the rules linked to the SLO (a rule labelled `sloth_severity: ticket` is
    a ticket alert, any other a page)."""
    from rules.checks.own002_slo_no_page import slo_alerts

    rules = g.alert_rules()
    page: list[str] = []
    ticket: list[str] = []
    for i in slo_alerts(g).get((slo.service, slo.name), []):
        r = rules[i].rule
        bucket = ticket if r.labels.get("sloth_severity") == "ticket" else page
        if r.name not in bucket:
            bucket.append(r.name)
    return page, ticket


def _pd_service_ids(g: OwnershipGraph, service: str) -> set[str]:
    svc = g.service(service)
    return set(svc.pagerduty_service_ids) if svc else set()


def measure(g: OwnershipGraph, spec: MetricSpec, at: datetime) -> tuple[float | None, str, str, datetime | None]:
    """(value, source name, source kind, as of) of the metric in a graph; value None when unknown there."""
    times = SourceTimes(g, at)
    if spec.kind == "queue_lag":
        for name, sig in sorted(g.signals.items()):
            for q in sig.queue_lag:
                if q.queue == spec.subject:
                    _, kind, t = times.named(name, "prometheus_signals")
                    return q.value, name, kind, t
        return None, *times.of_kind("prometheus_signals")
    if spec.kind == "slow_query_mean_ms":
        for name, pg in sorted(g.postgres.items()):
            for st in pg.statements:
                if st.queryid == spec.subject and spec.database in (None, st.database):
                    _, kind, t = times.named(name, "postgres")
                    return st.mean_exec_time_ms, name, kind, t
        return None, *times.of_kind("postgres")
    if spec.kind in ("alert_fires_30d", "slo_burn_fires_30d"):
        if spec.kind == "alert_fires_30d":
            names = {spec.subject}
        else:
            slo = next((s for s in g.slos.slos if s.service == spec.service and s.name == spec.subject), None)
            names = _slo_alert_names(g, slo) if slo else set()
        value, src = _alert_fires(g, names, spec.service, at)
        if src is None:
            return None, *times.of_kind("prometheus_signals")
        return value, *times.named(src, "prometheus_signals")
    if spec.kind == "pages_30d":
        if not g.pagerduty.services:
            return None, *times.of_kind("pagerduty")
        ids = _pd_service_ids(g, spec.service)
        n = sum(
            1
            for i in g.pagerduty.incidents
            if i.service_id in ids and i.urgency == "high" and at - WINDOW <= i.created_at <= at
        )
        return float(n), *times.of_kind("pagerduty")
    # coverage_gap_hours_14d
    policy = next((p for p in g.pagerduty.escalation_policies if spec.subject in (p.id, p.name)), None)
    if policy is None:
        return None, *times.of_kind("pagerduty")
    gaps = OnCallIndex(g.pagerduty).coverage_gaps(policy.id, at, at + timedelta(days=14))
    return sum((e - s).total_seconds() for s, e in gaps) / 3600, *times.of_kind("pagerduty")


METRIC_UNIT = {
    "queue_lag": "",
    "slow_query_mean_ms": "ms",
    "alert_fires_30d": "episodes in 30 days",
    "pages_30d": "high-urgency incidents in 30 days",
    "slo_burn_fires_30d": "burn-rate alert episodes in 30 days",
    "coverage_gap_hours_14d": "uncovered hours in the next 14 days",
}


def _metric_name(g: OwnershipGraph, spec: MetricSpec) -> tuple[str, str]:
    """(human name, unit)."""
    if spec.kind == "queue_lag":
        for sig in g.signals.values():
            for q in sig.queue_lag:
                if q.queue == spec.subject:
                    return f"{q.kind} queue {q.queue} lag ({q.metric})", q.unit
        return f"queue {spec.subject} lag", "messages"
    if spec.kind == "slow_query_mean_ms":
        return f"mean execution time of statement {spec.subject} on {spec.database or 'its database'}", "ms"
    if spec.kind == "alert_fires_30d":
        return f"firing episodes of {spec.subject} in the last 30 days (ALERTS)", "episodes"
    if spec.kind == "slo_burn_fires_30d":
        return f"burn-rate alert episodes of SLO {spec.subject} in the last 30 days (ALERTS)", "episodes"
    if spec.kind == "pages_30d":
        return f"high-urgency PagerDuty incidents of {spec.service} in the last 30 days", "incidents"
    return f"hours in the next 14 days where no level of {spec.subject} has anyone", "hours"


def _spec_for_finding(g: OwnershipGraph, f: Finding, service: str) -> MetricSpec | None:
    if f.check == "OWN009":
        return MetricSpec(kind="queue_lag", service=service, subject=f.subject)
    if f.check == "OWN010":
        db = next((str(e.values["database"]) for e in f.evidence if e.values.get("database")), None)
        return MetricSpec(kind="slow_query_mean_ms", service=service, subject=f.subject, database=db)
    if f.check == "OWN008":
        return MetricSpec(kind="alert_fires_30d", service=service, subject=f.subject)
    if f.check == "OWN005":
        return MetricSpec(kind="coverage_gap_hours_14d", service=service, subject=f.subject)
    return None


def _service_findings(findings: list[Finding], service: str) -> list[Finding]:
    """The service's findings, most severe first; among equals, one whose effect can be measured (question 6),
    then by check id."""
    return sorted(
        (f for f in findings if f.service == service and f.check != "OWN000"),
        key=lambda f: (-SEVERITY_RANK[f.severity], f.check not in MEASURABLE, f.check, f.subject),
    )


def _top_finding(ranked: list[Finding]) -> Finding | None:
    """The finding question 4 gives the week to: the most severe above info with a fix, else the most severe."""
    serious = [f for f in ranked if f.severity != "info"]
    return next((f for f in serious if f.fix is not None), serious[0] if serious else None)


def earlier_choice(
    service: str, now: datetime, history: Sequence[HistoryItem] | None, pack: Any
) -> tuple[MetricSpec, str] | None:
    """The metric the memo of the earliest earlier snapshot chose from its top finding, and why, so that a
    later memo measures the change on it (DESIGN: the next memo shows the chosen metric before and after):
    once the fix works, its finding is gone, and today's top finding would choose another metric. Costs a
    run of the checks on that snapshot."""
    from rules.engine import run_checks

    earlier = sorted((h for h in history or [] if h[1] < now), key=lambda h: h[1])
    if not earlier:
        return None
    _, at, item = earlier[0]
    g = _as_graph(item)
    if g.service(service) is None:
        return None
    top = _top_finding(_service_findings(run_checks(g, at, pack), service))
    spec = _spec_for_finding(g, top, service) if top is not None else None
    if spec is None or top is None:
        return None
    return spec, f"the metric the memo of {fmt_time(at)} chose for its top finding ({top.check} {top.subject})"


def _as_graph(x: OwnershipGraph | Snapshot) -> OwnershipGraph:
    return x if isinstance(x, OwnershipGraph) else OwnershipGraph.build(x)


def proof_metric(
    g: OwnershipGraph,
    service: str,
    now: datetime,
    top: Finding | None,
    slos: list[SLO],
    history: Sequence[HistoryItem] | None,
    earlier: tuple[MetricSpec, str] | None = None,
) -> ProofMetric | None:
    """The metric an earlier memo chose (`earlier_choice`) while it has a value, else the finding's metric when
    it has one today, else the SLO's burn alerts, else the service's pages."""
    candidates: list[tuple[MetricSpec, str]] = [earlier] if earlier is not None else []
    if top is not None:
        spec = _spec_for_finding(g, top, service)
        if spec:
            candidates.append((spec, f"the metric of the one-week change ({top.check} {top.subject})"))
    for slo in slos:
        candidates.append(
            (
                MetricSpec(kind="slo_burn_fires_30d", service=service, subject=slo.name),
                f"the SLI of {slo.name} is not recorded; its burn-rate alerts stand in for it",
            )
        )
    candidates.append(
        (MetricSpec(kind="pages_30d", service=service, subject=service), "no SLO and no measurable finding")
    )
    for spec, why in candidates:
        value, src, kind, observed = measure(g, spec, now)
        if value is None:
            continue
        name, unit = _metric_name(g, spec)
        points = []
        for sid, at, item in sorted(history or [], key=lambda h: h[1]):
            if at >= now:
                continue
            v, *_ = measure(_as_graph(item), spec, at)
            points.append(MetricPoint(snapshot_id=sid, at=at, value=v))
        then = next((p for p in points if p.value is not None), None)
        change = pct = None
        if then is not None and then.value is not None:
            change = value - then.value
            pct = (change / then.value * 100) if then.value else None
        return ProofMetric(
            spec=spec,
            name=name,
            unit=unit,
            why=why,
            source=src,
            kind=kind,
            observed_at=observed,
            now=MetricPoint(snapshot_id=g.snapshot.id, at=now, value=value),
            then=then,
            history=points,
            change=change,
            change_pct=pct,
        )
    return None


# --------------------------------------------------------------------------- the memo


class _Builder:
    def __init__(
        self,
        g: OwnershipGraph,
        resolver: PagingResolver,
        findings: list[Finding],
        service: str,
        now: datetime,
        base_dir: Path | None,
    ):
        svc = g.service(service)
        if svc is None:
            raise InputError(f'unknown service "{service}"', source="catalog")
        self.g, self.resolver, self.svc, self.now, self.base = g, resolver, svc, now, base_dir
        self.times = SourceTimes(g, now)
        self.findings = _service_findings(findings, service)
        self.caveat_findings = [f for f in findings if f.check == "OWN000"]
        self.slos = sorted((s for s in g.slos.slos if s.service == service), key=lambda s: s.name)
        self.pages = resolver.service_pages(service, now)
        self.quiet_databases = False
        self.rules = {
            (sr.source, sr.rule.name, sr.rule.location.file, sr.rule.location.line): sr for sr in g.alert_rules()
        }

    # ---- helpers

    def where(self, file: str | None, line: int | None = None) -> str | None:
        return relpath(file, line, self.base)

    def rule_of(self, a: AlertPaging) -> SourcedRule | None:
        return self.rules.get((a.prometheus, a.alert, a.file, a.line))

    def finding_cites(self, f: Finding, text: str | None = None) -> list[Cited]:
        out = []
        for i, e in enumerate(f.evidence or []):
            out.append(
                Cited(
                    text=(text or f.summary) if i == 0 else _values_text(e.values) or f.summary,
                    source=e.source,
                    kind=e.kind,
                    at=as_of(e.observed_at, self.now),
                    where=self.where(e.file, e.line),
                    tag=f.check,
                )
            )
        if not out:
            out.append(Cited(text=text or f.summary, source="findings", kind="rules", at=self.now, tag=f.check))
        return out

    def fired_now(self, names: set[str]) -> list[tuple[str, datetime, str]]:
        """(alert, since, source) for alerts of these names firing at now: Alertmanager's alerts, else history."""
        out = []
        for am_name, am in sorted(self.g.alertmanagers.items()):
            for a in am.alerts:
                n = a.labels.get("alertname", "")
                if n in names and a.labels.get("service", self.svc.name) == self.svc.name and a.starts_at:
                    out.append((n, a.starts_at, am_name))
        if out or any(am.alerts for am in self.g.alertmanagers.values()):
            return sorted(out)
        for sig_name, sig in sorted(self.g.signals.items()):
            for h in sig.alert_history:
                if h.alertname not in names or h.labels.get("service", self.svc.name) != self.svc.name:
                    continue
                for s, e in h.episodes:
                    if s <= self.now <= e:
                        out.append((h.alertname, s, sig_name))
        return sorted(out)

    # ---- the six questions

    def q1(self) -> Question:
        q = Question(number=1, title=QUESTIONS[0])
        for slo in self.slos:
            budget_min = (100 - slo.objective) / 100 * _window_minutes(slo.window)
            q.evidence.append(
                self.times.cite(
                    f"SLO {slo.name}: {slo.objective:g}% over {slo.window} ({slo.format} spec); error budget "
                    f"{fmt_duration(budget_min * 60)} of full unavailability per window"
                    + (f". {slo.description}" if slo.description else ""),
                    "slo",
                    where=self.where(slo.location.file, slo.location.line),
                    tag="SLO",
                )
            )
            sli = (
                f"errors `{slo.error_query}` over total `{slo.total_query}`"
                if slo.error_query and slo.total_query
                else f"error ratio `{slo.raw_error_ratio_query}`"
                if slo.raw_error_ratio_query
                else "not stated in the spec"
            )
            q.evidence.append(self.times.cite(f"SLI of {slo.name}: {sli}", "slo", tag="SLI"))
            page, ticket = _slo_alerts_by_severity(self.g, slo)
            names = {n for n in (slo.page_alert, slo.ticket_alert) if n} | set(page) | set(ticket)
            paging_names = sorted({a.alert for a in self.pages.alerts if a.slo == slo.name and a.pages})
            page_text = slo.page_alert or ", ".join(page) or "none (disabled)"
            ticket_text = slo.ticket_alert or ", ".join(ticket) or "none"
            q.evidence.append(
                self.times.cite(
                    f"burn-rate alerts of {slo.name}: page {page_text}, ticket "
                    f"{ticket_text}; paging now: {', '.join(paging_names) or 'none'}",
                    "slo",
                    tag="alerts",
                )
            )
            firing = self.fired_now(names)
            if firing:
                for n, since, src in firing:
                    q.evidence.append(
                        self.times.cite(f"burning now: {n} firing since {fmt_time(since)}", "", name=src, tag="burn")
                    )
            elif self.g.signals or any(am.alerts for am in self.g.alertmanagers.values()):
                fires, hist_src = _alert_fires(self.g, names, self.svc.name, self.now)
                q.evidence.append(
                    self.times.cite(
                        f"no burn-rate alert of {slo.name} is firing now; they fired {_times(fires)} in the last 30 days",
                        "prometheus_signals",
                        name=hist_src,
                        tag="burn",
                    )
                )
            q.unknown.append(
                f"the current burn rate and remaining error budget of {slo.name}: the SLI's value is not among the "
                "recorded signals"
            )
        if not self.slos:
            paging = [a for a in self.pages.alerts if a.pages]
            if paging:
                q.evidence.append(
                    self.times.cite(
                        f"no SLO: the implicit expectation is what the {len(paging)} alerts that page defend: "
                        "none of these conditions lasts longer than its `for`",
                        "slo",
                        tag="no SLO",
                    )
                )
                for a in sorted(paging, key=lambda a: a.alert):
                    sr = self.rule_of(a)
                    expr = " ".join(sr.rule.expr.split()) if sr else "?"
                    summary = (sr.rule.annotations.get("summary") if sr else None) or ""
                    q.evidence.append(
                        self.times.cite(
                            f"{a.alert} ({a.severity or 'no severity'}): `{expr}` for {fmt_duration(a.for_s)}"
                            + (f": {summary}" if summary else ""),
                            "prometheus",
                            name=a.prometheus,
                            where=self.where(a.file, a.line),
                            tag="pages",
                        )
                    )
            else:
                q.evidence.append(
                    self.times.cite(
                        "no SLO, and no alert pages anyone: there is no stated or implicit expectation ("
                        + (self.pages.why_nothing_pages or "nothing pages")
                        + ")",
                        "slo",
                        tag="no SLO",
                    )
                )
            q.suggestions.append(
                Suggestion(
                    text=f"write an SLO for what users of {self.svc.name} see (availability or latency of its "
                    "requests), with multi-window multi-burn-rate page alerts, and let it replace the implicit one"
                )
            )
        return q

    def bottlenecks(self) -> list[Bottleneck]:
        g, svc = self.g, self.svc
        cands: dict[tuple[Category, str], Bottleneck] = {}

        def add(cat: Category, subject: str, text: str, cite: Cited, magnitude: float | None) -> None:
            b = cands.setdefault(
                (cat, subject),
                Bottleneck(rank=0, category=cat, subject=subject, text=text, magnitude=magnitude),
            )
            b.evidence.append(cite)

        statements = [
            (name, st)
            for name, pg in sorted(g.postgres.items())
            for st in pg.statements
            if st.database in svc.databases
        ]
        db_total: dict[str, float] = {}
        for _, st in statements:
            db_total[st.database] = db_total.get(st.database, 0.0) + st.total_exec_time_ms
        heavy = [
            (name, st)
            for name, st in statements
            if st.mean_exec_time_ms >= SLOW_MEAN_MS
            or (db_total[st.database] and st.total_exec_time_ms / db_total[st.database] >= HEAVY_SHARE)
        ]
        heavy.sort(key=lambda x: (-x[1].total_exec_time_ms, x[1].queryid))
        for name, st in heavy[:TOP_STATEMENTS]:
            share = st.total_exec_time_ms / db_total[st.database] if db_total[st.database] else 0.0
            text = (
                f"statement {st.queryid} on database {st.database}: mean {fmt_number(st.mean_exec_time_ms)} ms over "
                f"{fmt_number(st.calls)} calls, {fmt_duration(st.total_exec_time_ms / 1000)} in total ({share:.0%} of "
                f"the database's time): `{_short(st.query)}`"
            )
            add(
                "database",
                st.queryid,
                text,
                self.times.cite(text, "postgres", name=name, tag="database"),
                st.total_exec_time_ms,
            )
        self.quiet_databases = bool(statements) and not heavy
        queue_names = {q.name for q in svc.queues}
        for name, sig in sorted(g.signals.items()):
            for ql in sig.queue_lag:
                if ql.queue in queue_names or ql.service == svc.name:
                    text = f"{ql.kind} queue {ql.queue}: {fmt_number(ql.value, ql.unit)} behind ({ql.metric})"
                    add(
                        "queue",
                        ql.queue,
                        text,
                        self.times.cite(text, "prometheus_signals", name=name, tag="queue"),
                        ql.value,
                    )
        for name, sig in sorted(g.signals.items()):
            for h in sig.alert_history:
                if h.labels.get("service") != svc.name:
                    continue
                fires = sum(1 for s, _ in h.episodes if self.now - WINDOW <= s <= self.now) if h.episodes else h.fires
                if fires >= NOISY_FIRES or h.short_fires >= NOISY_SHORT:
                    text = (
                        f"alert {h.alertname} fired {_times(fires)} in 30 days, {h.short_fires} of them resolved "
                        "by itself within 5 minutes"
                    )
                    add(
                        "noisy alerts",
                        h.alertname,
                        text,
                        self.times.cite(text, "prometheus_signals", name=name, tag="noisy alerts"),
                        float(fires),
                    )
        for f in self.findings:
            cat = CHECK_CATEGORY.get(f.check)
            if cat is None:
                continue
            b = cands.get((cat, f.subject))
            if b is None:
                b = cands[(cat, f.subject)] = Bottleneck(rank=0, category=cat, subject=f.subject, text=f.summary)
                b.evidence += self.finding_cites(f)
            if b.finding is None or SEVERITY_RANK[f.severity] > SEVERITY_RANK[b.severity or "info"]:
                b.finding, b.severity = f.check, f.severity
                if b.text != f.summary:
                    b.evidence.append(self.finding_cites(f, f"{f.check} ({f.severity}): {f.summary}")[0])
        ranked = sorted(
            cands.values(),
            key=lambda b: (
                -SEVERITY_RANK[b.severity] if b.severity else 0,  # an info finding weighs no more than a signal
                CATEGORY_ORDER.index(b.category),
                -(b.magnitude or 0.0),
                b.subject,
            ),
        )
        for i, b in enumerate(ranked, 1):
            b.rank = i
        return ranked

    def q2(self, ranked: list[Bottleneck]) -> Question:
        q = Question(number=2, title=QUESTIONS[1])
        for b in ranked:
            backing = f"{b.finding} {b.severity}" if b.finding else "signal only, no finding"
            for i, c in enumerate(b.evidence):
                c = c.model_copy()
                if i == 0:
                    c.text = f"#{b.rank} {b.category} ({backing}): {c.text}"
                q.evidence.append(c)
        if not ranked:
            q.evidence.append(
                Cited(
                    text="no candidate: no slow statement, queue lag, noisy alert or ownership gap is attributed to "
                    f"{self.svc.name}",
                    source="findings",
                    kind="rules",
                    at=self.now,
                )
            )
        if not self.svc.databases:
            q.unknown.append("database: the catalog names no database for this service")
        elif not any(st.database in self.svc.databases for pg in self.g.postgres.values() for st in pg.statements):
            q.unknown.append("database: no statement of its databases was recorded")
        elif self.quiet_databases:
            q.evidence.append(
                self.times.cite(
                    f"database: no statement of {', '.join(self.svc.databases)} is slow (mean {SLOW_MEAN_MS:g} ms or "
                    f"more) or heavy ({HEAVY_SHARE:.0%} or more of its database's time)",
                    "postgres",
                    tag="database",
                )
            )
        if not self.svc.queues:
            q.unknown.append("queue: the catalog names no queue for this service")
        q.unknown.append("cache, deployment and review process: no source the agent reads describes them")
        if ranked:
            top = ranked[0]
            q.suggestions.append(
                Suggestion(
                    text=f"look at #{top.rank} first ({top.category}: {top.subject}); it ranks first because "
                    + (
                        f"finding {top.finding} is {top.severity}"
                        if top.finding and top.severity != "info"
                        else "no warning or critical finding backs a candidate, and it comes first by category"
                    )
                    + " (ranking: finding severity, then database, queue, noisy alerts, ownership, largest first)",
                    finding=f"{top.finding} {top.subject}" if top.finding else None,
                )
            )
        return q

    def q3(self) -> Question:
        q = Question(number=3, title=QUESTIONS[2])
        paging = [a for a in self.pages.alerts if a.pages]
        paging.sort(
            key=lambda a: (
                0 if a.slo else 1,
                0 if (a.severity or "") in ("critical", "page", "error") else 1,
                min((p.time_to_page_s or 1e12) for p in a.paths if p.outcome == "pages"),
                a.alert,
            )
        )
        open_incidents = sorted(
            (
                i
                for i in self.g.pagerduty.incidents
                if i.service_id in _pd_service_ids(self.g, self.svc.name)
                and i.status != "resolved"
                and i.created_at <= self.now
            ),
            key=lambda i: i.created_at,
        )
        for i in open_incidents:
            q.evidence.append(
                self.times.cite(
                    f"open now: incident #{i.incident_number or i.id} \u201c{i.title}\u201d ({i.status}, {i.urgency} "
                    f"urgency) since {fmt_time(i.created_at)}",
                    "pagerduty",
                    tag="open",
                )
            )
        for n, a in enumerate(paging[:3]):
            sr = self.rule_of(a)
            summary = (sr.rule.annotations.get("summary") if sr else None) or ""
            path = next(p for p in a.paths if p.outcome == "pages")
            people = ", ".join(p.id for p in path.people_now) or "nobody"
            text = (
                f"{a.alert} ({a.severity or 'no severity'}{', protects SLO ' + a.slo if a.slo else ''})"
                + (f": {summary}" if summary else "")
                + f"; fired {_times(a.fired_30d)} and paged {_times(a.paged_30d)} in 30 days; "
                + f"runbook {a.runbook or 'none'}"
            )
            q.evidence.append(
                self.times.cite(text, "prometheus", name=a.prometheus, where=self.where(a.file, a.line), tag="pages")
            )
            q.evidence.append(
                self.times.cite(
                    f"{a.alert} routes {path.route_path} to {path.receiver}, PagerDuty service "
                    f"{path.pagerduty_service_name}, level {path.level} ({people} now), {path.urgency} urgency, "
                    f"time to page {fmt_duration(path.time_to_page_s)}",
                    "alertmanager",
                    name=path.alertmanager,
                    where=self.where(*_split_loc(path.route_location)),
                    tag="route",
                )
            )
            if n == 0:
                q.suggestions.append(
                    Suggestion(
                        text=f"the failure mode that hurts users first is probably the one {a.alert} detects"
                        + (f" ({summary})" if summary else "")
                        + (": it burns the SLO " + a.slo if a.slo else "")
                        + f"; it pages in {fmt_duration(path.time_to_page_s)}"
                    )
                )
        if not paging:
            q.evidence.append(
                self.times.cite(
                    f"no alert of {self.svc.name} pages anyone now: {self.pages.why_nothing_pages or 'see the paging answer'}",
                    "alertmanager",
                    tag="pages",
                )
            )
            q.suggestions.append(
                Suggestion(text="any outage hurts users first here: nobody is paged when this service fails")
            )
        q.unknown.append("which failure users notice first is a product question: the sources only show what pages")
        return q

    def q4(self) -> tuple[Question, Finding | None]:
        q = Question(number=4, title=QUESTIONS[3])
        # low-severity findings are what question 5 postpones, so the week goes to the most severe other one
        top = _top_finding(self.findings)
        if top is None:
            q.evidence.append(
                Cited(
                    text=f"no finding above info severity for {self.svc.name}",
                    source="findings",
                    kind="rules",
                    at=self.now,
                )
            )
            q.suggestions.append(Suggestion(text="no finding to fix: spend the week on bottleneck #1 of question 2"))
            return q, None
        q.evidence += self.finding_cites(top, f"top finding {top.check} ({top.severity}): {top.summary}")
        q.suggestions.append(
            Suggestion(
                text=top.fix.summary if top.fix else f"resolve {top.check} on {top.subject}",
                detail=top.fix.rules_yaml if top.fix else None,
                finding=f"{top.check} {top.subject}",
            )
        )
        for f in self.findings:
            if f is top or f.severity == "info":
                continue
            q.evidence.append(self.finding_cites(f, f"also {f.check} ({f.severity}): {f.summary}")[0])
        return q, top

    def q5(self) -> Question:
        q = Question(number=5, title=QUESTIONS[4])
        low = [f for f in self.findings if f.severity == "info"]
        for f in low:
            q.evidence += self.finding_cites(f, f"{f.check} (info): {f.summary}")
            q.suggestions.append(
                Suggestion(text=f"postpone {f.check} on {f.subject}: low severity", finding=f"{f.check} {f.subject}")
            )
        if not low:
            q.evidence.append(
                Cited(text=f"no low-severity finding for {self.svc.name}", source="findings", kind="rules", at=self.now)
            )
        q.unknown.append("what the team would rather not touch this quarter (migrations, freezes) is not in any source")
        return q

    def q6(self, metric: ProofMetric | None) -> Question:
        q = Question(number=6, title=QUESTIONS[5])
        if metric is not None:
            q.evidence.append(
                Cited(
                    text=f"today's value of {metric.name}: {fmt_number(metric.now.value, metric.unit)}",
                    source=metric.source,
                    kind=metric.kind,
                    at=metric.observed_at,
                    tag="now",
                )
            )
            if metric.then is not None:
                change = ""
                if metric.change is not None:
                    change = f"; change {metric.change:+,.6g}" + (
                        f" ({metric.change_pct:+.1f}%)" if metric.change_pct is not None else ""
                    )
                q.evidence.append(
                    Cited(
                        text=f"then ({_point(metric.then)}): {fmt_number(metric.then.value, metric.unit)}; "
                        f"now ({_point(metric.now)}): {fmt_number(metric.now.value, metric.unit)}{change}",
                        source="store",
                        kind="snapshots",
                        at=metric.now.at,
                        tag="then/now",
                    )
                )
            else:
                q.unknown.append("no earlier snapshot of this config: the next memo will show the value then and now")
            q.suggestions.append(Suggestion(text=f"watch {metric.name}: {metric.better} is better ({metric.why})"))
        for slo in self.slos:
            q.unknown.append(f"today's value of the SLI of {slo.name}: not recorded")
        if metric is None:
            q.unknown.append("no metric of this service has a value today")
        return q

    def build(self, history: Sequence[HistoryItem] | None, pack: Any = None) -> Memo:
        q1 = self.q1()
        ranked = self.bottlenecks()
        q2 = self.q2(ranked)
        q3 = self.q3()
        q4, top = self.q4()
        q5 = self.q5()
        earlier = earlier_choice(self.svc.name, self.now, history, pack) if pack is not None else None
        metric = proof_metric(self.g, self.svc.name, self.now, top, self.slos, history, earlier)
        q6 = self.q6(metric)
        caveats = [c for f in self.caveat_findings for c in self.finding_cites(f, f.summary)[:1]]
        return Memo(
            service=self.svc.name,
            team=self.svc.team,
            tier=self.svc.tier,
            description=self.svc.description,
            now=self.now,
            snapshot_id=self.g.snapshot.id,
            questions=[q1, q2, q3, q4, q5, q6],
            bottlenecks=ranked,
            metric=metric,
            caveats=caveats,
            sources=sources_as_of(self.g, self.now),
        )


def _point(p: MetricPoint) -> str:
    return (f"snapshot {p.snapshot_id} " if p.snapshot_id is not None else "") + f"as of {fmt_time(p.at)}"


def _times(n: float | int | None) -> str:
    if n is None:
        return "an unknown number of times"
    return "once" if n == 1 else f"{fmt_number(n)} times"


def _window_minutes(window: str) -> float:
    from collectors.durations import parse_duration

    try:
        return parse_duration(window) / 60
    except ValueError:
        return 30 * 24 * 60


def _short(text: str, n: int = 90) -> str:
    t = " ".join(text.split())
    return t if len(t) <= n else t[: n - 1] + "\u2026"


def _split_loc(loc: str) -> tuple[str | None, int | None]:
    file, _, line = (loc or "").rpartition(":")
    if file and line.isdigit():
        return file, int(line)
    return (loc if loc and loc != "?" else None), None


def _values_text(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items() if v not in (None, "", [], {}))


def build_memo(
    graph: OwnershipGraph,
    resolver: PagingResolver,
    findings: list[Finding],
    service: str,
    now: datetime,
    history: Sequence[HistoryItem] | None = None,
    *,
    base_dir: Path | None = None,
    pack: Any = None,
) -> Memo:
    """The memo skeleton of one service at `now`.

    `history`: earlier snapshots of the same config as (snapshot id, the instant it answers for, its graph or
    Snapshot); those before `now` give the chosen metric's value then. `pack`: the rule pack the findings were
    made with; given with a history, the metric the memo of the earliest earlier snapshot chose is kept while
    it has a value (`earlier_choice`). `base_dir`: the config's folder, so file references are shown relative
    to it. Raises InputError for an unknown service.
    """
    return _Builder(graph, resolver, findings, service, now, base_dir).build(history, pack)


def render_memo(memo: Memo, fmt: Format) -> str:
    """The memo as Markdown or a self-contained HTML page (everything from a source escaped)."""
    return render("memo", fmt, memo=memo)
