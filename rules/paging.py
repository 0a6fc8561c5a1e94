"""The paging answer: for a service or an engineer, every alert that can page, through which route,
receiver, PagerDuty service and level, to whom now and next, at what urgency (pure, no I/O).

alert rule -> label sets (rules.labelsets) -> routes (rules.routing) -> receiver -> PagerDuty
integration key fingerprint -> service -> escalation policy -> levels -> people (rules.oncall).
Labels the expression leaves open are resolved symbolically: every value the routing tree tests
for them (plus "any other value") is tried, and each distinct outcome is listed with its condition.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from collectors.facts import AlertHistory, AlertmanagerFacts, Matcher, PDService, Receiver, Route, Rule, trusted
from rules.engine import incident_window
from rules.graph import OwnershipGraph, SourcedRule
from rules.labelsets import AlertLabeller, AlertLabels
from rules.oncall import OnCallIndex, PageAnswer, time_to_page
from rules.routing import CompiledTree, RouteMatch, compile_go_regex, intervals_by_name, muted_at
from rules.routing import active_at as route_active_at

OTHER = "\u2026other"  # stands for "any value the tree does not test for"
MAX_COMBINATIONS = 256
_WORD = re.compile(r"\w+")  # a name of word characters only
_WORDS = re.compile(r"\w+")  # the words of a title
ALERTMANAGER_DEFAULT_SEVERITY = "error"  # notify/pagerduty: severity when pagerduty_configs sets none
PAGING_SEVERITIES = ("critical", "error")
Outcome = Literal["pages", "notifies", "nobody", "unknown"]


class PersonRef(BaseModel):
    """A person as the catalog and PagerDuty know them."""

    id: str = Field(description="catalog handle, or the PagerDuty user id when the catalog does not know them")
    name: str | None = None
    email: str | None = None
    pagerduty_user_id: str | None = None


class ShiftRef(BaseModel):
    person: PersonRef
    start: datetime | None
    end: datetime | None


class LevelRef(BaseModel):
    level: int
    minutes_until_notified: int
    now: list[PersonRef]
    next: ShiftRef | None = None


class PagingPath(BaseModel):
    """One way an alert reaches (or fails to reach) people."""

    alertmanager: str
    condition: dict[str, str] = Field(default_factory=dict, description="values of open labels for this path")
    route_path: str
    route_location: str
    receiver: str
    muted_now: bool = False
    integrations: list[str] = Field(default_factory=list)
    pagerduty_service: str | None = None
    pagerduty_service_name: str | None = None
    escalation_policy: str | None = None
    severity_sent: str | None = None
    outcome: Outcome
    urgency: str | None = None
    reason: str | None = None
    level: int | None = None
    people_now: list[PersonRef] = Field(default_factory=list)
    levels: list[LevelRef] = Field(default_factory=list)
    time_to_page_s: float | None = None
    group_wait_s: float = 30.0


class AlertPaging(BaseModel):
    """One alerting rule and everything it reaches."""

    alert: str
    prometheus: str
    file: str | None
    line: int | None
    severity: str | None
    for_s: float
    labels: dict[str, str]
    open_labels: list[str]
    services: list[str] = Field(description="catalog services the alert's labels attribute it to")
    runbook: str | None
    slo: str | None
    paths: list[PagingPath]
    pages: bool = Field(description="some path pages a person at the instant")
    notifies_only: bool
    fired_30d: int | None = None
    paged_30d: int | None = None


class ServicePages(BaseModel):
    """`ownership pages --service S`."""

    service: str
    team: str | None
    at: datetime
    alerts: list[AlertPaging]
    paging_alerts: int
    why_nothing_pages: str | None = None


class HeldLevel(BaseModel):
    escalation_policy: str
    escalation_policy_name: str
    level: int
    start: datetime | None
    end: datetime | None


class EngineerService(BaseModel):
    service: str
    # the instant `alerts` are answered for: when the engineer first holds a level of these PagerDuty services'
    # policies in the window (its start when they hold one then), so that who is on call, maintenance windows
    # and silences are those of their shift
    at: datetime
    pagerduty_services: list[str]
    held: list[HeldLevel]
    alerts: list[AlertPaging]


class EngineerPages(BaseModel):
    """`ownership pages --engineer E`."""

    engineer: PersonRef
    since: datetime
    until: datetime
    services: list[EngineerService]
    why_nothing_pages: str | None = None


# --------------------------------------------------------------------------- resolution


class _Plan:
    """What `PagingResolver._plan` shares among alerts, as columns with one entry per path: the shared
    path's field values and fields-set to copy (`_path_from_plan`), its group_wait and the minutes until its
    level is notified (None: it pages nobody), for the time to page; whether one path pages or only
    notifies, and their PagerDuty services (one per path that has one)."""

    __slots__ = (
        "values",
        "fields_sets",
        "group_waits",
        "minutes",
        "pages",
        "notifies",
        "pd_services",
        "word_counts",
        "_ttps",
    )

    def __init__(
        self,
        paths: list[tuple[dict[str, Any], set[str], float, int | None]],
        pages: bool,
        notifies: bool,
        pd_services: tuple[str, ...],
    ):
        columns = tuple(zip(*paths, strict=True)) or ((), (), (), ())
        self.values, self.fields_sets, self.group_waits, self.minutes = columns
        self.pages = pages
        self.notifies = notifies
        self.pd_services = pd_services
        # per PagerDuty service of the plan (once each), the word counts of `_high_urgency_words`
        self.word_counts: tuple[Counter[str], ...] | None = None
        self._ttps: dict[float, tuple[float | None, ...]] = {}

    def times_to_page(self, for_s: float) -> tuple[float | None, ...]:
        """Per path, the time to page of an alert with this `for` (None: the path pages nobody); alerts
        of a plan have few distinct `for`s (on L 14,000 plans, 50,000 alerts, 20,900 times to page)."""
        hit = self._ttps.get(for_s)
        if hit is None:
            hit = self._ttps[for_s] = tuple(
                None if minutes is None else time_to_page(for_s, group_wait_s, minutes)
                for group_wait_s, minutes in zip(self.group_waits, self.minutes, strict=True)
            )
        return hit


class PagingResolver:
    """Compiles the routing trees and the on-call index once per graph."""

    def __init__(self, graph: OwnershipGraph):
        self.g = graph
        self.oncall = OnCallIndex(graph.pagerduty)
        self._labels: dict[int, tuple[Rule, AlertLabels]] = {}
        self._labellers: dict[str, AlertLabeller] = {}  # per Prometheus
        self._unrelabelled: dict[str, AlertLabeller] = {}  # per Prometheus with alert_relabel_configs
        self._unrelabelled_labels: dict[int, tuple[Rule, dict[str, str]]] = {}  # per rule, as `_labels`
        self._words_at: dict[datetime, dict[str, Counter[str]]] = {}
        self._by_service: dict[str, list[SourcedRule]] | None = None
        self._answers: dict[tuple, tuple[PageAnswer, list[PersonRef], list[LevelRef]]] = {}
        self._protos: dict[tuple, tuple[tuple[PagingPath, int | None, tuple[str | None, ...]], ...]] = {}
        self._by_route: dict[tuple, list[tuple[PagingPath, int | None]]] = {}
        self._plans: dict[tuple, _Plan] = {}  # per key of `_paths_of`
        self._plans_by_routes: dict[tuple, _Plan] = {}  # per routes, severity-template labels and instant
        self._levels: dict[tuple[str, datetime], list[LevelRef]] = {}
        self._persons: dict[str, PersonRef] = {}
        self._history: dict[str, list[AlertHistory]] | None = None
        self.trees = {name: CompiledTree(am) for name, am in graph.alertmanagers.items()}
        # the labels `_severity_sent` reads from an alert: the simple templates of pagerduty_configs' severity
        self.severity_labels = {name: _severity_template_labels(am) for name, am in graph.alertmanagers.items()}
        self.intervals = {name: intervals_by_name(am) for name, am in graph.alertmanagers.items()}
        self.receivers = {name: {r.name: r for r in am.receivers} for name, am in graph.alertmanagers.items()}
        self.tested = {name: _tested_values(am.route) for name, am in graph.alertmanagers.items()}
        self.people_by_pd = {p.pagerduty_user_id: p for p in graph.catalog.people if p.pagerduty_user_id}
        self.pd_users = {u.id: u for u in graph.pagerduty.users}
        self._slo_of_rule: dict[int, str] | None = None  # id(rule) -> the SLO it is a burn-rate alert of

    def slo_of(self, rule: Rule) -> str | None:
        """The name of the SLO an alerting rule is a burn-rate alert of (OWN002's link: by the spec's alert name,
        Sloth labels or a selector of its `sloth_id`), or None."""
        if self._slo_of_rule is None:
            from rules.checks.own002_slo_no_page import slo_alerts

            rules = self.g.alert_rules()
            by: dict[int, str] = {}
            for (_, name), positions in slo_alerts(self.g).items():
                for i in positions:
                    by.setdefault(id(rules[i].rule), name)
            self._slo_of_rule = by
        return self._slo_of_rule.get(id(rule))

    # ---- people

    def person(self, pd_user_id: str) -> PersonRef:
        p = self.people_by_pd.get(pd_user_id)
        u = self.pd_users.get(pd_user_id)
        if p is not None:
            return PersonRef(
                id=p.id, name=p.name or (u.name if u else None), email=p.email, pagerduty_user_id=pd_user_id
            )
        return PersonRef(
            id=pd_user_id, name=u.name if u else None, email=u.email if u else None, pagerduty_user_id=pd_user_id
        )

    # ---- one alert

    def labels_of(self, sr: SourcedRule) -> AlertLabels:
        key = id(sr.rule)  # rules live as long as the graph; inference parses PromQL, so do it once
        hit = self._labels.get(key)
        if hit is not None and hit[0] is sr.rule:
            return hit[1]
        labeller = self._labellers.get(sr.source)
        if labeller is None:
            prom = self.g.prometheus.get(sr.source)
            labeller = self._labellers[sr.source] = AlertLabeller(
                prom.external_labels if prom else {}, prom.alert_relabel_configs if prom else []
            )
        got = labeller(sr.rule)
        self._labels[key] = (sr.rule, got)
        return got

    def live_values(self, sr: SourcedRule) -> dict[str, set[str]]:
        """Values the open labels have in the series the rule selects now (live Prometheus), per label."""
        prom = self.g.prometheus.get(sr.source)
        if prom is None or not prom.series_labels:
            return {}
        from collectors.promql_metrics import selectors

        try:
            sels = selectors(sr.rule.expr)
        except (ValueError, RuntimeError):
            return {}
        out: dict[str, set[str]] = {}
        for sel in sels:
            known = prom.series_labels.get(sel)
            if known is None:
                return {}  # one selector unknown: the values are not complete, stay symbolic
            for k, vals in known.items():
                out.setdefault(k, set()).update(vals)
        return out

    def label_sets(
        self, labels: AlertLabels, am: str, live: dict[str, set[str]] | None = None
    ) -> list[tuple[dict[str, str], dict[str, str]]]:
        """(label set, condition) pairs covering the open labels the tree tests: the values the series
        have now where Prometheus was read live, otherwise every value the tree tests plus "any other"."""
        tested = self.tested.get(am, {})
        relevant = sorted(k for k in labels.open if k in tested)
        if not relevant:
            return [(dict(labels.fixed), {})]
        choices: list[list[str]] = []
        for k in relevant:
            constraints = labels.constraints.get(k, [])
            now_values = sorted(v for v in (live or {}).get(k, set()) if v and _satisfies(v, constraints))
            if now_values:
                choices.append(now_values)
                continue
            values = sorted(v for v in tested[k] if v and _satisfies(v, constraints))
            choices.append([*values, OTHER])
        out = []
        for combo in itertools.islice(itertools.product(*choices), MAX_COMBINATIONS):
            ls = dict(labels.fixed)
            cond = {}
            for k, v in zip(relevant, combo, strict=True):
                ls[k] = v
                cond[k] = v if v != OTHER else "<any other value>"
            out.append((ls, cond))
        return out

    def resolve(self, sr: SourcedRule, at: datetime) -> AlertPaging:
        rule = sr.rule
        labels = self.labels_of(sr)
        paths: list[PagingPath] = []
        pages = notifies = False
        pd_services: list[str] = []
        only_plan: _Plan | None = None  # the plan that made all the paths, if one did (one Alertmanager)
        if not labels.dropped:
            open_ = labels.open
            live = self.live_values(sr) if open_ else {}
            for am_name, tree in self.trees.items():
                if not open_ or self.tested[am_name].keys().isdisjoint(open_):
                    # one label set, the fixed labels, no condition (45,000 of L's 50,000 alerts): the
                    # paths are copies of the plan's (what the loop below makes of that set)
                    plan = self._plan(am_name, tree, labels.fixed, at)
                    paths += map(_path_from_plan, plan.values, plan.fields_sets, plan.times_to_page(rule.for_s))
                    pages = pages or plan.pages
                    notifies = notifies or plan.notifies
                    pd_services += plan.pd_services
                    if len(self.trees) == 1:
                        only_plan = plan
                    continue
                seen: dict[tuple, PagingPath] = {}
                sets = self.label_sets(labels, am_name, live)
                mine: list[PagingPath] = []
                for ls, cond in sets:
                    for proto, minutes, key in self._paths_of(am_name, tree, ls, at):
                        if key in seen:
                            _merge_condition(seen[key].condition, cond)
                            continue
                        path = _own_copy(
                            proto,
                            cond,
                            None if minutes is None else time_to_page(rule.for_s, proto.group_wait_s, minutes),
                        )
                        seen[key] = path
                        mine.append(path)
                got_pages, got_notifies, got_services = _outcomes(mine)
                pages, notifies = pages or got_pages, notifies or got_notifies
                pd_services += got_services
                paths += mine
        name = rule.name
        fixed = labels.fixed
        annotations = rule.annotations
        location = rule.location
        values = {
            "alert": name,
            "prometheus": sr.source,
            "file": location.file,
            "line": location.line,
            "severity": fixed.get("severity"),
            "for_s": rule.for_s,
            "labels": dict(fixed),
            "open_labels": sorted(labels.open),
            "services": self.g.services_of_labels(fixed),
            "runbook": annotations.get("runbook_url") or annotations.get("runbook"),
            "slo": self.slo_of(rule),
            "paths": paths,
            "pages": pages,
            "notifies_only": notifies and not pages,
            "fired_30d": self._fired(sr, fixed, at),
            "paged_30d": self._paged(name, pd_services, at, only_plan),
        }
        return _alert_paging(values)

    def _paths_of(
        self, am: str, tree: CompiledTree, ls: dict[str, str], at: datetime
    ) -> tuple[tuple[PagingPath, int | None, tuple[str | None, ...]], ...]:
        """The paths of every route a label set ends on, each with the minutes until the level it pages
        is notified (for the rule's time to page) and the key that merges paths of an alert, shared by every
        label set that agrees on what decides them: the routes (the tree's `route_key`), the labels the
        receivers' severity templates read, and the instant. Never change the shared paths: copy them
        (`_own_copy`). Each route's paths are built once (`_route_paths`), each key's list once from them."""
        key = self._routes_key(am, tree, ls, at)
        sev = key[2]
        hit = self._protos.get(key)
        if hit is None:
            # the key is the tree's own cache key: its result cache would only be looked up twice
            hit = tuple(
                (p, minutes, _merge_key(p))
                for m in tree.match_uncached(ls)
                for p, minutes in self._route_paths(am, m, ls, sev, at)
            )
            if len(self._protos) >= 200_000:
                self._protos.clear()
            self._protos[key] = hit
        return hit

    def _routes_key(self, am: str, tree: CompiledTree, ls: dict[str, str], at: datetime) -> tuple[Any, ...]:
        """What decides a label set's paths (`_paths_of`, `_plan`): the Alertmanager, the tree's `route_key`,
        the labels its receivers' severity templates read (third) and the instant."""
        return (am, tree.route_key(ls), tuple(map(ls.get, self.severity_labels[am])), at)

    def _plan(self, am: str, tree: CompiledTree, ls: dict[str, str], at: datetime) -> _Plan:
        """The paths `resolve` makes for an alert whose only label set for this Alertmanager is `ls`, with
        no condition: the first path of each merge key of `_paths_of`, with what its time to page adds
        to the rule's `for` (None: it pages nobody). What they read is all in the key of `_paths_of`
        (the routes, the severity-template labels, the instant): the condition is empty (nothing to
        merge), and nothing else of the alert is read but `for` (see `resolve`).

        Looked up by that key, and made once per routes the walk ends on (with the same severity-template
        labels and instant): on L 50,000 alerts have about 14,000 route keys, which end on about 2,000
        distinct lists of routes."""
        key = self._routes_key(am, tree, ls, at)
        hit = self._plans.get(key)
        if hit is None:
            sev = key[2]
            matches = tree.match_uncached(ls)
            # a RouteMatch lives as long as its compiled tree (the resolver's)
            routes_key = (am, tuple(map(id, matches)), sev, at)
            hit = self._plans_by_routes.get(routes_key)
            if hit is None:
                hit = self._new_plan(am, matches, ls, sev, at)
                if len(self._plans_by_routes) >= 200_000:
                    self._plans_by_routes.clear()
                self._plans_by_routes[routes_key] = hit
            if len(self._plans) >= 200_000:
                self._plans.clear()
            self._plans[key] = hit
        return hit

    def _new_plan(
        self, am: str, matches: list[RouteMatch], ls: dict[str, str], sev: tuple[str | None, ...], at: datetime
    ) -> _Plan:
        """`_plan` of the routes a label set ends on (`matches`)."""
        out: list[tuple[dict[str, Any], set[str], float, int | None]] = []
        kept: list[PagingPath] = []
        seen: set[tuple[str | None, ...]] = set()
        for m in matches:
            for proto, minutes in self._route_paths(am, m, ls, sev, at):
                merge_key = _merge_key(proto)
                if merge_key in seen:
                    continue  # merging an empty condition changes nothing
                seen.add(merge_key)
                out.append((proto.__dict__, proto.model_fields_set | _CONDITION, proto.group_wait_s, minutes))
                kept.append(proto)
        pages, notifies, pd_services = _outcomes(kept)
        return _Plan(out, pages, notifies, tuple(pd_services))

    def _route_paths(
        self, am: str, m: RouteMatch, ls: dict[str, str], sev: tuple[str | None, ...], at: datetime
    ) -> list[tuple[PagingPath, int | None]]:
        """`_paths` of one route, shared by the label sets whose severity-template labels (`sev`) agree."""
        key = (am, id(m), sev, at)  # a RouteMatch lives as long as its compiled tree (the resolver's)
        hit = self._by_route.get(key)
        if hit is None:
            hit = self._paths(am, m, ls, at)
            if len(self._by_route) >= 100_000:
                self._by_route.clear()
            self._by_route[key] = hit
        return hit

    def _paths(self, am: str, m: RouteMatch, ls: dict[str, str], at: datetime) -> list[tuple[PagingPath, int | None]]:
        """The paths of one route (time to page left unset), each with its level's minutes until notified."""
        recv = self.receivers[am].get(m.receiver)
        intervals = self.intervals[am]
        muted = muted_at(m, at, intervals) or not route_active_at(m, at, intervals)
        base = dict(
            alertmanager=am,
            route_path=m.path_text,
            route_location=m.where,
            receiver=m.receiver,
            muted_now=muted,
            group_wait_s=m.group_wait_s,
        )
        if recv is None or recv.notifies_nobody:
            return [(PagingPath(**base, outcome="nobody", reason="receiver notifies nobody"), None)]
        out: list[tuple[PagingPath, int | None]] = []
        if recv.integrations:
            out.append(
                (
                    PagingPath(
                        **base,
                        integrations=sorted(set(recv.integrations)),
                        outcome="nobody" if muted else "notifies",
                        reason="route muted at this instant"
                        if muted
                        else f"{', '.join(sorted(set(recv.integrations)))} only",
                    ),
                    None,
                )
            )
        for target in recv.pagerduty:
            out.append(self._pagerduty_path(base, recv, target.key_fingerprint, target.severity, ls, at, muted))
        return out

    def _pagerduty_path(
        self,
        base: dict,
        recv: Receiver,
        fp: str | None,
        severity_tpl: str | None,
        ls: dict[str, str],
        at: datetime,
        muted: bool,
    ) -> tuple[PagingPath, int | None]:
        severity = _severity_sent(severity_tpl, ls)
        if fp is None:
            path = PagingPath(
                **base,
                integrations=["pagerduty"],
                severity_sent=severity,
                outcome="unknown",
                reason="routing key unknown (only <secret> or an unreadable key file)",
            )
            return path, None
        svc: PDService | None = self.oncall.service_for_key(fp)
        if svc is None:
            path = PagingPath(
                **base,
                integrations=["pagerduty"],
                severity_sent=severity,
                outcome="nobody",
                reason="routing key matches no PagerDuty service integration",
            )
            return path, None
        ans, people_now, levels = self._service_answer(svc, at, severity)
        outcome: Outcome = ans.outcome
        reason = ans.reason
        if muted and outcome in ("pages", "notifies"):
            outcome, reason = "nobody", "route muted at this instant"
        path = PagingPath(
            **base,
            integrations=["pagerduty"],
            pagerduty_service=svc.id,
            pagerduty_service_name=svc.name,
            escalation_policy=svc.escalation_policy_id,
            severity_sent=severity,
            outcome=outcome,
            urgency=ans.urgency,
            reason=reason,
            level=ans.level,
            people_now=list(people_now),
            levels=list(levels),
            time_to_page_s=None,  # the rule's: set per alert from `for` (see `resolve`)
        )
        return path, ans.minutes_until_level

    def _service_answer(
        self, svc: PDService, at: datetime, severity: str | None
    ) -> tuple[PageAnswer, list[PersonRef], list[LevelRef]]:
        """What a PagerDuty service does with an alert at an instant (the same for every alert routed to it:
        computed once per service, instant and severity; the answer models are shared, never changed)."""
        key = (svc.id, at, severity)
        hit = self._answers.get(key)
        if hit is not None:
            return hit
        ans: PageAnswer = self.oncall.pages_at(svc.id, at, severity)
        levels = list(self._levels_at(svc.escalation_policy_id, at)) if svc.escalation_policy_id else []
        got = (ans, [self._shared_person(u) for u in ans.people], levels)
        if len(self._answers) > 100_000:
            self._answers.clear()
        self._answers[key] = got
        return got

    def _levels_at(self, policy_id: str, at: datetime) -> list[LevelRef]:
        """The levels of an escalation policy at an instant, who holds each now and next: the same for every
        PagerDuty service of the policy, at every severity (on L: 1,462 service answers, 390 policies), so
        made once per policy and instant and shared, never changed, like the answers' other models."""
        key = (policy_id, at)
        hit = self._levels.get(key)
        if hit is None:
            hit = []
            for lv in self.oncall.levels(policy_id, at):
                nxt = self.oncall.next_shift(policy_id, lv.level, at)
                hit.append(
                    LevelRef(
                        level=lv.level,
                        minutes_until_notified=lv.minutes_until_notified,
                        now=[self._shared_person(u) for u in lv.holders],
                        next=ShiftRef(person=self._shared_person(nxt.user_id), start=nxt.start, end=nxt.end)
                        if nxt
                        else None,
                    )
                )
            if len(self._levels) > 100_000:
                self._levels.clear()
            self._levels[key] = hit
        return hit

    def _shared_person(self, pd_user_id: str) -> PersonRef:
        """`person`, one model per user, shared by the answers' levels and people (never changed)."""
        hit = self._persons.get(pd_user_id)
        if hit is None:
            hit = self._persons[pd_user_id] = self.person(pd_user_id)
        return hit

    # ---- history

    def _fired(self, sr: SourcedRule, fixed: dict[str, str], at: datetime) -> int | None:
        """Episodes in the 30 days before `at` of the rule's `ALERTS` series (`fixed`: its labels as sent)."""
        if not self.g.signals:
            return None
        if self._history is None:
            self._history = self.g.memo("history_by_alertname", self._history_by_alertname)
        mine = self._history.get(sr.rule.name)
        if not mine:
            return 0
        prom = self.g.prometheus.get(sr.source)
        if prom is not None and prom.alert_relabel_configs:
            # Prometheus's own ALERTS series carry the rule's labels: `alert_relabel_configs` change only what
            # is sent to Alertmanager (a `severity` rewritten there would match no history)
            hit = self._unrelabelled_labels.get(id(sr.rule))
            if hit is None or hit[0] is not sr.rule:
                labeller = self._unrelabelled.get(sr.source)
                if labeller is None:
                    labeller = self._unrelabelled[sr.source] = AlertLabeller(prom.external_labels, [])
                hit = self._unrelabelled_labels[id(sr.rule)] = (sr.rule, labeller(sr.rule).fixed)
            fixed = hit[1]
        since = at - timedelta(days=30)
        n = 0
        for h in mine:
            if any(h.labels.get(k) not in (None, v) for k, v in fixed.items() if k != "alertname"):
                continue
            n += sum(1 for start, _ in h.episodes if since <= start <= at) if h.episodes else h.fires
        return n

    def _history_by_alertname(self) -> dict[str, list[AlertHistory]]:
        out: dict[str, list[AlertHistory]] = {}
        for sig in self.g.signals.values():
            for h in sig.alert_history:
                out.setdefault(h.alertname, []).append(h)
        return out

    def _paged(
        self, alertname: str, pd_services: Collection[str], at: datetime, plan: _Plan | None = None
    ) -> int | None:
        """High-urgency incidents of the 30 days before `at` on the PagerDuty services the alert reaches whose
        title names the alert (None: no incidents known). `plan`: the plan that made every path of the alert
        (its services are `pd_services`), where the word counts of the services are kept once per plan."""
        if not self.g.pagerduty.incidents:
            return None
        if not pd_services:
            return 0
        if _WORD.fullmatch(alertname):
            # a name of word characters matches `\bname\b` exactly when it is a whole word of the title
            counts = plan.word_counts if plan is not None else None
            if counts is None:
                words = self._high_urgency_words(at)
                counts = tuple(words[s] for s in set(pd_services) if s in words)
                if plan is not None:
                    plan.word_counts = counts
            n = 0
            for c in counts:
                n += c.get(alertname, 0)
            return n
        wanted = set(pd_services)
        pat = re.compile(rf"\b{re.escape(alertname)}\b")
        incidents = self.g.pagerduty.incidents
        return sum(
            1
            for n in incident_window(self.g, at - timedelta(days=30), at)
            if (i := incidents[n]).service_id in wanted and i.urgency == "high" and pat.search(i.title)
        )

    def _high_urgency_words(self, at: datetime) -> dict[str, Counter[str]]:
        """Per PagerDuty service: how many high-urgency incidents of the 30 days before `at` have each word in
        their title (computed once per instant)."""
        hit = self._words_at.get(at)
        if hit is not None:
            return hit
        # titles repeat (one per alert and service): split each distinct (service, title) once, then
        # count its words as often as it occurs (200,000 incidents, 5,000 distinct pairs on L)
        incidents = self.g.pagerduty.incidents
        pairs: Counter[tuple[str, str]] = Counter(
            (i.service_id, i.title)
            for n in incident_window(self.g, at - timedelta(days=30), at)
            if (i := incidents[n]).urgency == "high"
        )
        out: dict[str, Counter[str]] = {}
        for (service_id, title), times in pairs.items():
            c = out.get(service_id)
            if c is None:
                c = out[service_id] = Counter()
            for w in set(_WORDS.findall(title)):
                c[w] += times
        if len(self._words_at) > 8:
            self._words_at.clear()
        self._words_at[at] = out
        return out

    # ---- answers

    def rules_of_service(self, service: str) -> list[SourcedRule]:
        """Alerting rules whose (inferred) labels attribute them to the service, in rule order."""
        if self._by_service is None:
            by: dict[str, list[SourcedRule]] = {}
            for sr in self.g.alert_rules():
                for s in self.g.services_of_labels(self.labels_of(sr).fixed):
                    by.setdefault(s, []).append(sr)
            self._by_service = by
        return self._by_service.get(service, [])

    def service_pages(self, service: str, at: datetime) -> ServicePages:
        svc = self.g.service(service)
        if svc is None:
            from agent.errors import InputError

            raise InputError(f'unknown service "{service}"', source="catalog")
        return self.service_pages_of(service, at, [self.resolve(sr, at) for sr in self.rules_of_service(service)])

    def service_pages_of(self, service: str, at: datetime, alerts: list[AlertPaging]) -> ServicePages:
        """The answer for a service from its alerts already resolved at `at` (in rule order)."""
        svc = self.g.service(service)
        if svc is None:
            from agent.errors import InputError

            raise InputError(f'unknown service "{service}"', source="catalog")
        paging = sum(1 for a in alerts if a.pages)
        return ServicePages(
            service=service,
            team=svc.team,
            at=at,
            alerts=alerts,
            paging_alerts=paging,
            why_nothing_pages=None if paging else _why_nothing(alerts),
        )

    def engineer_pages(self, engineer: str, at: datetime, window: timedelta) -> EngineerPages:
        person = self._find_person(engineer)
        uid = person.pagerduty_user_id
        since, until = at, at + window
        held: dict[str, list[HeldLevel]] = {}
        policies = {p.id: p for p in self.g.pagerduty.escalation_policies}
        if uid:
            for pol in self.g.pagerduty.escalation_policies:
                for lv in pol.levels:
                    for sh in self.oncall.holders_over(pol.id, lv.level, since, until):
                        if sh.user_id == uid:
                            held.setdefault(pol.id, []).append(
                                HeldLevel(
                                    escalation_policy=pol.id,
                                    escalation_policy_name=pol.name,
                                    level=lv.level,
                                    start=sh.start,
                                    end=sh.end,
                                )
                            )
        pd_services = [s for s in self.g.pagerduty.services if s.escalation_policy_id in held]
        # per PagerDuty service, the first instant of the window the engineer holds one of its policy's levels
        first: dict[str, datetime] = {}
        for svc in pd_services:
            first[svc.id] = min(max(h.start or since, since) for h in held[svc.escalation_policy_id or ""])
        by_service: dict[tuple[str, datetime], EngineerService] = {}
        if pd_services:
            wanted = set(first)

            def reaching(a: AlertPaging) -> list[PagingPath]:
                hits = [p for p in a.paths if p.pagerduty_service in wanted and p.outcome in ("pages", "notifies")]
                if not hits:
                    # the alert may still page them later in the window: it reaches their service
                    hits = [p for p in a.paths if p.pagerduty_service in wanted and p.outcome != "unknown"]
                return hits

            for sr in self.g.alert_rules():
                a = self.resolve(sr, at)
                hits = reaching(a)
                if not hits:
                    continue
                t = min(first[p.pagerduty_service] for p in hits if p.pagerduty_service)
                if t != at:  # their shift starts later in the window: the answer of its start
                    later = self.resolve(sr, t)
                    later_hits = reaching(later)
                    if later_hits:
                        a, hits = later, later_hits
                    else:
                        t = at
                name = a.services[0] if a.services else self._catalog_service_of_pd(hits[0].pagerduty_service)
                es = by_service.setdefault(
                    (name, t), EngineerService(service=name, at=t, pagerduty_services=[], held=[], alerts=[])
                )
                for p in hits:
                    if p.pagerduty_service and p.pagerduty_service not in es.pagerduty_services:
                        es.pagerduty_services.append(p.pagerduty_service)
                        svc = next(s for s in pd_services if s.id == p.pagerduty_service)
                        for h in held.get(svc.escalation_policy_id or "", []):
                            if h not in es.held:
                                es.held.append(h)
                es.alerts.append(a)
        why = None
        if not by_service:
            if not uid:
                why = "the catalog has no PagerDuty user id for this person"
            elif not held:
                why = f"holds no escalation level between {since.isoformat()} and {until.isoformat()}"
            else:
                names = ", ".join(sorted({policies[p].name for p in held}))
                why = f"holds levels of {names}, but no alert routes to their PagerDuty services"
        return EngineerPages(
            engineer=person,
            since=since,
            until=until,
            services=sorted(by_service.values(), key=lambda s: (s.service, s.at)),
            why_nothing_pages=why,
        )

    def _catalog_service_of_pd(self, pd_id: str | None) -> str:
        for s in self.g.catalog.services:
            if pd_id in s.pagerduty_service_ids:
                return s.name
        svc = next((s for s in self.g.pagerduty.services if s.id == pd_id), None)
        return f"(PagerDuty) {svc.name}" if svc else "(unattributed)"

    def _find_person(self, key: str) -> PersonRef:
        for p in self.g.catalog.people:
            if key in (p.id, p.email, p.pagerduty_user_id):
                u = self.pd_users.get(p.pagerduty_user_id or "")
                return PersonRef(
                    id=p.id,
                    name=p.name or (u.name if u else None),
                    email=p.email,
                    pagerduty_user_id=p.pagerduty_user_id,
                )
        for u in self.g.pagerduty.users:
            if key in (u.id, u.email):
                return self.person(u.id)
        from agent.errors import InputError

        raise InputError(
            f'unknown engineer "{key}" (give a catalog id, an email or a PagerDuty user id)', source="catalog"
        )


# Building the answer models without validating them: `resolve` makes 50,000 AlertPaging and 72,000
# PagingPath on the large benchmark organisation, and validation (8 and 6 us each) was a third of it.
# Only values already of the fields' exact types (what validation would store) take the fast path;
# anything else is validated as before (tests/rules/test_paging.py checks both give the same models).

_STR_OR_NONE = frozenset((str, type(None)))
_INT_OR_NONE = frozenset((int, type(None)))
_STR_ONLY = frozenset((str,))


def _alert_paging(values: dict[str, Any]) -> AlertPaging:
    """AlertPaging(**values): `values` has every field, in order; the computed ones have their types."""
    v = values
    exact = (  # the values that come from facts: of the exact types validation would store
        type(v["alert"]) is str
        and type(v["prometheus"]) is str
        and type(v["file"]) in _STR_OR_NONE
        and type(v["line"]) in _INT_OR_NONE
        and type(v["severity"]) in _STR_OR_NONE
        and type(v["for_s"]) is float
        and type(v["runbook"]) in _STR_OR_NONE
        and type(v["slo"]) in _STR_OR_NONE
        and type(v["fired_30d"]) in _INT_OR_NONE
        and type(v["paged_30d"]) in _INT_OR_NONE
        and _STR_ONLY.issuperset(map(type, v["labels"].values()))
    )
    if not exact:
        return AlertPaging(**values)
    # every field given: the fields-set is the one `trusted` shares among all (see there; 728 B each)
    return trusted(AlertPaging, values)


_CONDITION = frozenset(("condition",))


def _outcomes(paths: Iterable[PagingPath]) -> tuple[bool, bool, list[str]]:
    """Whether any of the paths pages, whether any only notifies, and the PagerDuty services they reach."""
    pages = notifies = False
    services: list[str] = []
    for p in paths:
        if p.outcome == "pages":
            pages = True
        elif p.outcome == "notifies":
            notifies = True
        if p.pagerduty_service:
            services.append(p.pagerduty_service)
    return pages, notifies, services


def _merge_key(path: PagingPath) -> tuple[str | None, ...]:
    """What makes two paths of an alert one (their conditions merged): route, receiver, service, outcome."""
    return (path.route_path, path.receiver, path.pagerduty_service, path.outcome)


def _own_copy(proto: PagingPath, cond: dict[str, str], time_to_page_s: float | None) -> PagingPath:
    """A path of one alert from a shared one (`_paths_of`): its own condition, time to page and lists
    (the PersonRef/LevelRef models in them stay shared, read-only, as `_service_answer`'s always were);
    the fields set are those of the path built for the alert and its condition assigned."""
    path = _path_from_plan(proto.__dict__, proto.model_fields_set | _CONDITION, time_to_page_s)
    path.condition.update(cond)
    return path


def _path_from_plan(values: dict[str, Any], fields_set: set[str], time_to_page_s: float | None) -> PagingPath:
    """A path of one alert from a shared one's fields (`_plan`): what `_own_copy` makes of it with no
    condition (its own condition and lists; the PersonRef/LevelRef models in the lists stay shared).

    `fields_set` is kept, not copied: the paths of a plan share their plan path's, as `trusted` shares
    one per class (a set of 14 names is 728 B: 72,000 paths on L, 50 MB). Nothing assigns to a path's
    fields after `resolve` (only `_merge_condition` changes a condition's contents), so it never grows."""
    v = values.copy()
    v["condition"] = {}
    v["time_to_page_s"] = time_to_page_s
    v["integrations"] = list(v["integrations"])
    v["people_now"] = list(v["people_now"])
    v["levels"] = list(v["levels"])
    return trusted(PagingPath, v, fields_set)


def _merge_condition(into: dict[str, str], cond: dict[str, str]) -> None:
    """Two label assignments with the same outcome: list the alternatives (`b|c`)."""
    for k, v in cond.items():
        have = into.get(k)
        if have is None:
            into[k] = v
        elif v not in have.split("|"):
            into[k] = f"{have}|{v}"


def _why_nothing(alerts: list[AlertPaging]) -> str:
    if not alerts:
        return "no alert rules are attributed to this service (check its `alerts:` label selectors)"
    outcomes = [p for a in alerts for p in a.paths]
    if not outcomes:
        return "its alerts reach no route (dropped by alert_relabel_configs, or no Alertmanager configured)"
    if all(p.reason == "receiver notifies nobody" for p in outcomes):
        return "every alert routes to receivers that notify nobody"
    if not any(p.pagerduty_service for p in outcomes):
        return "its alerts route only to receivers without PagerDuty (Slack, email, webhooks)"
    reasons = sorted({p.reason for p in outcomes if p.pagerduty_service and p.reason})
    return "its PagerDuty paths page nobody now: " + "; ".join(reasons)


def _tested_values(route: Route) -> dict[str, set[str]]:
    """Every value the tree compares each label against (equality values and literal regex alternatives)."""
    out: dict[str, set[str]] = {}

    def add(m: Matcher) -> None:
        vals = out.setdefault(m.name, set())
        if m.op in ("=", "!="):
            vals.add(m.value)
        else:
            body = m.value
            if re.fullmatch(r"[\w.\- |]*", body):
                vals.update(body.split("|"))

    def visit(r: Route) -> None:
        for m in r.matchers:
            add(m)
        for c in r.routes:
            visit(c)

    visit(route)
    return out


def _satisfies(value: str, constraints: Iterable[Matcher]) -> bool:
    """Whether `value` can be a label's value under an expression's matchers (an unreadable regex: it can)."""
    for m in constraints:
        if m.op in ("=~", "!~"):
            try:
                rx: re.Pattern[str] | None = compile_go_regex(m.value)  # (cached there)
            except ValueError:  # Go-only syntax Python's `re` cannot evaluate here
                rx = None
            if rx is not None and (rx.search(value) is None) == (m.op == "=~"):
                return False
        if m.op == "!=" and value == m.value:
            return False
    return True


_TEMPLATE_LABEL = re.compile(r"\{\{\s*\.(?:CommonLabels|GroupLabels|Labels)\.(\w+)\s*(\|\s*toLower\s*)?\}\}")


def _severity_template_labels(am: AlertmanagerFacts) -> tuple[str, ...]:
    """The alert labels `_severity_sent` can read for this Alertmanager's PagerDuty targets."""
    names: set[str] = set()
    for recv in am.receivers:
        for target in recv.pagerduty:
            tpl = target.severity
            if tpl and "{{" in tpl:
                m = _TEMPLATE_LABEL.fullmatch(tpl.strip())
                if m:
                    names.add(m.group(1))
    return tuple(sorted(names))


def _severity_sent(template: str | None, labels: dict[str, str]) -> str | None:
    """The severity Alertmanager sends: the config's value, its simple templates filled in, default `error`."""
    if template is None or template == "":
        return ALERTMANAGER_DEFAULT_SEVERITY
    if "{{" not in template:
        return template
    m = _TEMPLATE_LABEL.fullmatch(template.strip())
    if m:
        v = labels.get(m.group(1), "")
        return v.lower() if m.group(2) else v or ALERTMANAGER_DEFAULT_SEVERITY
    return None  # a template we do not evaluate: unknown
