"""Runs the checks: a graph and a rule pack in, findings out (pure; no network, no database)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from operator import attrgetter
from pathlib import Path
from typing import Any

from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.errors import InputError
from collectors.durations import parse_duration
from collectors.validate import validate
from collectors.yamlfile import load_one
from rules.findings import SEVERITY_RANK, Finding, Severity
from rules.graph import OwnershipGraph

tracer = trace.get_tracer("ownership-agent.rules")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckSettings(_Strict):
    enabled: bool | None = Field(None, description="turn the check off (or back on)")
    severity: Severity | None = Field(None, description="override the check's severity")
    params: dict[str, Any] = Field(default_factory=dict, description="thresholds, as the check's doc page lists")


class Override(_Strict):
    team: str | None = Field(None, description="applies to this team's services")
    service: str | None = Field(None, description="applies to this service (wins over team)")
    checks: dict[str, CheckSettings] = Field(default_factory=dict, description="check id -> settings")

    @model_validator(mode="after")
    def _one_scope(self) -> Override:
        if (self.team is None) == (self.service is None):
            raise ValueError("an override names exactly one of team or service")
        return self


class Snooze(_Strict):
    check: str = Field(description="check id")
    service: str | None = Field(None, description="only this service (any when omitted)")
    subject: str | None = Field(None, description="only this subject (alert, policy, queue...)")
    until: date = Field(description="the snooze expires at the start of this day (UTC)")
    reason: str = Field(description="why, for the next reader")


class RulePack(_Strict):
    apiVersion: str = Field(description="ownership-agent/v1")
    kind: str = Field(description="RulePack")
    checks: dict[str, CheckSettings] = Field(default_factory=dict, description="check id -> defaults")
    overrides: list[Override] = Field(default_factory=list, description="per team or service")
    snoozes: list[Snooze] = Field(default_factory=list, description="findings hidden until a date")


def default_pack_path() -> Path:
    # beside this module (package data); not importlib.resources: a `rules/` folder of Prometheus
    # rule files in the working directory must not shadow the package
    return Path(__file__).parent / "packs" / "default.yaml"


def load_pack(path: Path | str | None = None) -> RulePack:
    p = Path(path) if path else default_pack_path()
    doc = load_one(p)
    pack = validate(RulePack, doc)
    known = set(check_ids())
    for cid in pack.checks:
        if cid not in known:
            raise InputError(f"unknown check id {cid!r}", file=str(p), line=doc.line_of("checks", cid))
    for i, o in enumerate(pack.overrides):
        for cid in o.checks:
            if cid not in known:
                raise InputError(
                    f"unknown check id {cid!r}", file=str(p), line=doc.line_of("overrides", i, "checks", cid)
                )
    for i, s in enumerate(pack.snoozes):
        if s.check not in known:
            raise InputError(f"unknown check id {s.check!r}", file=str(p), line=doc.line_of("snoozes", i, "check"))
    return pack


def merge_packs(base: RulePack, extra: RulePack) -> RulePack:
    """`extra` (the config's) on top of `base` (the default pack)."""
    checks = {k: v.model_copy(deep=True) for k, v in base.checks.items()}
    for cid, s in extra.checks.items():
        cur = checks.setdefault(cid, CheckSettings())
        if s.enabled is not None:
            cur.enabled = s.enabled
        if s.severity is not None:
            cur.severity = s.severity
        cur.params.update(s.params)
    return RulePack(
        apiVersion=base.apiVersion,
        kind=base.kind,
        checks=checks,
        overrides=[*base.overrides, *extra.overrides],
        snoozes=[*base.snoozes, *extra.snoozes],
    )


_CREATED_AT = attrgetter("created_at")


def incident_times(graph: OwnershipGraph) -> list[datetime]:
    """Each PagerDuty incident's `created_at` in UTC (`datetime.UTC`), in incident order; computed once per graph.

    Why: every fact carries its own tzinfo object, so comparing its instant with another asks both
    offsets (microseconds); two datetimes of the same tzinfo object compare by their fields. Windows
    over 200,000 incidents (OWN008, the paging answers' counts, the metrics) compare these instead (the same
    order, exactly)."""

    def in_utc(c: datetime) -> datetime:
        if c.tzinfo is None:  # (facts are aware) compared as it is
            return c
        try:
            return c.astimezone(UTC)
        except OverflowError:  # near datetime.min/max: compared as it is
            return c

    def build() -> list[datetime]:
        # already in UTC (what an export's `Z` gives): as it is, what `astimezone(UTC)` returns for it
        return [c if c.tzinfo is UTC else in_utc(c) for c in map(_CREATED_AT, graph.pagerduty.incidents)]

    return graph.memo(("pagerduty", "incident_times_utc"), build)


def incidents_in_order(graph: OwnershipGraph) -> bool:
    """Whether `incident_times` never decreases (a PagerDuty export lists incidents by creation): then
    the incidents of a window are one slice (`incident_window`), and any subsequence of the incidents
    is already in `created_at` order. Computed once per graph; False when the times do not compare
    (naive beside aware: the callers' scans meet that as they always did)."""

    def build() -> bool:
        t = incident_times(graph)
        try:
            return all(a <= b for a, b in zip(t, t[1:], strict=False))
        except TypeError:
            return False

    return graph.memo(("pagerduty", "incident_times_sorted"), build)


def incident_window(graph: OwnershipGraph, since: datetime, until: datetime) -> Sequence[int]:
    """Positions of the incidents whose `incident_times` entry `c` has `since <= c <= until`, in incident order.

    Why: OWN008, the paging answers' counts and the metrics read the incidents of the last days out of
    200,000; on times in order
    (the usual) two bisections find them instead of comparing every incident's time (the same answer:
    tests/rules/test_engine_incidents.py compares both ways)."""
    times = incident_times(graph)
    since, until = utc(since), utc(until)
    if incidents_in_order(graph):
        return range(bisect_left(times, since), bisect_right(times, until))
    return [n for n, c in enumerate(times) if since <= c <= until]


def utc(at: datetime) -> datetime:
    """An aware instant in `datetime.UTC` (to compare with `incident_times`); a naive one as it is."""
    return at.astimezone(UTC) if at.tzinfo is not None else at


def check_ids() -> list[str]:
    from rules.checks import CHECKS

    return [c.id for c in CHECKS]


@dataclass
class ResolvedSettings:
    """A check's settings for one service: pack default, then team override, then service override."""

    params: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    severity: Severity | None = None


@dataclass
class CheckContext:
    """What a check reads: the graph, the paging resolver, the instant, and its thresholds."""

    graph: OwnershipGraph
    now: datetime
    pack: RulePack
    _team_of_service: dict[str, str | None] = field(default_factory=dict)
    resolver: Any = None  # a PagingResolver of the same graph to share (its caches), else one is made
    resolved: list[Any] | None = None  # every alert already resolved at `now` by that resolver, in rule order
    # (check id, service) -> its merged settings; the pack is not changed while the checks run
    _settings: dict[tuple[str, str | None], ResolvedSettings] = field(default_factory=dict)
    _merged: dict[tuple[Any, ...], ResolvedSettings] = field(default_factory=dict)
    _durations: dict[tuple[str, str, str | None, str], float] = field(default_factory=dict)  # `duration`'s
    _parsed_durations: dict[str, float] = field(default_factory=dict)  # text -> seconds

    def __post_init__(self) -> None:
        self._team_of_service = {s.name: s.team for s in self.graph.catalog.services}
        # checks some override names (the others' settings are the same for every service)
        self._overridden = {cid for o in self.pack.overrides for cid in o.checks}

    @cached_property
    def paging(self) -> Any:
        if self.resolver is not None:
            return self.resolver
        from rules.paging import PagingResolver

        return PagingResolver(self.graph)

    @cached_property
    def alerts(self) -> list[Any]:
        """Every alerting rule resolved to its paging paths at `now` (computed once, shared by checks)."""
        if self.resolved is not None:
            return self.resolved
        return [self.paging.resolve(sr, self.now) for sr in self.graph.alert_rules()]

    @cached_property
    def rules_by_service(self) -> dict[str, list[Any]]:
        """Alerting rules (SourcedRule) per catalog service they are attributed to, computed once."""
        out: dict[str, list[Any]] = {}
        for sr, a in zip(self.graph.alert_rules(), self.alerts, strict=True):
            for svc in a.services:
                mine = out.get(svc)  # (not setdefault: a new empty list per alert)
                if mine is None:
                    out[svc] = [sr]
                else:
                    mine.append(sr)
        return out

    def team_of(self, service: str | None) -> str | None:
        return self._team_of_service.get(service) if service else None

    def _scoped(self, check_id: str, service: str | None) -> list[CheckSettings]:
        """Settings from general to specific: pack default, team override, service override."""
        out = []
        if check_id in self.pack.checks:
            out.append(self.pack.checks[check_id])
        team = self.team_of(service)
        for o in self.pack.overrides:
            if o.team and o.team == team and check_id in o.checks:
                out.append(o.checks[check_id])
        for o in self.pack.overrides:
            if o.service and o.service == service and check_id in o.checks:
                out.append(o.checks[check_id])
        return out

    def settings(self, check_id: str, service: str | None = None) -> ResolvedSettings:
        """The settings of a check for a service, merged once: checks ask per item (700k times on a
        large organisation), and scanning every override each time was a third of the checks' time.

        Services whose overrides are the same share one object: a check may key work derived from
        the settings (e.g. parsed thresholds) on its identity."""
        key = (check_id, service)
        r = self._settings.get(key)
        if r is None and service is not None and check_id not in self._overridden:
            # no override names the check: every service has the pack's own settings (the same object
            # `settings(check_id)` gives, as the merge below would find): one read, not a merge per service
            r = self._settings[key] = self.settings(check_id)
        if r is None:
            scoped = self._scoped(check_id, service)
            ids = (check_id, *(id(s) for s in scoped))  # the pack's settings live as long as the context
            r = self._merged.get(ids)
            if r is None:
                r = self._merged[ids] = ResolvedSettings()
                for s in scoped:
                    r.params.update(s.params)
                    if s.enabled is not None:
                        r.enabled = s.enabled
                    if s.severity is not None:
                        r.severity = s.severity
            self._settings[key] = r
        return r

    def same_for_every_service(self, check_id: str) -> bool:
        """Whether no override names the check: its settings are the pack's for every service."""
        return check_id not in self._overridden

    def param(self, check_id: str, name: str, service: str | None = None, default: Any = None) -> Any:
        r = self._settings.get((check_id, service))  # (`settings`' own first step, one call less per item)
        if r is None:
            r = self.settings(check_id, service)
        return r.params.get(name, default)

    def duration(self, check_id: str, name: str, service: str | None, default: str) -> float:
        """A duration param in seconds (`parse_duration` of its text), parsed once per question: checks read
        one per alert (90,000 parses, and as many settings lookups, were most of OWN011's and OWN013's time on
        a large organisation)."""
        key = (check_id, name, service, default)
        v = self._durations.get(key)
        if v is None:
            # each distinct text parsed once (not once per service: L has 5,000 of them, 15,000 parses)
            text = str(self.param(check_id, name, service, default))
            v = self._parsed_durations.get(text)
            if v is None:
                v = self._parsed_durations[text] = parse_duration(text)
            self._durations[key] = v
        return v

    def enabled(self, check_id: str, service: str | None = None) -> bool:
        return self.settings(check_id, service).enabled

    def severity(self, check_id: str, default: Severity, service: str | None = None) -> Severity:
        sev = self.settings(check_id, service).severity
        return default if sev is None else sev

    def snoozed(self, f: Finding) -> bool:
        for s in self.pack.snoozes:
            if s.check != f.check or self.now.date() >= s.until:
                continue
            if s.service and s.service != f.service:
                continue
            if s.subject and s.subject != f.subject:
                continue
            return True
        return False


def run_checks(
    graph: OwnershipGraph,
    now: datetime,
    pack: RulePack | None = None,
    only: set[str] | None = None,
    *,
    resolver: Any = None,
    alerts: list[Any] | None = None,
) -> list[Finding]:
    """Every enabled check's findings, severities and snoozes applied, in a stable order.

    `resolver` and `alerts` (every alert rule resolved at `now` by it) share work already done by the caller."""
    from rules.checks import CHECKS

    ctx = CheckContext(graph=graph, now=now, pack=pack or load_pack(), resolver=resolver, resolved=alerts)
    out: list[Finding] = []
    with tracer.start_as_current_span("checks"):  # the rule evaluation: one trace with a span per check
        for check in CHECKS:
            if only and check.id not in only:
                continue
            with tracer.start_as_current_span(f"check {check.id}"):
                out += _kept(ctx, list(check().run(ctx)))
    out.sort(key=lambda f: (-SEVERITY_RANK[f.severity], f.check, f.service or "", f.subject))
    return out


def _kept(ctx: CheckContext, found: list[Finding]) -> list[Finding]:
    """A check's findings with the pack's settings applied: the disabled and snoozed left out."""
    out = []
    for f in found:
        if not ctx.enabled(f.check, f.service) or ctx.snoozed(f):
            continue
        f.severity = ctx.severity(f.check, f.severity, f.service)
        f.team = f.team or ctx.team_of(f.service)
        out.append(f)
    return out
