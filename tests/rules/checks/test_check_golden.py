"""Golden cases for every check: tests/rules/checks/testdata/<ID>/{good,bad}/ hold an organisation
(ownership.yaml and its files); `expected.json` beside it holds the findings of that check.
Good cases must produce no finding of the check. Update with `pytest --update-golden` and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.config import load_config
from agent.pipeline import collect
from rules.engine import load_pack, merge_packs, run_checks
from rules.graph import OwnershipGraph

TESTDATA = Path(__file__).parent / "testdata"
CASES = sorted(p for p in TESTDATA.glob("OWN*/*") if (p / "ownership.yaml").exists())


def findings_of(case: Path) -> list[dict]:
    loaded = load_config(case / "ownership.yaml")
    now = loaded.config.now
    assert now is not None, f"{case}: golden cases fix `now:`"
    graph = OwnershipGraph.build(collect(loaded, now))
    pack = load_pack()
    extra = case / "pack.yaml"
    if extra.exists():
        pack = merge_packs(pack, load_pack(extra))
    check = case.parent.name
    out = []
    for f in run_checks(graph, now, pack, only={check}):
        d = f.model_dump(mode="json")
        for e in d["evidence"]:  # paths and collection times differ between machines
            if e.get("file"):
                e["file"] = (
                    str(Path(e["file"]).relative_to(case)) if Path(e["file"]).is_relative_to(case) else e["file"]
                )
            if e.get("kind") != "prometheus_signals" and e.get("kind") != "postgres":
                e.pop("observed_at", None)
        out.append(d)
    # absolute paths in messages differ between checkouts
    return json.loads(json.dumps(out).replace(str(case), "<case>"))


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}-{c.name}" for c in CASES])
def test_golden(case: Path, request: pytest.FixtureRequest) -> None:
    got = findings_of(case)
    if case.name.startswith("good"):
        assert got == [], f"{case}: a good case must produce no {case.parent.name} finding"
        return
    assert got, f"{case}: a bad case must produce at least one {case.parent.name} finding"
    expected_file = case / "expected.json"
    if request.config.getoption("--update-golden") or not expected_file.exists():
        expected_file.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert got == json.loads(expected_file.read_text())
