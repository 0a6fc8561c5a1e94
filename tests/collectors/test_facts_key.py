"""The content key of a file source's facts (SourceStatus.facts_key): set when the facts come from, or were
just written to, an on-disk cache; the same files, the same key; a changed input, another key."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.config import load_config
from agent.pipeline import collect

SMALL_ORG = Path(__file__).parent.parent / "testdata" / "org-small"
NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)

# a file of each source of the small organisation, and that source
INPUTS = {
    "catalog.yaml": "catalog",
    "prometheus.yml": "prom",
    "rules/checkout.yml": "prom",
    "alertmanager.yml": "am",
    "pagerduty/services.json": "pagerduty",
    "slos/checkout.yaml": "slos",
}


@pytest.fixture
def org(tmp_path: Path) -> Path:
    dest = tmp_path / "org"
    shutil.copytree(SMALL_ORG, dest, ignore=shutil.ignore_patterns(".ownership"))
    return dest


def _keys(org: Path) -> dict[str, str | None]:
    snap = collect(load_config(org / "ownership.yaml"), NOW)
    assert all(s.status.ok for s in snap.sources)
    return {s.status.name: s.status.facts_key for s in snap.sources}


def test_the_same_files_give_the_same_keys(org: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", str(tmp_path / "cache"))
    first = _keys(org)  # written to the caches
    assert set(first) == set(INPUTS.values())
    assert all(isinstance(k, str) and len(k) == 64 for k in first.values())
    assert _keys(org) == first  # read from them


@pytest.mark.parametrize("file", sorted(INPUTS))
def test_a_changed_file_changes_its_sources_key(
    org: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file: str
) -> None:
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", str(tmp_path / "cache"))
    before = _keys(org)
    path = org / file
    text = path.read_text()
    # a change that keeps the file valid: a YAML comment, JSON whitespace
    path.write_text(text + ("\n" if file.endswith(".json") else "\n# changed\n"))
    after = _keys(org)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {INPUTS[file]}
    path.write_text(text)
    assert _keys(org) == before  # back to the same content: the same key


def test_no_cache_no_key(org: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", "")
    assert set(_keys(org).values()) == {None}


def test_a_config_change_changes_the_key(org: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", str(tmp_path / "cache"))
    before = _keys(org)
    cfg = org / "ownership.yaml"
    cfg.write_text(
        cfg.read_text().replace("    export_dir: pagerduty\n", "    export_dir: pagerduty\n    stale_after: 2h\n")
    )
    after = _keys(org)
    assert {n for n in before if before[n] != after[n]} == {"pagerduty"}
