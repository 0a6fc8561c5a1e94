"""Meta-tests: the config reference is generated and current; every config field is documented."""

from __future__ import annotations

import re
from pathlib import Path

from agent import docgen

ROOT = Path(__file__).parent.parent.parent


def test_every_config_field_has_a_description() -> None:
    assert docgen.undocumented() == []


def test_readme_config_reference_is_current() -> None:
    text = (ROOT / "README.md").read_text()
    m = re.search(re.escape(docgen.START) + r".*?" + re.escape(docgen.END), text, re.S)
    assert m, "README lacks the generated config reference"
    assert m.group(0) == docgen.render(), "run `python -m agent.docgen README.md`"


def test_quick_start_is_two_lines_and_ci_runs_the_second() -> None:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"^## Quick start\n(.*?)^## ", text, re.S | re.M)
    assert m
    blocks = re.findall(r"```sh\n(.*?)```", m.group(1), re.S)
    assert len(blocks) == 1
    lines = blocks[0].strip("\n").split("\n")
    assert len(lines) == 2
    assert "ownership demo" in lines[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert f'TEST_LINE="{lines[1]}"' in ci
