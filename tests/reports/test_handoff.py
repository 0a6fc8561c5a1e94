"""The on-call handoff: golden files on the demo organisation, counts against the raw PagerDuty export,
new findings by key, firing alerts from Alertmanager or alert history, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from reports.reports_support import check_golden

from agent import demo
from agent.errors import InputError
from agent.reports.handoff import Handoff, build_handoff, render_handoff
from collectors.facts import FiringAlert
from rules.findings import Finding
from rules.graph import OwnershipGraph
from rules.paging import PagingResolver

ORG = demo.org_dir()


def handoff(
    graph: OwnershipGraph, findings: list[Finding], team: str, since: datetime, until: datetime, previous=None
) -> Handoff:
    return build_handoff(graph, PagingResolver(graph), findings, team, since, until, previous)


def previous_without(findings: list[Finding], *checks: str) -> list[Finding]:
    """The findings a previous handoff saw: these checks' findings had not appeared yet."""
    return [f for f in findings if f.check not in checks]


CASES = {
    # team: (shift length, checks whose findings are new since the previous handoff; None: no previous handoff)
    "data": (timedelta(days=1), None),
    "storefront": (timedelta(days=7), ("OWN008",)),
    "payments": (timedelta(days=7), ("OWN010", "OWN011")),
    "platform": (timedelta(hours=12), ()),
}


@pytest.mark.parametrize("team", sorted(CASES))
@pytest.mark.parametrize("fmt", ["md", "html"])
def test_handoff_golden(request, org_graph, org_findings, org_now, team: str, fmt: str) -> None:
    span, new = CASES[team]
    previous = None if new is None else previous_without(org_findings, *new)
    h = handoff(org_graph, org_findings, team, org_now - span, org_now, previous)
    text = render_handoff(h, fmt)  # type: ignore[arg-type]
    assert str(ORG) not in text and "/work/" not in text
    check_golden(request, f"handoff-{team}.{fmt}", text)


# --------------------------------------------------------------------------- against the raw export


def _raw(name: str) -> list[dict]:
    return json.loads((ORG / "pagerduty" / f"{name}.json").read_text())[name]


def _t(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.mark.parametrize("team", ["payments", "storefront", "platform", "data"])
def test_incident_counts_match_the_raw_export(org_graph, org_findings, org_now, team: str) -> None:
    catalog = yaml.safe_load((ORG / "catalog.yaml").read_text())
    t = next(x for x in catalog["teams"] if x["name"] == team)
    policies = set(t["pagerduty"]["escalation_policies"])
    services = {s["id"] for s in _raw("services") if s["escalation_policy"]["id"] in policies}
    tz = ZoneInfo(t["timezone"])
    start = datetime.strptime(t["working_hours"]["start"], "%H:%M").time()
    end = datetime.strptime(t["working_hours"]["end"], "%H:%M").time()
    since = org_now - timedelta(days=7)
    shift = [i for i in _raw("incidents") if i["service"]["id"] in services and since <= _t(i["created_at"]) < org_now]
    off = off_pages = 0
    for i in shift:
        local = _t(i["created_at"]).astimezone(tz)
        outside = not (local.weekday() < 5 and start <= local.time() < end)
        off += outside
        off_pages += outside and i["urgency"] == "high"
    still_open = {i["id"] for i in _raw("incidents") if i["service"]["id"] in services and i["status"] != "resolved"}
    acks: dict[str, datetime] = {}
    for e in _raw("log_entries"):
        if e["type"] == "acknowledge_log_entry":
            acks.setdefault(e["incident"]["id"], _t(e["created_at"]))

    h = handoff(org_graph, org_findings, team, since, org_now)
    assert h.incident_count == len(shift) == sum(s.incidents for s in h.by_service)
    assert h.off_hours_count == off == sum(s.off_hours for s in h.by_service)
    # pages: the high-urgency incidents (a low-urgency one only notifies)
    assert h.page_count == sum(i["urgency"] == "high" for i in shift) == sum(s.high_urgency for s in h.by_service)
    assert h.off_hours_page_count == off_pages
    assert {r.id for r in h.open_incidents} == still_open
    for r in h.incidents:
        if r.id in acks:
            assert r.time_to_acknowledge_s == (acks[r.id] - r.created_at).total_seconds()
        else:
            assert r.time_to_acknowledge_s is None


def test_demo_handoff_facts(org_graph, org_findings, org_now) -> None:
    h = handoff(org_graph, org_findings, "data", org_now - timedelta(days=1), org_now)
    assert {r.title.split()[1] for r in h.open_incidents} == {"AnalyticsIngestLagHigh", "FeatureStoreOnlineHighLatency"}
    assert [a.alertname for a in h.firing_now] == ["AnalyticsIngestLagHigh", "FeatureStoreOnlineHighLatency"]
    assert all(a.basis == "alert history" for a in h.firing_now)
    # the planted weekend hole of Data Reporting (business days), Sat 05:00Z - Mon 05:00Z
    holes = [(c.name, c.start, c.end) for c in h.coverage_holes]
    assert holes == [
        (
            "Data Reporting (business days)",
            datetime(2026, 11, 21, 5, tzinfo=ZoneInfo("UTC")),
            datetime(2026, 11, 23, 5, tzinfo=ZoneInfo("UTC")),
        )
    ]
    assert h.previous_handoff_known is False and {f.check for f in h.new_findings} == {"OWN002", "OWN005"}
    data = next(p for p in h.on_call if p.name == "Data")
    assert [lv.level for lv in data.levels] == [1, 2]
    assert all(lv.now for lv in data.levels) and all(lv.next for lv in data.levels)


def test_new_findings_are_those_not_seen_at_the_previous_handoff(org_graph, org_findings, org_now) -> None:
    since = org_now - timedelta(days=7)
    h = handoff(org_graph, org_findings, "payments", since, org_now, previous_without(org_findings, "OWN011"))
    assert [(f.check, f.subject) for f in h.new_findings] == [("OWN011", "PaymentsApiDown")]
    h = handoff(org_graph, org_findings, "payments", since, org_now, org_findings)
    assert h.new_findings == [] and h.previous_handoff_known


def test_noisy_alerts_from_history_without_own008(org_graph, org_findings, org_now) -> None:
    with_finding = handoff(org_graph, org_findings, "storefront", org_now - timedelta(days=1), org_now)
    assert [(n.alertname, n.finding) for n in with_finding.noisy_alerts] == [
        ("StorefrontWebHighLatency", "OWN008 StorefrontWebHighLatency")
    ]
    without = [f for f in org_findings if f.check != "OWN008"]
    h = handoff(org_graph, without, "storefront", org_now - timedelta(days=1), org_now)
    assert [(n.alertname, n.fires, n.short_fires, n.finding) for n in h.noisy_alerts] == [
        ("StorefrontWebHighLatency", 27, 27, None)
    ]


def test_firing_now_prefers_alertmanager_alerts(org_snapshot, org_findings, org_now) -> None:
    snap = org_snapshot.model_copy(deep=True)
    for res in snap.sources:
        if res.facts is not None and res.facts.kind == "alertmanager":
            res.facts.alerts = [
                FiringAlert(
                    labels={"alertname": "LedgerDown", "service": "ledger", "team": "payments", "severity": "critical"},
                    starts_at=org_now - timedelta(minutes=3),
                ),
                FiringAlert(labels={"alertname": "SearchDown", "service": "search"}, starts_at=org_now),
            ]
    g = OwnershipGraph.build(snap)
    h = handoff(g, org_findings, "payments", org_now - timedelta(days=1), org_now)
    assert [(a.alertname, a.basis, a.source.source, a.summary) for a in h.firing_now] == [
        ("LedgerDown", "alertmanager", "am-eu", "No ledger instance is up")
    ]


def test_bad_input(org_graph, org_findings, org_now) -> None:
    with pytest.raises(InputError):
        handoff(org_graph, org_findings, "nobody", org_now - timedelta(days=1), org_now)
    with pytest.raises(InputError):
        handoff(org_graph, org_findings, "data", org_now, org_now - timedelta(days=1))


# --------------------------------------------------------------------------- the command line


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env
    )


def test_cli_handoff(tmp_path: Path) -> None:
    p = run_cli(tmp_path, "--demo", "handoff", "data")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("# On-call handoff: Data\n")
    assert "shift 2026-11-09 09:30 UTC → 2026-11-16 09:30 UTC" in p.stdout  # default: the 7 days before --now

    p = run_cli(tmp_path, "--demo", "handoff", "storefront", "--since", "24h", "--format", "json")
    assert p.returncode == 0, p.stderr
    h = Handoff.model_validate_json(p.stdout)
    assert h.since == h.until - timedelta(hours=24)

    p = run_cli(
        tmp_path,
        "handoff",
        "payments",
        "--demo",
        "--since",
        "2026-11-09T09:30:00+00:00",
        "--until",
        "2026-11-16T09:30:00+00:00",
        "--format",
        "html",
        "-o",
        "h.html",
    )
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "h.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")

    assert run_cli(tmp_path, "--demo", "handoff", "data", "--since", "yesterday").returncode == 2
    assert run_cli(tmp_path, "--demo", "handoff", "data", "--since", "2026-11-17T00:00:00+00:00").returncode == 2
    p = run_cli(tmp_path, "--demo", "handoff", "nope")
    assert p.returncode == 2 and 'unknown team "nope"' in p.stderr
