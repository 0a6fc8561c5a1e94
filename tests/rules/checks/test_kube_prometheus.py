"""The checks on real public rules: kube-prometheus's 139 alerts with the Alertmanager examples.
They run clean, OWN004 finds nothing (every alert carries runbook_url), and the count per check
is printed for the record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.alertmanager_config import load_alertmanager_config
from collectors.facts import PrometheusFacts, Snapshot, SourceResult, SourceStatus
from collectors.prometheus_rules import load_rule_file
from rules.engine import run_checks
from rules.graph import OwnershipGraph

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


def _snapshot(rule_dir: Path, am_file: Path) -> Snapshot:
    rules = [r for f in sorted(rule_dir.glob("*.yaml")) for r in load_rule_file(f)]
    prom = PrometheusFacts(rules=rules, rule_files=[str(f) for f in sorted(rule_dir.glob("*.yaml"))])
    am = load_alertmanager_config(am_file)

    def res(name: str, facts) -> SourceResult:
        return SourceResult(status=SourceStatus(name=name, kind=facts.kind, ok=True, collected_at=NOW), facts=facts)

    return Snapshot(taken_at=NOW, now=NOW, sources=[res("kube-prometheus", prom), res("alertmanager", am)])


@pytest.mark.parametrize("am", ["conf.good.yml", "simple.yml", "route_labels.yml"])
def test_kube_prometheus_with_alertmanager_examples(shared_dir: Path, am: str) -> None:
    ref = shared_dir / "reference-data"
    snap = _snapshot(ref / "kube-prometheus", ref / "alertmanager" / am)
    graph = OwnershipGraph.build(snap)
    assert len(graph.alert_rules()) == 139
    findings = run_checks(graph, NOW)
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.check] = counts.get(f.check, 0) + 1
    print(f"kube-prometheus + {am}: findings per check {dict(sorted(counts.items()))}")
    assert "OWN004" not in counts
