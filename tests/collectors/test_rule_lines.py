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


def _lines_of(tmp_path: Path, text: str) -> list[tuple[str, int | None]]:
    from collectors.prometheus_rules import load_rule_file

    path = tmp_path / "rules.yml"
    path.write_text(text, encoding="utf-8")
    return [(r.name, r.location.line) for r in load_rule_file(path)]


def test_a_flow_rule_and_a_block_scalar_line_looking_like_a_rule(tmp_path: Path) -> None:
    """The scan misses a flow-style rule and finds a description line `alert: ...`: as many lines as rules, but
    not theirs (FlowAlert was put on line 5, BlockAlert on line 13)."""
    text = (
        "groups:\n"
        "  - name: g\n"
        "    rules:\n"
        "      - {alert: FlowAlert, expr: up == 0, labels: {service: checkout, severity: critical}}\n"
        "      - alert: BlockAlert\n"
        "        expr: up == 2\n"
        "        labels:\n"
        "          service: checkout\n"
        "        annotations:\n"
        "          description: |\n"
        "            When this fires, check the other one:\n"
        "            alert: FlowAlert is related.\n"
    )
    assert _lines_of(tmp_path, text) == [("FlowAlert", 4), ("BlockAlert", 5)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the line `alert: B` is a description's: B is the flow rule on line 9
        (
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations:\n      d: |\n"
            "        alert: B\n  - {expr: up, alert: B}\n",
            [("A", 4), ("B", 9)],
        ),
        # a rule whose first key is not `alert`, its `alert:` line found, a flow rule before it
        (
            "groups:\n- name: g\n  rules:\n  - {record: r, expr: up}\n  - expr: up\n    alert: A\n",
            [("r", 4), ("A", 6)],
        ),
        # quoted names and comments: still the scan's lines
        (
            "groups:\n- name: g\n  rules:\n  - alert: 'A' # c\n    expr: up\n  - record: \"r:x\"\n    expr: up\n"
            "  - alert: B  # c\n    expr: up",
            [("A", 4), ("r:x", 6), ("B", 8)],
        ),
        # groups indented differently (the scan assumes one column: the composer answers)
        (
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n- name: h\n  rules:\n"
            "      - alert: B\n        expr: up\n",
            [("A", 4), ("B", 8)],
        ),
        # a rule name written `01` (yaml-rs reads 1; the name is the text)
        ("groups:\n- name: g\n  rules:\n  - alert: 01\n    expr: up\n", [("01", 4)]),
    ],
)
def test_rule_lines_are_the_composers(tmp_path: Path, text: str, expected: list[tuple[str, int]]) -> None:
    import yaml

    assert _lines_of(tmp_path, text) == expected
    # what the composer says about the same text
    node = yaml.compose(text)
    want = []
    for g in dict((k.value, v) for k, v in node.value)["groups"].value:
        rules = dict((k.value, v) for k, v in g.value)["rules"]
        for r in rules.value:
            for k, _ in r.value:
                if k.value in ("alert", "record"):
                    want.append(k.start_mark.line + 1)
    assert [line for _, line in expected] == want
