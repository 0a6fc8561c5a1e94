"""/metrics: exactly the agreed gauges, parseable by prometheus_client, and bounded label cardinality."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

import pytest
from bigorg import big_org
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from agent.api import ServeState, View, create_app
from agent.config import ServeConfig
from agent.metrics import OTHER, _Notified, series_bound
from collectors.facts import Snapshot
from rules.checks import CHECKS
from rules.engine import incident_times
from rules.findings import Finding
from rules.oncall import OnCallIndex

NAMES = {
    "ownership_findings": ("check", "severity", "service", "team"),
    "ownership_paging_alerts": ("service", "team", "urgency"),
    "ownership_slos": ("service", "team", "paging"),
    "ownership_services": ("team", "owned"),
    "ownership_engineer_paging_alerts": ("engineer",),
    "ownership_engineer_pages_7d": ("engineer",),
    "ownership_engineer_offhours_pages_7d": ("engineer",),
    "ownership_queue_lag": ("service", "queue", "kind"),
    "ownership_slow_query_seconds": ("service", "database"),
    "ownership_source_up": ("source", "kind"),
    "ownership_source_stale": ("source", "kind"),
    "ownership_source_last_success_timestamp_seconds": ("source", "kind"),
    "ownership_source_collection_duration_seconds": ("source", "kind"),
    "ownership_snapshot_timestamp_seconds": (),
    "ownership_collection_duration_seconds": (),
    "ownership_scheduler_runs": ("outcome",),  # a counter: its samples are ownership_scheduler_runs_total
}


def _families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_demo_metrics_parse_and_have_exactly_the_agreed_names(api_client: TestClient, demo_state: ServeState) -> None:
    r = api_client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    fams = _families(r.text)
    assert set(fams) == set(NAMES)
    for name, fam in fams.items():
        counter = name == "ownership_scheduler_runs"
        assert fam.type == ("counter" if counter else "gauge"), name
        assert fam.samples, name
        for s in fam.samples:
            assert s.name in ((f"{name}_total", f"{name}_created") if counter else (name,))
            assert tuple(sorted(s.labels)) == tuple(sorted(NAMES[name])), name
    runs = {s.labels["outcome"]: s.value for s in fams["ownership_scheduler_runs"].samples if s.name.endswith("_total")}
    assert runs == {"success": 0.0, "failure": 0.0}  # no scheduler in this test: both outcomes, from 0
    view = demo_state.view
    g = view.graph
    total = lambda n: sum(s.value for s in fams[n].samples)  # noqa: E731
    assert total("ownership_findings") == len(view.findings)
    assert total("ownership_services") == len(g.catalog.services)
    assert total("ownership_paging_alerts") >= len(g.alert_rules())
    assert total("ownership_slos") == len(g.slos.slos)
    assert {s.labels["source"] for s in fams["ownership_source_up"].samples} == {
        r.status.name for r in view.snapshot.sources
    }
    assert {s.labels["urgency"] for s in fams["ownership_paging_alerts"].samples} <= {"high", "low", "none"}
    assert {s.labels["engineer"] for s in fams["ownership_engineer_paging_alerts"].samples} == {
        u.id for u in g.pagerduty.users
    }
    unowned = [s for s in fams["ownership_services"].samples if s.labels["owned"] == "false"]
    assert sum(s.value for s in unowned) == sum(1 for s in g.catalog.services if not s.team)
    assert max(s.value for s in fams["ownership_engineer_paging_alerts"].samples) > 0
    assert max(s.value for s in fams["ownership_engineer_pages_7d"].samples) > 0
    assert fams["ownership_snapshot_timestamp_seconds"].samples[0].value == view.snapshot.taken_at.timestamp()


def _slo_paging(view: View) -> dict[tuple[str, str], float]:
    fams = {m.name: m for m in view.metrics(ServeConfig())}
    out: dict[tuple[str, str], float] = {}
    for smp in fams["ownership_slos"].samples:
        key = (smp.labels["service"], smp.labels["paging"])
        out[key] = out.get(key, 0) + smp.value
    return out


def test_slo_paging_is_each_slos_own(demo_snapshot: Snapshot, demo_loaded) -> None:
    """`ownership_slos{paging}` follows the SLO's own burn-rate alerts: the OpenSLO SLO of api-gateway is
    linked by the `sloth_id` its alerts select (it was "false"), and payments-api's SLO, named like checkout's,
    does not page when its page alert is rerouted to no pager (it took checkout's answer by the name)."""
    view = View(demo_snapshot, demo_loaded.pack())
    got = _slo_paging(view)
    assert got.get(("api-gateway", "true")) == 1 and ("api-gateway", "false") not in got
    # the answers (pages, the memo) name the SLO through the same link
    burn = [a for a in view.alerts if a.alert == "ApiGatewayAvailabilityBurnRate"]
    assert burn and all(a.slo == "api-availability" for a in burn)
    names = {(s.service, s.name) for s in view.graph.slos.slos}
    assert {("checkout", "requests-availability"), ("payments-api", "requests-availability")} <= names
    assert got.get(("payments-api", "true")) == 1

    # payments-api's page alert with `severity: warning`: no route pages it any more (checkout's still does)
    snap = demo_snapshot.model_copy(deep=True)
    changed = 0
    for res in snap.sources:
        if res.facts is not None and res.facts.kind == "prometheus":
            for r in res.facts.rules:
                lab = r.labels
                if lab.get("service") == "payments-api" and lab.get("sloth_severity") == "page":
                    lab["severity"] = "warning"
                    changed += 1
    assert changed
    view = View(snap, demo_loaded.pack())
    assert not any(a.pages for a in view.alerts if a.slo == "requests-availability" and "payments-api" in a.services)
    got = _slo_paging(view)
    assert got.get(("payments-api", "false")) == 1 and ("payments-api", "true") not in got
    assert got.get(("checkout", "true")) and ("checkout", "false") not in got
    assert "payments-api" in {f.service for f in view.findings if f.check == "OWN002"}


def test_paging_surface_matches_the_engineer_answer(demo_state: ServeState) -> None:
    """The gauge counts the alerts `pages --engineer` lists for the next 7 days."""
    from datetime import timedelta

    view = demo_state.view
    fams = {m.name: m for m in view.metrics(ServeConfig())}
    surface = {s.labels["engineer"]: s.value for s in fams["ownership_engineer_paging_alerts"].samples}
    for uid, value in sorted(surface.items())[:6]:
        ans = view.resolver.engineer_pages(uid, view.now, timedelta(days=7))
        alerts = {(a.prometheus, a.alert, a.file, a.line) for s in ans.services for a in s.alerts}
        assert value == len(alerts), uid


@pytest.mark.parametrize("label", ["catalog_id", "email"])
def test_engineer_label_is_the_handle_config_chooses(demo_state: ServeState, label: str) -> None:
    view = demo_state.view
    fams = {m.name: m for m in view.metrics(ServeConfig(engineer_label=label))}
    got = {s.labels["engineer"] for s in fams["ownership_engineer_pages_7d"].samples}
    by_pd = {p.pagerduty_user_id: p for p in view.graph.catalog.people if p.pagerduty_user_id}
    want = set()
    for u in view.graph.pagerduty.users:
        p = by_pd.get(u.id)
        if label == "catalog_id":
            want.add(p.id if p else u.id)
        else:
            want.add((p.email if p else None) or u.email or u.id)
    assert got == want


@pytest.fixture(scope="module")
def big_view() -> View:
    snap: Snapshot = big_org(services=2000, engineers=3000, teams=100)
    view = View(snap)
    # every alerting rule answered (how fast is the benchmark's business: `python -m bench`, not a test's)
    assert len(view.alerts) == len(view.graph.alert_rules()) > 0
    # findings built directly: a few per service, on every check and severity, so every label is exercised
    # (running the whole check catalogue on 2,000 services is a benchmark, not this test)
    findings = []
    for i, s in enumerate(view.graph.catalog.services):
        for c in CHECKS[i % 3 :: 5]:
            findings.append(
                Finding(
                    check=c.id,
                    severity=("critical", "warning", "info")[i % 3],
                    service=s.name,
                    team=s.team,
                    subject=s.name,
                    summary="generated",
                )
            )
    view.__dict__["findings"] = findings
    return view


def test_series_stay_within_the_configured_bound(big_view: View) -> None:
    bounds = ServeConfig(max_services=50, max_engineers=100, max_teams=20, max_queues=60)
    st = ServeState(bounds, ["t" * 20])
    st._view = big_view
    with TestClient(create_app(st)) as c:
        text = c.get("/metrics").text
    fams = _families(text)
    assert set(fams) == set(NAMES)
    samples = [s for f in fams.values() for s in f.samples]
    values: dict[str, set[str]] = {}
    for s in samples:
        for k, v in s.labels.items():
            values.setdefault(k, set()).add(v)
    assert len(values["service"] - {"", OTHER}) <= bounds.max_services
    assert len(values["team"] - {"", OTHER}) <= bounds.max_teams
    assert len(values["engineer"] - {OTHER}) <= bounds.max_engineers
    assert len(values["queue"] - {OTHER}) <= bounds.max_queues
    assert OTHER in values["service"] and OTHER in values["engineer"] and OTHER in values["team"]
    bound = series_bound(bounds, checks=len(CHECKS), sources=len(big_view.snapshot.sources))
    assert len(samples) <= bound

    # nothing is lost: the rest is summed under "other"
    unbounded = {
        m.name: m
        for m in big_view.metrics(
            ServeConfig(max_services=10**6, max_engineers=10**6, max_teams=10**6, max_queues=10**6)
        )
    }
    n_unbounded = sum(len(m.samples) for m in unbounded.values())
    assert n_unbounded > 10 * len(samples)  # the bound is what keeps it small
    engineers = {s.labels["engineer"] for s in unbounded["ownership_engineer_pages_7d"].samples}
    assert len(engineers) == 3000
    for name in NAMES:
        if name.startswith("ownership_source") or name in (
            "ownership_snapshot_timestamp_seconds",
            "ownership_scheduler_runs",  # the process's, not the snapshot's
        ):
            continue
        want = sum(s.value for s in unbounded[name].samples)
        got = sum(s.value for s in fams[name].samples)
        assert got == pytest.approx(want), name


def test_big_org_engineer_counts(big_view: View) -> None:
    fams = {m.name: m for m in big_view.metrics(ServeConfig(max_engineers=10**6))}
    pages = {s.labels["engineer"]: s.value for s in fams["ownership_engineer_pages_7d"].samples}
    off = {s.labels["engineer"]: s.value for s in fams["ownership_engineer_offhours_pages_7d"].samples}
    surface = {s.labels["engineer"]: s.value for s in fams["ownership_engineer_paging_alerts"].samples}
    assert sum(pages.values()) >= 2000  # every incident notified its assignee (and the level-1 holder)
    assert all(off[e] <= pages[e] for e in pages)
    assert 0 < sum(off.values()) < sum(pages.values())
    # each team's 20 services page whoever holds its levels in the next 7 days
    assert max(surface.values()) == 20


def test_notified_holders_agree_with_the_oncall_index(big_view: View) -> None:
    """The metrics' on-call holders (spans read once, in UTC) are OnCallIndex.holders' answers, at
    shift boundaries, in other offsets and for naive instants too."""
    oncall = OnCallIndex(big_view.graph.pagerduty)
    fast = _Notified(oncall)
    edges = [t for o in big_view.graph.pagerduty.oncalls[:200] for t in (o.start, o.end) if t is not None]
    assert edges
    instants = [big_view.now + timedelta(hours=h) for h in range(-24 * 9, 24 * 9, 5)]
    instants += edges + [t - timedelta(microseconds=1) for t in edges]
    instants += [t.astimezone(timezone(timedelta(hours=-7))) for t in edges[:50]]
    instants += [t.astimezone(UTC).replace(tzinfo=None) for t in edges[:50]]
    keys = list(oncall.entries)[:: max(1, len(oncall.entries) // 40)] + [("PNOPE", 1)]
    for policy, level in keys:
        for at in instants:
            assert fast.holders(policy, level, at) == oncall.holders(policy, level, at), (policy, level, at)


def test_notified_users_with_the_instant_in_utc_given(big_view: View) -> None:
    """`_Notified.users` given the incident's instant in UTC (`incident_times`') answers what it answers
    converting `created_at` itself."""
    g = big_view.graph
    fast = _Notified(OnCallIndex(g.pagerduty))
    times = incident_times(g)
    assert g.pagerduty.incidents
    for inc, c in list(zip(g.pagerduty.incidents, times, strict=True))[:2000]:
        assert fast.users(inc, c) == fast.users(inc)
