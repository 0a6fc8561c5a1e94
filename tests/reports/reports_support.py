"""Fixtures and helpers of the document tests (imported by them; not a conftest, so that
`from conftest import ...` elsewhere keeps meaning tests/conftest.py): the demo organisation at its fixed instant, and a fixed findings input.

The findings are an input of the golden tests (testdata/demo-findings.json, file paths relative to the
demo organisation), so the memo and handoff goldens change only when the documents change, not whenever
a check's wording does.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from agent import demo
from agent.config import LoadedConfig, load_config
from collectors.facts import Snapshot
from rules.findings import Finding
from rules.graph import OwnershipGraph
from rules.paging import PagingResolver

TESTDATA = Path(__file__).parent / "testdata"
FINDINGS = TESTDATA / "demo-findings.json"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def load_findings(path: Path = FINDINGS) -> list[Finding]:
    """The committed findings, their evidence files made absolute under this checkout's demo organisation."""
    org = demo.org_dir()
    out = []
    for raw in json.loads(path.read_text(encoding="utf-8")):
        f = Finding.model_validate(raw)
        for e in f.evidence:
            if e.file and not Path(e.file).is_absolute():
                e.file = str(org / e.file)
        out.append(f)
    return out


def dump_findings(findings: list[Finding], now: datetime, path: Path = FINDINGS) -> None:
    """Write findings as the committed input: files relative to the demo organisation, times as of `now`."""
    org = demo.org_dir().resolve()
    items = []
    for f in findings:
        f = f.model_copy(deep=True)
        for e in f.evidence:
            e.observed_at = None if e.observed_at is None else min(e.observed_at, now)
            if e.file:
                try:
                    e.file = Path(e.file).resolve().relative_to(org).as_posix()
                except ValueError:
                    pass
        items.append(f.model_dump(mode="json"))
    path.write_text(json.dumps(items, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def check_golden(request: pytest.FixtureRequest, name: str, text: str) -> None:
    """Compare with testdata/NAME; `pytest --update-golden` rewrites it (review the diff)."""
    path = TESTDATA / name
    if request.config.getoption("--update-golden"):
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} missing: run pytest --update-golden and review it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from the golden file; run pytest --update-golden and review the diff"


@pytest.fixture(scope="session")
def org_loaded() -> LoadedConfig:
    return load_config(demo.config_path())


@pytest.fixture(scope="session")
def org_now(org_loaded: LoadedConfig) -> datetime:
    assert org_loaded.config.now is not None
    return org_loaded.config.now


@pytest.fixture(scope="session")
def org_snapshot(org_loaded: LoadedConfig, org_now: datetime) -> Snapshot:
    from agent.pipeline import collect

    return collect(org_loaded, org_now, None, progress=False)


@pytest.fixture(scope="session")
def org_graph(org_snapshot: Snapshot) -> OwnershipGraph:
    return OwnershipGraph.build(org_snapshot)


@pytest.fixture(scope="session")
def org_resolver(org_graph: OwnershipGraph) -> PagingResolver:
    return PagingResolver(org_graph)


@pytest.fixture(scope="session")
def org_findings() -> list[Finding]:
    return load_findings()
