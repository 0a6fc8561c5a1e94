"""/metrics: gauges computed from the latest snapshot by a custom prometheus_client Collector.

Label cardinality is bounded: only the top `max_services` services, `max_teams` teams,
`max_engineers` engineers and `max_queues` queues get series of their own; the rest are summed
under the value "other". An empty label value means "none" (an unowned service, an alert that
no catalog service claims).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from collectors.facts import PDIncident, Team
from collectors.timeutil import as_utc
from rules.engine import incident_times, incident_window
from rules.findings import Finding
from rules.graph import OwnershipGraph
from rules.oncall import OnCallIndex, _span, zone
from rules.paging import AlertPaging

OTHER = "other"
SURFACE_WINDOW = timedelta(days=7)
PAGES_WINDOW = timedelta(days=7)
DEFAULT_SLOW_MEAN_MS = 500.0
_SEVERITY_WEIGHT = {"critical": 10_000, "warning": 100, "info": 1}


class Bounds(Protocol):
    """What the metrics read from config (agent.config.ServeConfig has these fields)."""

    @property
    def engineer_label(self) -> str: ...
    @property
    def max_engineers(self) -> int: ...
    @property
    def max_services(self) -> int: ...
    @property
    def max_teams(self) -> int: ...
    @property
    def max_queues(self) -> int: ...


@dataclass
class MetricsInput:
    """Everything the gauges are computed from: one snapshot's graph, resolved alerts and findings."""

    graph: OwnershipGraph
    alerts: list[AlertPaging]
    findings: list[Finding]
    now: datetime
    collection_duration_s: float | None = None
    slow_mean_ms: float = DEFAULT_SLOW_MEAN_MS


def _top(scores: dict[str, float], n: int) -> set[str]:
    """The n highest-scoring names (ties by name); "" (none) is never bounded away."""
    ranked = sorted((k for k in scores if k), key=lambda k: (-scores[k], k))
    return set(ranked[:n])


class _Bounder:
    def __init__(self, kept: set[str]):
        self.kept = kept

    def __call__(self, value: str | None) -> str:
        if not value:
            return ""
        return value if value in self.kept else OTHER


class _Family:
    """Samples summed by label values (so bounded values collapse into one series)."""

    def __init__(self, name: str, doc: str, labels: tuple[str, ...]):
        self.name, self.doc, self.labels = name, doc, labels
        self.values: dict[tuple[str, ...], float] = defaultdict(float)

    def add(self, value: float, *labels: str) -> None:
        self.values[labels] += value

    def set(self, value: float, *labels: str) -> None:
        self.values[labels] = value

    def metric(self) -> GaugeMetricFamily:
        g = GaugeMetricFamily(self.name, self.doc, labels=list(self.labels))
        for labels, v in sorted(self.values.items()):
            g.add_metric(list(labels), v)
        return g


class _WorkingHours:
    """A team's working hours read once; `off(at)`: outside them in the team's time zone (default Monday to
    Friday 09:00 to 18:00 UTC)."""

    def __init__(self, team: Team | None):
        days, start, end, tz = [0, 1, 2, 3, 4], time(9), time(18), "UTC"
        if team is not None:
            wh = team.working_hours
            days, start, end, tz = wh.days, time.fromisoformat(wh.start), time.fromisoformat(wh.end), team.timezone
        self.days, self.start, self.end = days, start, end
        try:
            self.zone: Any = zone(tz)
        except ValueError:
            self.zone = None

    def off(self, at: datetime) -> bool:
        local = at
        if self.zone is not None:
            try:
                local = at.astimezone(self.zone)
            except ValueError:
                pass
        t = local.time().replace(tzinfo=None)
        return not (local.weekday() in self.days and self.start <= t < self.end)


class _Notified:
    """PagerDuty users each incident notified or was assigned to (`users`): assignments, assign and
    acknowledge log entries, and whoever held the first escalation level when it was created; each
    policy's first level and its on-call spans read once for many incidents.

    The spans are kept in UTC (`datetime.UTC`, one tzinfo object): comparing two datetimes of the same
    tzinfo object compares their fields, while each fact's own tzinfo makes every comparison ask both
    offsets (OnCallIndex.holders per incident was most of the metrics' time on 200,000 incidents).
    `holders` answers what OnCallIndex.holders answers (tests/api/test_metrics.py compares them)."""

    def __init__(self, oncall: OnCallIndex):
        self.oncall = oncall
        self._first: dict[str, int] = {}
        self._spans: dict[tuple[str, int], tuple[list[str], list[tuple[datetime, datetime, str]]]] = {}

    def first_level(self, policy: str) -> int:
        lvl = self._first.get(policy)
        if lvl is None:
            pol = self.oncall.policies.get(policy)
            levels = sorted(lv.level for lv in pol.levels) if pol is not None else [1]
            lvl = self._first[policy] = levels[0] if levels else 1
        return lvl

    def holders(self, policy: str, level: int, at: datetime) -> list[str]:
        return sorted(self._holders(policy, level, as_utc(at).astimezone(UTC)))

    def _holders(self, policy: str, level: int, at: datetime) -> set[str]:
        """`holders` as a set, `at` already in `datetime.UTC`."""
        got = self._spans.get((policy, level))
        if got is None:
            spans = []
            for e in self.oncall.entries.get((policy, level), []):
                s, end = _span(e)
                try:
                    s, end = s.astimezone(UTC), end.astimezone(UTC)
                except OverflowError:  # an instant near datetime.min/max: compared as it is
                    pass
                spans.append((s, end, e.user_id))
            got = self._spans[(policy, level)] = (self.oncall._direct_users(policy, level), spans)
        direct, spans = got
        users = set(direct)
        for s, end, uid in spans:
            if s <= at < end:
                users.add(uid)
        return users

    def users(self, incident: PDIncident, created_utc: datetime | None = None) -> set[str]:
        """`created_utc`: the incident's `created_at` in `datetime.UTC` when known (`incident_times`'s)."""
        users = set(incident.assignees)
        policy = incident.escalation_policy_id
        if policy is None:
            svc = self.oncall.services.get(incident.service_id)
            policy = svc.escalation_policy_id if svc else None
        if policy:
            at = created_utc if created_utc is not None else as_utc(incident.created_at).astimezone(UTC)
            users.update(self._holders(policy, self.first_level(policy), at))
        return users


def _log_users(graph: OwnershipGraph, incidents: set[str] | None = None) -> dict[str, set[str]]:
    """Users each incident's log entries name (`incidents`: only these incidents' entries)."""
    out: dict[str, set[str]] = defaultdict(set)
    for e in graph.pagerduty.log_entries:
        if not e.incident_id or (incidents is not None and e.incident_id not in incidents):
            continue
        if e.type in ("assign_log_entry", "notify_log_entry", "escalate_log_entry"):
            out[e.incident_id].update(e.assignees)
        if e.type == "acknowledge_log_entry" and e.agent_id and (e.agent_type or "").startswith("user"):
            out[e.incident_id].add(e.agent_id)
    return out


def _slos_paging(g: Any, alerts: list[Any]) -> list[tuple[Any, bool]]:
    """Each SLO and whether one of its burn-rate alerts pages now, by the rules linked to it (OWN002's link,
    `slo_alerts`; the SLO's name alone mixed up SLOs of one name in two services). `alerts`: every alerting
    rule's answer, in `g.alert_rules()` order."""
    from rules.checks.own002_slo_no_page import slo_alerts

    linked = slo_alerts(g)
    assert len(alerts) == len(g.alert_rules()), "the answers of every alerting rule, in rule order"
    return [(slo, any(alerts[i].pages for i in linked.get((slo.service, slo.name), []))) for slo in g.slos.slos]


def compute(inp: MetricsInput, bounds: Bounds) -> list[Metric]:
    """Every ownership_* gauge for one snapshot, with bounded label values."""
    g = inp.graph
    now = inp.now
    team_of = {s.name: s.team or "" for s in g.catalog.services}

    # One pass over the alerts (50,000 on a large organisation; three passes were a quarter of the metrics'
    # time) for: the alerts per (service, urgency they reach), for the scores and the paging gauge; the SLOs
    # whose burn-rate alert pages; and the alerts per set of PagerDuty services they reach (the engineers'
    # paging surface, below). The sums are of whole numbers: any grouping gives the same.
    per_service: Counter[tuple[str, str]] = Counter()
    alerts_of: Counter[frozenset[str]] = Counter()
    for a in inp.alerts:
        if a.pages:
            urgency = "high"
        else:
            urgency = "low" if a.notifies_only else "none"
        for name in a.services or [""]:
            per_service[name, urgency] += 1
        pds = _reached(a.paths)
        if pds:
            alerts_of[pds] += 1

    # ---- which services, teams and engineers keep their own series
    service_score: Counter[str] = Counter()
    team_score: Counter[str] = Counter()
    for svc in g.catalog.services:
        service_score[svc.name] += 0
        team_score[svc.team or ""] += 1
    for f in inp.findings:
        service_score[f.service or ""] += _SEVERITY_WEIGHT.get(f.severity, 1)
        team_score[f.team or ""] += 0
    for (name, urgency), n in per_service.items():
        # (an alert of no service counts under "" above, which `_top` never keeps anyway)
        service_score[name] += n if urgency == "high" else 0
    svc_b = _Bounder(_top(dict(service_score), bounds.max_services))
    team_b = _Bounder(_top(dict(team_score), bounds.max_teams))

    def team_for(service: str | None, explicit: str | None = None) -> str:
        return team_b(explicit if explicit is not None else team_of.get(service or "", ""))

    # ---- findings
    findings = _Family(
        "ownership_findings", "Findings by check, severity, service and team.", ("check", "severity", "service", "team")
    )
    for f in inp.findings:
        findings.add(1, f.check, f.severity, svc_b(f.service), team_for(f.service, f.team))

    # ---- paging alerts per service and urgency
    paging = _Family(
        "ownership_paging_alerts",
        "Alerting rules by the urgency they reach: high pages, low only notifies, none reaches nobody.",
        ("service", "team", "urgency"),
    )
    # counted per (service, urgency) first (above), then bounded once per pair, not once per alert
    for (name, urgency), n in per_service.items():
        paging.add(n, svc_b(name), team_for(name), urgency)

    # ---- SLOs and whether a burn-rate alert pages
    slos = _Family(
        "ownership_slos", "SLOs, and whether a burn-rate alert of theirs pages someone.", ("service", "team", "paging")
    )
    for slo, pages in _slos_paging(g, inp.alerts):
        slos.add(1, svc_b(slo.service), team_for(slo.service), "true" if pages else "false")

    # ---- catalog services by team and owner
    services = _Family("ownership_services", "Catalog services by team, owned or not.", ("team", "owned"))
    for svc in g.catalog.services:
        services.add(1, team_b(svc.team), "true" if svc.team else "false")

    # ---- engineers
    oncall = OnCallIndex(g.pagerduty)
    surface, pages7, offhours7 = _engineer_counts(g, oncall, alerts_of, now)
    people_by_pd = {p.pagerduty_user_id: p for p in g.catalog.people if p.pagerduty_user_id}
    pd_users = {u.id: u for u in g.pagerduty.users}

    def handle(uid: str) -> str:
        p = people_by_pd.get(uid)
        if bounds.engineer_label == "catalog_id" and p is not None:
            return p.id
        if bounds.engineer_label == "email":
            email = (p.email if p else None) or (pd_users[uid].email if uid in pd_users else None)
            if email:
                return email
        return uid

    engineer_ids = set(pd_users) | set(surface) | set(pages7)
    eng_score = {uid: float(surface.get(uid, 0) * 1000 + pages7.get(uid, 0)) for uid in engineer_ids}
    kept_eng = _top(eng_score, bounds.max_engineers)
    eng_surface = _Family(
        "ownership_engineer_paging_alerts",
        "Alerting rules that can page the engineer in the next 7 days (their paging surface).",
        ("engineer",),
    )
    eng_pages = _Family(
        "ownership_engineer_pages_7d",
        "PagerDuty incidents that notified the engineer in the last 7 days.",
        ("engineer",),
    )
    eng_off = _Family(
        "ownership_engineer_offhours_pages_7d",
        "PagerDuty incidents that notified the engineer outside their team's working hours in the last 7 days.",
        ("engineer",),
    )
    for uid in sorted(engineer_ids):
        label = handle(uid) if uid in kept_eng else OTHER
        eng_surface.add(surface.get(uid, 0), label)
        eng_pages.add(pages7.get(uid, 0), label)
        eng_off.add(offhours7.get(uid, 0), label)

    # ---- queue lag
    queue_lag = _Family(
        "ownership_queue_lag",
        "Queue lag or backlog (messages or seconds, as the queue's kind measures it).",
        ("service", "queue", "kind"),
    )
    service_of_queue: dict[str, str] = {}
    for svc in g.catalog.services:
        for queue in svc.queues:
            service_of_queue.setdefault(queue.name, svc.name)
    lags = [
        (lag.service or service_of_queue.get(lag.queue, ""), lag) for sig in g.signals.values() for lag in sig.queue_lag
    ]
    queue_score: dict[str, float] = {}
    for service, lag in lags:
        if svc_b(service) != OTHER:
            queue_score[lag.queue] = max(queue_score.get(lag.queue, 0.0), lag.value) + 1e-9
    q_b = _Bounder(_top(queue_score, bounds.max_queues))
    for service, lag in lags:
        sb = svc_b(service)
        queue_lag.add(lag.value, sb, OTHER if sb == OTHER else q_b(lag.queue), lag.kind)

    # ---- slow queries
    slow = _Family(
        "ownership_slow_query_seconds",
        "Total execution time of the statements whose mean is over the slow-query threshold.",
        ("service", "database"),
    )
    services_of_db: dict[str, list[str]] = defaultdict(list)
    for svc in g.catalog.services:
        for db in svc.databases:
            services_of_db[db].append(svc.name)
    for pg in g.postgres.values():
        for st in pg.statements:
            if st.mean_exec_time_ms < inp.slow_mean_ms:
                continue
            for service in services_of_db.get(st.database) or [""]:
                sb = svc_b(service)
                slow.add(st.total_exec_time_ms / 1000.0, sb, OTHER if sb == OTHER else st.database)

    # ---- sources and the collection
    up = _Family("ownership_source_up", "1 when the source's last collection succeeded.", ("source", "kind"))
    stale = _Family(
        "ownership_source_stale", "1 when the source's facts are stale or kept from an earlier run.", ("source", "kind")
    )
    last_ok = _Family(
        "ownership_source_last_success_timestamp_seconds",
        "When the source last answered (Unix time).",
        ("source", "kind"),
    )
    dur = _Family(
        "ownership_source_collection_duration_seconds",
        "How long the source's last collection took.",
        ("source", "kind"),
    )
    for res in g.snapshot.sources:
        st_ = res.status
        up.set(1.0 if st_.ok else 0.0, st_.name, st_.kind)
        stale.set(1.0 if st_.stale else 0.0, st_.name, st_.kind)
        if st_.last_success_at is not None:
            last_ok.set(st_.last_success_at.timestamp(), st_.name, st_.kind)
        dur.set(st_.duration_s, st_.name, st_.kind)
    snap_ts = GaugeMetricFamily(
        "ownership_snapshot_timestamp_seconds",
        "When the snapshot the metrics are computed from was collected (Unix time).",
        value=g.snapshot.taken_at.timestamp(),
    )
    total = inp.collection_duration_s
    if total is None:
        total = max((r.status.duration_s for r in g.snapshot.sources), default=0.0)
    coll = GaugeMetricFamily(
        "ownership_collection_duration_seconds", "How long the collection of the latest snapshot took.", value=total
    )
    fams = [findings, paging, slos, services, eng_surface, eng_pages, eng_off, queue_lag, slow, up, stale, last_ok, dur]
    out: list[Metric] = [f.metric() for f in fams]
    return out + [snap_ts, coll]


def _reached(paths: list[Any]) -> frozenset[str]:
    """The PagerDuty services an alert's paths reach (a path of unknown outcome does not count)."""
    return frozenset(p.pagerduty_service for p in paths if p.pagerduty_service and p.outcome != "unknown")


def _engineer_counts(
    g: OwnershipGraph, oncall: OnCallIndex, alerts_of: Counter[frozenset[str]], now: datetime
) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Per PagerDuty user: paging surface (next 7 days), incidents in the last 7 days, off-hours ones.

    `alerts_of`: how many alerts reach each set of PagerDuty services (`_reached` of their paths)."""
    until = now + SURFACE_WINDOW
    users_of_policy: dict[str, set[str]] = {}

    def holders(policy: str) -> set[str]:
        if policy not in users_of_policy:
            users_of_policy[policy] = {
                sh.user_id
                for lvl in oncall.policy_levels(policy)
                for sh in oncall.holders_over(policy, lvl, now, until)
            }
        return users_of_policy[policy]

    # alerts counted per set of PagerDuty services they page (by `compute`), then each set's holders
    # once: thousands of alerts page the same few services, and the per-alert union of holders was
    # most of this loop
    surface: Counter[str] = Counter()
    for pds, n in alerts_of.items():
        users: set[str] = set()
        for pid in pds:
            svc = oncall.services.get(pid)
            if svc is not None and svc.escalation_policy_id and svc.status != "disabled":
                users |= holders(svc.escalation_policy_id)
        for u in users:
            surface[u] += n

    pages: Counter[str] = Counter()
    off: Counter[str] = Counter()
    incidents, times = g.pagerduty.incidents, incident_times(g)
    window = incident_window(g, now - PAGES_WINDOW, now)
    recent = [incidents[n] for n in window]
    by_log = _log_users(g, {inc.id for inc in recent})
    # a PagerDuty user's first catalog team (of the last person naming that user, as a dict of people gave)
    first_team = {
        p.pagerduty_user_id: (p.teams[0] if p.teams else None) for p in g.catalog.people if p.pagerduty_user_id
    }
    teams = {t.name: t for t in g.catalog.teams}
    team_of_pd_service = {pid: s.team for s in g.catalog.services for pid in s.pagerduty_service_ids if s.team}
    notified = _Notified(oncall)
    hours: dict[str, _WorkingHours] = {}
    for n, inc in zip(window, recent, strict=True):
        off_of_team: dict[str, bool] = {}  # per team, for this incident's instant
        c = times[n]  # (naive or out of range: converted by `users` as before)
        users = notified.users(inc, c if c.tzinfo is UTC else None)  # (a new set: added to in place)
        logged = by_log.get(inc.id)
        if logged:
            users |= logged
        for u in users:
            pages[u] += 1
            key = (first_team.get(u) or team_of_pd_service.get(inc.service_id)) or ""
            is_off = off_of_team.get(key)
            if is_off is None:
                wh = hours.get(key)
                if wh is None:
                    wh = hours[key] = _WorkingHours(teams.get(key))
                is_off = off_of_team[key] = wh.off(inc.created_at)
            if is_off:
                off[u] += 1
    return surface, pages, off


class SnapshotCollector(Collector):
    """Reads the latest computed families on every scrape (computed once per snapshot, not per scrape)."""

    def __init__(self, families: Callable[[], list[Metric] | None]):
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families() or []

    def describe(self) -> list[Any]:
        return []  # families depend on the snapshot; nothing to check at registration


RUN_OUTCOMES = ("success", "failure")


class RunsCollector(Collector):
    """`ownership_scheduler_runs_total{outcome}`: the scheduler's turns in this process, each a collection
    or (a replica without the collector lock) the publication of the latest stored snapshot; both outcomes
    always, from 0, so that an alert can ask for failures without a success."""

    def __init__(self, runs: Callable[[], dict[str, int]]):
        self._runs = runs

    def collect(self) -> Iterator[Metric]:
        got = self._runs()
        fam = CounterMetricFamily(
            "ownership_scheduler_runs",
            "Scheduler turns of this process (a collection, or publishing the latest stored snapshot), by outcome.",
            labels=["outcome"],
        )
        for outcome in RUN_OUTCOMES:
            fam.add_metric([outcome], float(got.get(outcome, 0)))
        yield fam

    def describe(self) -> list[Any]:
        return []


def registry(
    families: Callable[[], list[Metric] | None], runs: Callable[[], dict[str, int]] | None = None
) -> CollectorRegistry:
    """A registry holding only the ownership metrics (no process or platform collectors): the snapshot's
    gauges and, when `runs` is given, the scheduler's runs."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(families))
    if runs is not None:
        reg.register(RunsCollector(runs))
    return reg


QUEUE_KINDS = 6  # kafka, rabbitmq, sqs, celery, redis, other


def series_bound(b: Bounds, checks: int, sources: int) -> int:
    """The most series /metrics can have under the bounds, for an organisation where each service has one
    team, one database and queues of one kind (a named service's series carry its one team; "" and
    "other" services may carry any team)."""
    svc_team = b.max_services + 2 * (b.max_teams + 2)
    return (
        checks * 3 * svc_team  # ownership_findings
        + 3 * svc_team  # ownership_paging_alerts
        + 2 * svc_team  # ownership_slos
        + 2 * (b.max_teams + 2)  # ownership_services
        + 3 * (b.max_engineers + 1)  # the three engineer gauges
        + b.max_queues
        + QUEUE_KINDS * (b.max_services + 2)  # ownership_queue_lag
        + 2 * (b.max_services + 2)  # ownership_slow_query_seconds
        + 4 * sources  # the per-source gauges
        + 2  # snapshot timestamp, collection duration
        + 2  # the scheduler's runs, by outcome
    )
