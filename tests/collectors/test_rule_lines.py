"""The lines of rules in a rule file: `rule_lines` finds what `_RULE_START.finditer` finds."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.prometheus_rules import _RULE_START, rule_lines

TESTS = Path(__file__).resolve().parent.parent


def _every_match(text: str, first_line: int) -> list[int]:
    return [first_line + text.count("\n", 0, m.start()) for m in _RULE_START.finditer(text)]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "alert",
        "\nrecord:",
        "- alert: a\n  record: b\n",
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations:\n      summary: alert: no\n",
        "  -   record :x\nalert alert: y\n  alert:alert: z\n",
        "xalert: 1\n -alert: 2\n - alert: 3\n\t- \trecord\t:\n- record\n  : 4\n",
    ],
)
def test_rule_lines_of_odd_layouts(text: str) -> None:
    assert rule_lines(text, 3) == _every_match(text, 3)


def test_rule_lines_of_every_test_file() -> None:
    files = sorted(TESTS.rglob("*.y*ml"))
    assert files
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        assert rule_lines(text, 1) == _every_match(text, 1), f
