"""Meta-tests: every check has an id, a doc page with the same sections, golden cases, a pack entry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.errors import InputError
from rules.checks import CHECKS
from rules.engine import load_pack

ROOT = Path(__file__).parent.parent.parent.parent
SECTIONS = ["## What it finds", "## Why it matters", "## How to fix", "## How to disable or snooze"]
IDS = [c.id for c in CHECKS]


def test_ids_are_unique_and_well_formed() -> None:
    assert len(IDS) == len(set(IDS))
    assert all(re.fullmatch(r"OWN\d{3}", i) for i in IDS)


def test_every_design_check_exists() -> None:
    assert IDS == [f"OWN{n:03d}" for n in range(14)]


@pytest.mark.parametrize("check", CHECKS, ids=IDS)
def test_check_has_a_doc_page(check: type) -> None:
    page = ROOT / "docs" / "checks" / f"{check.id}.md"
    assert page.exists(), f"missing {page}"
    text = page.read_text()
    assert text.startswith(f"# {check.id}: ")
    positions = [text.find(s) for s in SECTIONS]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), f"{page}: sections {SECTIONS}"


@pytest.mark.parametrize("check", CHECKS, ids=IDS)
def test_check_has_good_and_bad_golden_cases(check: type) -> None:
    d = Path(__file__).parent / "testdata" / check.id
    assert any(p.name.startswith("good") for p in d.iterdir()), f"{check.id}: no good case"
    assert any(p.name.startswith("bad") for p in d.iterdir()), f"{check.id}: no bad case"


@pytest.mark.parametrize("check", CHECKS, ids=IDS)
def test_check_is_in_the_default_pack(check: type) -> None:
    assert check.id in load_pack().checks


def test_unknown_check_id_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "pack.yaml"
    p.write_text("apiVersion: ownership-agent/v1\nkind: RulePack\nchecks:\n  OWN999: {enabled: false}\n")
    with pytest.raises(InputError) as e:
        load_pack(p)
    assert str(e.value) == f"{p}:4: unknown check id 'OWN999'"
