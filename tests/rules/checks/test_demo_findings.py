"""On the demo organisation the findings equal the hand-written expected-findings.yaml:
every planted case found, nothing else."""

from __future__ import annotations

import yaml

from agent import demo
from agent.config import load_config
from agent.pipeline import collect
from rules.engine import run_checks
from rules.graph import OwnershipGraph


def test_demo_findings_equal_the_planted_cases() -> None:
    loaded = load_config(demo.config_path())
    now = loaded.config.now
    assert now is not None
    findings = run_checks(OwnershipGraph.build(collect(loaded, now)), now)
    got = {(f.check, f.service, str(f.subject)) for f in findings}
    doc = yaml.safe_load((demo.org_dir() / "expected-findings.yaml").read_text())
    expected = {(f["check"], f["service"], str(f["subject"])) for f in doc["findings"]}
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.check] = counts.get(f.check, 0) + 1
    print("findings per check on demo-org:", dict(sorted(counts.items())))
    assert got - expected == set(), "found but not planted"
    assert expected - got == set(), "planted but not found"
