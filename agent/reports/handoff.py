"""The on-call handoff report of a team for a shift: incidents in the shift (count, off-hours, time to
acknowledge and resolve, by service), incidents still open, alerts firing now, noisy alerts, findings new
since the previous handoff, who is on call next at each level, and the coverage holes ahead
(pure: graph, paging resolver and findings in, a Handoff out; rendering is `render_handoff`)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from statistics import median
from typing import Literal

from pydantic import BaseModel, Field

from agent.errors import InputError
from agent.reports.common import Format, SourceAsOf, SourceTimes, render, sources_as_of
from collectors.facts import PDIncident, Team, WorkingHours
from rules.findings import Finding
from rules.graph import OwnershipGraph
from rules.oncall import zone
from rules.paging import PagingResolver, PersonRef

COVERAGE_AHEAD = timedelta(days=7)
NOISE_WINDOW = timedelta(days=30)
NOISY_FIRES = 5  # fallback without OWN008: fired at least this often in 30 days ...
NOISY_SHORT = 3  # ... or resolved by itself within 5 minutes at least this often
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class SourceRef(BaseModel):
    source: str
    kind: str
    at: datetime | None = None


class IncidentRow(BaseModel):
    id: str
    number: int | None = None
    title: str
    service: str = Field(description="catalog service (or the PagerDuty service name when the catalog has none)")
    pagerduty_service: str
    status: str
    urgency: str
    created_at: datetime
    created_local: str = Field(description="the creation time in the team's time zone")
    off_hours: bool
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    acknowledged_by: list[PersonRef] = Field(default_factory=list)
    time_to_acknowledge_s: float | None = None
    time_to_resolve_s: float | None = None


class ServiceStats(BaseModel):
    service: str
    incidents: int
    off_hours: int
    high_urgency: int
    acknowledged: int
    median_time_to_acknowledge_s: float | None = None
    median_time_to_resolve_s: float | None = None
    max_time_to_resolve_s: float | None = None


class FiringAlert(BaseModel):
    alertname: str
    service: str | None = None
    severity: str | None = None
    since: datetime | None = None
    summary: str | None = Field(None, description="the rule's summary annotation")
    source: SourceRef
    basis: Literal["alertmanager", "alert history"]


class NoisyAlert(BaseModel):
    alertname: str
    service: str | None = None
    fires: int | None = None
    short_fires: int | None = None
    text: str
    finding: str | None = Field(None, description="the OWN008 finding, when there is one")
    source: SourceRef


class NextLevel(BaseModel):
    level: int
    minutes_until_notified: int
    now: list[PersonRef]
    next: PersonRef | None = None
    next_start: datetime | None = None
    next_end: datetime | None = None


class PolicyOnCall(BaseModel):
    escalation_policy: str
    name: str
    levels: list[NextLevel]
    pagerduty_services: list[str]


class CoverageHole(BaseModel):
    escalation_policy: str
    name: str
    start: datetime
    end: datetime
    hours: float


class Handoff(BaseModel):
    """`ownership handoff TEAM`: what the next person on call needs to know."""

    team: str
    display_name: str | None = None
    timezone: str
    working_hours: str
    since: datetime
    until: datetime
    snapshot_id: int | None = None
    escalation_policies: list[str]
    schedules: list[str]
    pagerduty_services: list[str]
    incidents: list[IncidentRow] = Field(description="incidents created in the shift, oldest first")
    incident_count: int
    off_hours_count: int
    page_count: int = Field(description="incidents of high urgency: those that paged (low urgency only notifies)")
    off_hours_page_count: int = Field(description="pages outside the team's working hours")
    median_time_to_acknowledge_s: float | None = None
    median_time_to_resolve_s: float | None = None
    by_service: list[ServiceStats]
    open_incidents: list[IncidentRow]
    firing_now: list[FiringAlert]
    noisy_alerts: list[NoisyAlert]
    new_findings: list[Finding]
    previous_handoff_known: bool = Field(description="False: no earlier findings to compare, every finding is new")
    on_call: list[PolicyOnCall]
    coverage_holes: list[CoverageHole]
    coverage_until: datetime
    pagerduty_source: SourceRef
    sources: list[SourceAsOf] = Field(default_factory=list)


# --------------------------------------------------------------------------- helpers


def _hhmm(s: str) -> time:
    return time.fromisoformat(s if len(s) > 5 else s + ":00") if s != "24:00" else time.max


def off_hours(at: datetime, tz: str, wh: WorkingHours) -> bool:
    """Outside the team's working hours in its time zone (DESIGN: default Mon-Fri 09:00-18:00)."""
    try:
        local = at.astimezone(zone(tz))
    except ValueError:
        local = at
    start, end = _hhmm(wh.start), _hhmm(wh.end)
    t = local.time().replace(tzinfo=None)
    return not (local.weekday() in wh.days and start <= t < end)


def _hours_text(team: Team) -> str:
    wh = team.working_hours
    days = sorted(wh.days)
    if days and days == list(range(days[0], days[-1] + 1)) and len(days) > 1:
        d = f"{DAY_NAMES[days[0]]}-{DAY_NAMES[days[-1]]}"
    else:
        d = ", ".join(DAY_NAMES[x] for x in days) or "no days"
    return f"{d} {wh.start}-{wh.end} {team.timezone}"


def _median(xs: list[float]) -> float | None:
    return float(median(xs)) if xs else None


class _Builder:
    def __init__(self, g: OwnershipGraph, resolver: PagingResolver, team_name: str, since: datetime, until: datetime):
        team = next((t for t in g.catalog.teams if t.name == team_name), None)
        if team is None:
            raise InputError(f'unknown team "{team_name}"', source="catalog")
        if since >= until:
            raise InputError("--since must be before --until", source="handoff")
        self.g, self.r, self.team, self.since, self.until = g, resolver, team, since, until
        self.times = SourceTimes(g, until)
        self.policies = list(team.escalation_policies)
        self.services = sorted(
            (s for s in g.pagerduty.services if s.escalation_policy_id in self.policies), key=lambda s: s.name
        )
        self.service_ids = {s.id for s in self.services}
        self.pd_name = {s.id: s.name for s in g.pagerduty.services}
        self.catalog_of_pd = {pid: s.name for s in g.catalog.services for pid in s.pagerduty_service_ids}
        self.team_services = {s.name for s in g.catalog.services if s.team == team.name}
        self.log_by_incident: dict[str, list] = defaultdict(list)
        for e in g.pagerduty.log_entries:
            if e.incident_id:
                self.log_by_incident[e.incident_id].append(e)
        for entries in self.log_by_incident.values():
            entries.sort(key=lambda e: (e.created_at, e.id))

    def ref(self, kind: str, name: str | None = None) -> SourceRef:
        src, k, at = self.times.named(name, kind) if name else self.times.of_kind(kind)
        return SourceRef(source=src, kind=k, at=at)

    def ours(self, i: PDIncident) -> bool:
        return i.service_id in self.service_ids or (i.escalation_policy_id or "") in self.policies

    def row(self, i: PDIncident) -> IncidentRow:
        logs = self.log_by_incident.get(i.id, [])
        ack = next((e for e in logs if e.type == "acknowledge_log_entry" and e.created_at <= self.until), None)
        res = next((e for e in logs if e.type == "resolve_log_entry" and e.created_at <= self.until), None)
        acked_at = ack.created_at if ack else i.acknowledged_at
        resolved_at = res.created_at if res else i.resolved_at
        if acked_at and acked_at > self.until:
            acked_at = None
        if resolved_at and resolved_at > self.until:
            resolved_at = None
        by = []
        if ack and ack.agent_type == "user_reference" and ack.agent_id:
            by = [self.r.person(ack.agent_id)]
        status = "resolved" if resolved_at else ("acknowledged" if acked_at else "triggered")
        if not logs and resolved_at is None and i.status in ("resolved", "acknowledged", "triggered"):
            status = i.status  # no log entries and no timestamps: the status the source reported
        return IncidentRow(
            id=i.id,
            number=i.incident_number,
            title=i.title,
            service=self.catalog_of_pd.get(i.service_id) or self.pd_name.get(i.service_id, i.service_id),
            pagerduty_service=self.pd_name.get(i.service_id, i.service_id),
            status=status,
            urgency=i.urgency,
            created_at=i.created_at,
            created_local=_local(i.created_at, self.team.timezone),
            off_hours=off_hours(i.created_at, self.team.timezone, self.team.working_hours),
            acknowledged_at=acked_at,
            resolved_at=resolved_at,
            acknowledged_by=by,
            time_to_acknowledge_s=(acked_at - i.created_at).total_seconds() if acked_at else None,
            time_to_resolve_s=(resolved_at - i.created_at).total_seconds() if resolved_at else None,
        )

    # ---- sections

    def incidents(self) -> tuple[list[IncidentRow], list[IncidentRow]]:
        mine = sorted((i for i in self.g.pagerduty.incidents if self.ours(i)), key=lambda i: (i.created_at, i.id))
        shift = [self.row(i) for i in mine if self.since <= i.created_at < self.until]
        still_open = [r for r in (self.row(i) for i in mine if i.created_at < self.until) if r.status != "resolved"]
        return shift, still_open

    @staticmethod
    def by_service(rows: list[IncidentRow]) -> list[ServiceStats]:
        groups: dict[str, list[IncidentRow]] = defaultdict(list)
        for r in rows:
            groups[r.service].append(r)
        out = []
        for name, rs in sorted(groups.items()):
            tta = [r.time_to_acknowledge_s for r in rs if r.time_to_acknowledge_s is not None]
            ttr = [r.time_to_resolve_s for r in rs if r.time_to_resolve_s is not None]
            out.append(
                ServiceStats(
                    service=name,
                    incidents=len(rs),
                    off_hours=sum(r.off_hours for r in rs),
                    high_urgency=sum(r.urgency == "high" for r in rs),
                    acknowledged=len(tta),
                    median_time_to_acknowledge_s=_median(tta),
                    median_time_to_resolve_s=_median(ttr),
                    max_time_to_resolve_s=max(ttr) if ttr else None,
                )
            )
        return out

    def summary_of(self, labels: dict[str, str]) -> str | None:
        """The summary annotation of the rule the alert comes from: same name, static labels that agree."""
        name = labels.get("alertname")
        for sr in self.g.alert_rules():
            r = sr.rule
            if r.name == name and all(labels.get(k, v) == v for k, v in r.labels.items()):
                return r.annotations.get("summary") or r.annotations.get("description")
        return None

    def attributed(self, labels: dict[str, str]) -> tuple[bool, str | None]:
        services = self.g.services_of_labels(labels)
        mine = [s for s in services if s in self.team_services]
        if mine:
            return True, mine[0]
        return labels.get("team") == self.team.name, (services[0] if services else labels.get("service"))

    def firing(self) -> list[FiringAlert]:
        out = []
        live = {n: am for n, am in sorted(self.g.alertmanagers.items()) if am.alerts}
        if live:
            for am_name, am in live.items():
                for a in am.alerts:
                    if a.state not in ("active", "firing"):
                        continue
                    ok, svc = self.attributed(a.labels)
                    if not ok or (a.starts_at and a.starts_at > self.until):
                        continue
                    name = a.labels.get("alertname", "?")
                    out.append(
                        FiringAlert(
                            alertname=name,
                            service=svc,
                            severity=a.labels.get("severity"),
                            since=a.starts_at,
                            summary=self.summary_of(a.labels),
                            source=self.ref("alertmanager", am_name),
                            basis="alertmanager",
                        )
                    )
        else:
            for sig_name, sig in sorted(self.g.signals.items()):
                for h in sig.alert_history:
                    ok, svc = self.attributed(h.labels)
                    if not ok:
                        continue
                    for s, e in h.episodes:
                        if s <= self.until <= e:
                            out.append(
                                FiringAlert(
                                    alertname=h.alertname,
                                    service=svc,
                                    severity=h.labels.get("severity"),
                                    since=s,
                                    summary=self.summary_of({**h.labels, "alertname": h.alertname}),
                                    source=self.ref("prometheus_signals", sig_name),
                                    basis="alert history",
                                )
                            )
        return sorted(out, key=lambda a: (a.since or self.until, a.alertname))

    def noisy(self, findings: list[Finding]) -> list[NoisyAlert]:
        own008 = [f for f in findings if f.check == "OWN008" and self.finding_is_ours(f)]
        if own008:
            out = []
            for f in own008:
                e = f.evidence[0] if f.evidence else None
                out.append(
                    NoisyAlert(
                        alertname=f.subject,
                        service=f.service,
                        fires=_int(e.values.get("fires") if e else None),
                        short_fires=_int(e.values.get("short_fires") if e else None),
                        text=f.summary,
                        finding=f"{f.check} {f.subject}",
                        source=SourceRef(source=e.source, kind=e.kind, at=_min(e.observed_at, self.until))
                        if e
                        else self.ref("prometheus_signals"),
                    )
                )
            return sorted(out, key=lambda n: (-(n.fires or 0), n.alertname))
        out = []
        for sig_name, sig in sorted(self.g.signals.items()):
            for h in sig.alert_history:
                ok, svc = self.attributed(h.labels)
                if not ok:
                    continue
                lo = self.until - NOISE_WINDOW
                eps = [(s, e) for s, e in h.episodes if lo <= s <= self.until]
                fires = len(eps) if h.episodes else h.fires
                short = sum(1 for s, e in eps if (e - s) <= timedelta(minutes=5)) if h.episodes else h.short_fires
                if fires >= NOISY_FIRES or short >= NOISY_SHORT:
                    out.append(
                        NoisyAlert(
                            alertname=h.alertname,
                            service=svc,
                            fires=fires,
                            short_fires=short,
                            text=f"{h.alertname} fired {fires} times in the 30 days before the end of the shift, "
                            f"{short} of them resolved by itself within 5 minutes",
                            source=self.ref("prometheus_signals", sig_name),
                        )
                    )
        return sorted(out, key=lambda n: (-(n.fires or 0), n.alertname))

    def finding_is_ours(self, f: Finding) -> bool:
        return f.team == self.team.name or (f.service is not None and f.service in self.team_services)

    def on_call(self) -> list[PolicyOnCall]:
        out = []
        for pid in self.policies:
            pol = self.r.oncall.policies.get(pid)
            levels = []
            for lv in self.r.oncall.levels(pid, self.until):
                nxt = self.r.oncall.next_shift(pid, lv.level, self.until)
                levels.append(
                    NextLevel(
                        level=lv.level,
                        minutes_until_notified=lv.minutes_until_notified,
                        now=[self.r.person(u) for u in lv.holders],
                        next=self.r.person(nxt.user_id) if nxt else None,
                        next_start=nxt.start if nxt else None,
                        next_end=nxt.end if nxt else None,
                    )
                )
            out.append(
                PolicyOnCall(
                    escalation_policy=pid,
                    name=pol.name if pol else pid,
                    levels=levels,
                    pagerduty_services=[s.name for s in self.services if s.escalation_policy_id == pid],
                )
            )
        return out

    def holes(self) -> list[CoverageHole]:
        out = []
        for pid in self.policies:
            pol = self.r.oncall.policies.get(pid)
            for s, e in self.r.oncall.coverage_gaps(pid, self.until, self.until + COVERAGE_AHEAD):
                out.append(
                    CoverageHole(
                        escalation_policy=pid,
                        name=pol.name if pol else pid,
                        start=s,
                        end=e,
                        hours=round((e - s).total_seconds() / 3600, 2),
                    )
                )
        return sorted(out, key=lambda h: (h.start, h.name))


def _int(v: object) -> int | None:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return None
    try:
        return int(v)
    except ValueError:
        return None


def _min(t: datetime | None, until: datetime) -> datetime | None:
    return min(t, until) if t else None


def _local(t: datetime, tz: str) -> str:
    try:
        return t.astimezone(zone(tz)).strftime("%a %Y-%m-%d %H:%M")
    except ValueError:
        return t.strftime("%a %Y-%m-%d %H:%M UTC")


def build_handoff(
    graph: OwnershipGraph,
    resolver: PagingResolver,
    findings: list[Finding],
    team: str,
    since: datetime,
    until: datetime,
    previous_findings: list[Finding] | None = None,
) -> Handoff:
    """The handoff of `team` for the shift [since, until): `until` is the handoff instant (alerts firing
    now, who is on call next and the coverage holes of the 7 days ahead are computed for it).
    `previous_findings`: the findings at the previous handoff; None when unknown (every finding is then new)."""
    b = _Builder(graph, resolver, team, since, until)
    shift, still_open = b.incidents()
    tta = [r.time_to_acknowledge_s for r in shift if r.time_to_acknowledge_s is not None]
    ttr = [r.time_to_resolve_s for r in shift if r.time_to_resolve_s is not None]
    known = {f.key for f in previous_findings or []}
    ours = [f for f in findings if b.finding_is_ours(f)]
    new = [f for f in ours if f.key not in known]
    return Handoff(
        team=b.team.name,
        display_name=b.team.display_name,
        timezone=b.team.timezone,
        working_hours=_hours_text(b.team),
        since=since,
        until=until,
        snapshot_id=graph.snapshot.id,
        escalation_policies=[p for p in b.policies],
        schedules=list(b.team.schedules),
        pagerduty_services=[s.name for s in b.services],
        incidents=shift,
        incident_count=len(shift),
        off_hours_count=sum(r.off_hours for r in shift),
        page_count=sum(r.urgency == "high" for r in shift),
        off_hours_page_count=sum(r.off_hours and r.urgency == "high" for r in shift),
        median_time_to_acknowledge_s=_median(tta),
        median_time_to_resolve_s=_median(ttr),
        by_service=b.by_service(shift),
        open_incidents=still_open,
        firing_now=b.firing(),
        noisy_alerts=b.noisy(findings),
        new_findings=new,
        previous_handoff_known=previous_findings is not None,
        on_call=b.on_call(),
        coverage_holes=b.holes(),
        coverage_until=until + COVERAGE_AHEAD,
        pagerduty_source=b.ref("pagerduty"),
        sources=sources_as_of(graph, until),
    )


def render_handoff(h: Handoff, fmt: Format) -> str:
    """The handoff as Markdown or a self-contained HTML page (everything from a source escaped)."""
    return render("handoff", fmt, h=h)
