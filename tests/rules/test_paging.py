"""The paging answer on the demo organisation, checked against an independent oracle:
`amtool config routes test` for routing, and the raw PagerDuty export for keys and on-call."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import yaml
from servers import amtool_routes_test

from agent import demo
from agent.config import load_config
from agent.pipeline import collect
from collectors.facts import (
    AlertmanagerFacts,
    CatalogFacts,
    Matcher,
    PagerDutyFacts,
    PagerDutyTarget,
    PDEscalationPolicy,
    PDIntegration,
    PDLevel,
    PDOnCall,
    PDService,
    PDTarget,
    PrometheusFacts,
    Receiver,
    Route,
    Rule,
    Service,
    Snapshot,
    SourceResult,
    SourceStatus,
)
from rules.graph import OwnershipGraph
from rules.oncall import time_to_page
from rules.paging import AlertPaging, PagingPath, PagingResolver, _alert_paging, _merge_condition, _own_copy

ORG = demo.org_dir()


@pytest.fixture(scope="module")
def demo_graph() -> tuple[OwnershipGraph, datetime]:
    loaded = load_config(demo.config_path())
    now = loaded.config.now
    assert now is not None
    return OwnershipGraph.build(collect(loaded, now)), now


def _raw_key_to_pd_service() -> dict[str, str]:
    services = json.loads((ORG / "pagerduty" / "services.json").read_text())["services"]
    return {
        i["integration_key"]: s["id"] for s in services for i in s.get("integrations", []) if i.get("integration_key")
    }


def _raw_receiver_keys() -> dict[str, list[str]]:
    cfg = yaml.safe_load((ORG / "alertmanager" / "alertmanager.yml").read_text())
    out: dict[str, list[str]] = {}
    for r in cfg["receivers"]:
        keys = []
        for pd in r.get("pagerduty_configs") or []:
            key = pd.get("routing_key") or pd.get("service_key")
            if not key and (pd.get("routing_key_file") or pd.get("service_key_file")):
                f = pd.get("routing_key_file") or pd.get("service_key_file")
                key = (ORG / "alertmanager" / f).read_text().strip()
            keys.append(key)
        out[r["name"]] = keys
    return out


def _raw_policies_held(user_id: str, since: datetime, until: datetime) -> set[str]:
    entries = json.loads((ORG / "pagerduty" / "oncalls.json").read_text())["oncalls"]
    held = set()
    for e in entries:
        if e["user"]["id"] != user_id:
            continue
        start = datetime.fromisoformat(e["start"]) if e.get("start") else None
        end = datetime.fromisoformat(e["end"]) if e.get("end") else None
        if (start is None or start < until) and (end is None or end > since):
            held.add(e["escalation_policy"]["id"])
    return held


def test_engineer_view_lists_exactly_the_alerts_routed_to_their_services(demo_graph) -> None:
    g, now = demo_graph
    resolver = PagingResolver(g)
    person = next(p for p in g.catalog.people if p.id == "ben")
    window = timedelta(days=7)
    answer = resolver.engineer_pages("ben", now, window)
    got = {(a.alert, a.line) for s in answer.services for a in s.alerts}

    # oracle: raw files and amtool, no code of ours
    policies = _raw_policies_held(person.pagerduty_user_id, now, now + window)
    services = json.loads((ORG / "pagerduty" / "services.json").read_text())["services"]
    their_services = {s["id"] for s in services if s["escalation_policy"]["id"] in policies}
    key_to_service = _raw_key_to_pd_service()
    receiver_keys = _raw_receiver_keys()
    config = ORG / "alertmanager" / "alertmanager.yml"
    expected = set()
    for sr in g.alert_rules():
        labels = resolver.labels_of(sr).fixed
        receivers = amtool_routes_test(config, labels)
        reached = {key_to_service.get(k) for r in receivers for k in receiver_keys.get(r, [])}
        if reached & their_services:
            expected.add((sr.rule.name, sr.rule.location.line))
    assert expected, "the oracle found nothing: the test would be vacuous"
    assert got == expected


def test_engineer_view_answers_at_their_shift(demo_graph) -> None:
    """An engineer whose shift starts later in the window gets the answers of their shift (who is on call,
    maintenance windows), not those of the window's start: liam holds Storefront L1 from 2026-11-19 01:00 only,
    and catalog-api's maintenance window ends on 11-16, so its alerts page him then."""
    g, now = demo_graph
    r = PagingResolver(g)
    liam = r.engineer_pages("liam", now, timedelta(days=7))
    assert liam.services
    shift = datetime.fromisoformat("2026-11-19T01:00:00+00:00")
    for s in liam.services:
        assert s.at == shift, s.service
        for a in s.alerts:
            mine = [p for p in a.paths if p.pagerduty_service in s.pagerduty_services]
            assert mine and all(p.outcome == "pages" and [x.id for x in p.people_now] == ["liam"] for p in mine)
    assert "catalog-api" in {s.service for s in liam.services}
    # every engineer: each group's instant lies in a span they hold, and its paths name them on call then
    for person in g.catalog.people:
        got = r.engineer_pages(person.id, now, timedelta(days=7))
        for s in got.services:
            assert any((h.start is None or h.start <= s.at) and (h.end is None or s.at < h.end) for h in s.held), (
                person.id,
                s.service,
                s.at,
            )


def test_service_view_facts(demo_graph) -> None:
    g, now = demo_graph
    r = PagingResolver(g)
    checkout = r.service_pages("checkout", now)
    err = next(a for a in checkout.alerts if a.alert == "CheckoutHighErrorRate")
    pd = next(p for p in err.paths if p.pagerduty_service)
    assert pd.outcome == "pages" and pd.level == 1 and [x.id for x in pd.people_now] == ["ben"]
    assert pd.levels[0].next is not None and pd.levels[0].next.person.id == "clara"
    assert pd.time_to_page_s == err.for_s + pd.group_wait_s
    assert err.runbook and err.fired_30d is not None
    maint = r.service_pages("catalog-api", now)
    assert maint.paging_alerts == 0 and "maintenance window" in (maint.why_nothing_pages or "")
    unowned = r.service_pages("legacy-cron", now)
    assert unowned.alerts == [] and "no alert rules" in (unowned.why_nothing_pages or "")


def test_fired_counts_the_rules_own_alerts_series_not_the_relabelled_labels(demo_graph) -> None:
    """Prometheus's ALERTS series carry the rule's own labels: the demo's `alert_relabel_configs` rewrite
    `severity="page"` to `critical` only in what is sent to Alertmanager. Oracle: the recording itself, an
    episode a run of consecutive steps of the series whose labels the rule's own labels agree with."""
    g, now = demo_graph
    r = PagingResolver(g)
    recorded = json.loads((ORG / "signals" / "prometheus-eu.json").read_text())["queries"]["alert_history"]
    step = int(recorded["step"].rstrip("s"))
    since = (now - timedelta(days=30)).timestamp()
    checked = 0
    for sr in g.alert_rules():
        if sr.source != "prom-eu" or sr.rule.name != "LedgerBalanceMismatch":
            continue
        sent = r.labels_of(sr).fixed
        assert sent["severity"] == "critical" and sr.rule.labels["severity"] == "page"
        own = {**sr.rule.labels, "alertname": sr.rule.name}
        episodes = 0
        for series in recorded["data"]["result"]:
            m = series["metric"]
            if any(m.get(k) not in (None, v) for k, v in own.items()):
                continue
            times = [int(t) for t, _ in series["values"]]
            starts = [t for i, t in enumerate(times) if i == 0 or t - times[i - 1] > step]
            episodes += sum(1 for t in starts if since <= t <= now.timestamp())
        assert episodes == 2
        assert r.resolve(sr, now).fired_30d == episodes
        checked += 1
    assert checked == 1


def _graph(
    rule_expr: str, route: Route, receivers: list[Receiver], pd: PagerDutyFacts, services: list[Service]
) -> OwnershipGraph:
    now = datetime.fromisoformat("2026-11-16T09:30:00+00:00")

    def res(name: str, facts) -> SourceResult:
        return SourceResult(status=SourceStatus(name=name, kind=facts.kind, ok=True, collected_at=now), facts=facts)

    snap = Snapshot(
        taken_at=now,
        now=now,
        sources=[
            res("catalog", CatalogFacts(services=services)),
            res(
                "prom",
                PrometheusFacts(
                    rules=[
                        Rule(
                            type="alerting",
                            name="HighErrors",
                            expr=rule_expr,
                            group="g",
                            for_s=60,
                            labels={"severity": "critical"},
                        )
                    ]
                ),
            ),
            res("am", AlertmanagerFacts(route=route, receivers=receivers)),
            res("pd", pd),
        ],
    )
    return OwnershipGraph.build(snap)


def test_open_label_is_resolved_symbolically() -> None:
    """`sum by (service)` leaves `service` open: each value the tree tests gives its own path."""
    route = Route(
        receiver="default",
        routes=[
            Route(receiver="pd-a", matchers=[Matcher(name="service", op="=", value="a")]),
            Route(receiver="pd-b", matchers=[Matcher(name="service", op="=~", value="b|c")]),
        ],
    )
    receivers = [
        Receiver(name="default"),
        Receiver(name="pd-a", pagerduty=[PagerDutyTarget(key_fingerprint="fp-a")]),
        Receiver(name="pd-b", pagerduty=[PagerDutyTarget(key_fingerprint="fp-b")]),
    ]
    pd = PagerDutyFacts(
        services=[
            PDService(
                id="PA",
                name="A",
                escalation_policy_id="EP",
                integrations=[PDIntegration(id="I1", type="events_api_v2_inbound_integration", key_fingerprint="fp-a")],
            ),
            PDService(
                id="PB",
                name="B",
                escalation_policy_id="EP",
                integrations=[PDIntegration(id="I2", type="events_api_v2_inbound_integration", key_fingerprint="fp-b")],
            ),
        ],
        escalation_policies=[
            PDEscalationPolicy(
                id="EP",
                name="EP",
                levels=[PDLevel(level=1, escalation_delay_in_minutes=5, targets=[PDTarget(type="user", id="U1")])],
            )
        ],
        oncalls=[PDOnCall(user_id="U1", escalation_policy_id="EP", escalation_level=1)],
    )
    g = _graph('sum by (service) (rate(errors_total{code=~"5.."}[5m])) > 1', route, receivers, pd, [])
    r = PagingResolver(g)
    a = r.resolve(g.alert_rules()[0], g.snapshot.now)
    assert a.open_labels == ["service"]
    by_cond = {p.condition["service"]: (p.receiver, p.outcome) for p in a.paths}
    assert by_cond == {
        "a": ("pd-a", "pages"),
        "b|c": ("pd-b", "pages"),
        "<any other value>": ("default", "nobody"),
    }
    assert a.pages


def test_pinned_label_takes_one_path() -> None:
    route = Route(
        receiver="default", routes=[Route(receiver="pd-a", matchers=[Matcher(name="service", op="=", value="a")])]
    )
    receivers = [Receiver(name="default", integrations=["email"]), Receiver(name="pd-a")]
    g = _graph('errors_total{service="zzz"} > 1', route, receivers, PagerDutyFacts(), [])
    a = PagingResolver(g).resolve(g.alert_rules()[0], g.snapshot.now)
    assert [(p.receiver, p.outcome) for p in a.paths] == [("default", "notifies")]
    assert a.notifies_only and not a.pages


def test_shared_work_gives_the_answers_of_a_fresh_resolver(demo_graph) -> None:
    """Paths are built once per route key and copied per alert; answers are built without validation:
    every alert's answer must be what a resolver that never saw another alert gives, and validation
    of it must change nothing."""
    g, now = demo_graph
    rules = g.alert_rules()
    shared = PagingResolver(g)
    answers = [shared.resolve(sr, now) for sr in rules]
    again = PagingResolver(g)
    backwards = [again.resolve(sr, now) for sr in reversed(rules)][::-1]
    for sr, a, b in zip(rules, answers, backwards, strict=True):
        fresh = PagingResolver(g).resolve(sr, now)
        assert a.model_dump_json() == b.model_dump_json() == fresh.model_dump_json()
        assert a == fresh
        assert AlertPaging(**a.model_dump()).model_dump_json() == a.model_dump_json()
        for p in a.paths:
            assert PagingPath(**p.model_dump()).model_dump_json() == p.model_dump_json()
    # no answer shares a path, a condition or a list with another one
    paths = [p for a in answers for p in a.paths]
    assert len({id(p) for p in paths}) == len(paths)
    assert len({id(p.condition) for p in paths}) == len(paths)
    assert len({id(p.people_now) for p in paths}) == len(paths)
    assert sum(a.pages for a in answers) > 0


def _paths_label_set_by_label_set(r: PagingResolver, sr, at: datetime) -> list[PagingPath]:
    """`resolve`'s paths the general way, for every alert: each label set's paths, merged by key."""
    labels = r.labels_of(sr)
    paths: list[PagingPath] = []
    if labels.dropped:
        return paths
    for am_name, tree in r.trees.items():
        if labels.open and not r.tested[am_name].keys().isdisjoint(labels.open):
            sets = r.label_sets(labels, am_name, r.live_values(sr))
        else:
            sets = [(labels.fixed, {})]
        seen: dict[tuple, PagingPath] = {}
        for ls, cond in sets:
            for proto, minutes, key in r._paths_of(am_name, tree, ls, at):
                if key in seen:
                    _merge_condition(seen[key].condition, cond)
                    continue
                ttp = None if minutes is None else time_to_page(sr.rule.for_s, proto.group_wait_s, minutes)
                seen[key] = _own_copy(proto, cond, ttp)
                paths.append(seen[key])
    return paths


def test_plans_give_the_paths_of_the_label_set_by_label_set_way(demo_graph) -> None:
    """Alerts with one label set per Alertmanager take their paths from a plan shared by their route key
    (`_plan`); the paths, their fields-sets and what the answer derives from them are the general way's."""
    g, now = demo_graph
    r = PagingResolver(g)
    planned = paged = 0
    for sr in g.alert_rules() * 2:  # the second time from the plans remembered
        a = r.resolve(sr, now)
        want = _paths_label_set_by_label_set(PagingResolver(g), sr, now)
        assert [p.model_dump_json() for p in a.paths] == [p.model_dump_json() for p in want]
        assert [p.model_fields_set for p in a.paths] == [p.model_fields_set for p in want]
        assert a.pages == any(p.outcome == "pages" for p in want)
        assert a.notifies_only == (not a.pages and any(p.outcome == "notifies" for p in want))
        pd = [p.pagerduty_service for p in want if p.pagerduty_service]
        assert a.paged_30d == r._paged(a.alert, pd, now)
        planned += not r.labels_of(sr).open
        paged += bool(a.paged_30d)
    assert planned and r._plans
    assert paged  # the counts kept per plan (`_paged` with the plan) are those taken without one


def test_answer_built_unvalidated_only_from_values_of_the_exact_types() -> None:
    values = dict(
        alert="A",
        prometheus="prom",
        file=None,
        line=3,
        severity="critical",
        for_s=60.0,
        labels={"alertname": "A"},
        open_labels=[],
        services=["s"],
        runbook=None,
        slo=None,
        paths=[],
        pages=False,
        notifies_only=False,
        fired_30d=None,
        paged_30d=0,
    )
    fast = _alert_paging(dict(values))
    assert fast == AlertPaging(**values) and fast.model_dump_json() == AlertPaging(**values).model_dump_json()
    assert fast.model_fields_set == AlertPaging(**values).model_fields_set == set(AlertPaging.model_fields)
    converted = _alert_paging({**values, "for_s": 60})  # an int: validation makes it 60.0
    assert converted.for_s == 60.0 and isinstance(converted.for_s, float)
    assert '"for_s":60.0' in converted.model_dump_json()


def test_expression_regexes_are_read_as_prometheus_reads_them() -> None:
    """The values a label can take under the expression's matchers: RE2 anchored as Prometheus anchors it,
    Go-only syntax included (Python's `re` reads `\\Qa.b\\E` as `Qa.bE` and raises on `\\z`)."""
    from collectors.facts import Matcher
    from rules.paging import _satisfies

    def m(op: str, v: str) -> Matcher:
        return Matcher(name="job", op=op, value=v)

    assert _satisfies("a.b", [m("=~", r"\Qa.b\E")]) and not _satisfies("axb", [m("=~", r"\Qa.b\E")])
    assert _satisfies("a", [m("=~", r"a\z")]) and not _satisfies("ab", [m("=~", r"a\z")])
    assert not _satisfies("ab", [m("=~", "a|b")])  # ^(?:a|b)$
    assert not _satisfies("b", [m("!~", "a|b")]) and _satisfies("c", [m("!~", "a|b")])
    assert _satisfies("x", [m("=~", r"\p{Greek}")])  # cannot be evaluated here: the value stays possible
