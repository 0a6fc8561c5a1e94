"""Rule files at the YAML level and in rulefmt's types: what `promtool check rules` (2.42) accepts is accepted,
with the rules it finds; what it refuses is refused at the line of the value."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import require_binary
from servers import PROMTOOL_BIN

from agent.errors import InputError
from collectors.prometheus_rules import load_rule_file


def promtool(path: Path) -> tuple[bool, int | None, str]:
    require_binary(PROMTOOL_BIN, "promtool")
    out = subprocess.run([PROMTOOL_BIN, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    m = re.search(r"SUCCESS: (\d+) rules found", out.stdout + out.stderr)
    return out.returncode == 0, int(m.group(1)) if m else None, out.stdout + out.stderr


RULE = "      - alert: A\n        expr: up\n"
ACCEPTED = {
    "bom": ("\ufeffgroups:\n  - name: g\n    rules:\n" + RULE, [("A", 4, {})]),
    "yaml_directive": ("%YAML 1.1\n---\ngroups:\n  - name: g\n    rules:\n" + RULE, [("A", 6, {})]),
    "merge_rule": (
        "groups:\n  - name: g\n    rules:\n      - &r\n        alert: A\n        expr: up\n"
        "      - <<: *r\n        alert: B\n",
        [("A", 5, {}), ("B", 8, {})],
    ),
    "merge_labels": (
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        labels: &l\n"
        "          service: checkout\n          prio: 01\n      - alert: B\n        expr: up\n        labels:\n"
        "          <<: *l\n          sev: x\n",
        [("A", 4, {"service": "checkout", "prio": "01"}), ("B", 9, {"service": "checkout", "prio": "01", "sev": "x"})],
    ),
    "null_rule_item": ("groups:\n  - name: g\n    rules:\n      -\n" + RULE, [("A", 5, {})]),
    "null_group": ("groups:\n  -\n  - name: g\n    rules:\n" + RULE, [("A", 5, {})]),
    # Prometheus 2.x's name of double_exponential_smoothing (promql-parser knows only the 3.0 name)
    "holt_winters": (
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: holt_winters(up[5m], 0.5, 0.5) > 1\n",
        [("A", 4, {})],
    ),
    "limit_integral_float": ("groups:\n  - name: g\n    limit: 2.0\n    rules:\n" + RULE, [("A", 5, {})]),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_accepted_as_promtool(tmp_path: Path, case: str) -> None:
    text, expected = ACCEPTED[case]
    f = tmp_path / "r.yml"
    f.write_text(text, encoding="utf-8")
    ok, count, out = promtool(f)
    assert ok and count == len(expected), out
    assert [(r.name, r.location.line, r.labels) for r in load_rule_file(f)] == expected


REFUSED = {
    "name_list": ("groups:\n  - name: [g]\n    rules: []\n", 2, "name: cannot unmarshal !!seq into string"),
    "limit_word": (
        "groups:\n  - name: g\n    limit: ten\n    rules: []\n",
        3,
        "limit: cannot unmarshal !!str into int",
    ),
    "rules_mapping": ("groups:\n  - name: g\n    rules: {a: b}\n", 3, "cannot unmarshal !!map into []rulefmt.RuleNode"),
    "query_offset": ("groups:\n  - name: g\n    query_offset: 1m\n    rules: []\n", 3, "field query_offset not found"),
    "group_labels": ("groups:\n  - name: g\n    labels: {a: b}\n    rules: []\n", 3, "field labels not found"),
    "for_space": ("groups:\n  - name: g\n    rules:\n" + RULE + '        for: " 5m"\n', 6, "not a valid duration"),
    "interval_space": ("groups:\n  - name: g\n    interval: ' 1m'\n    rules: []\n", 3, "not a valid duration"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_as_promtool(tmp_path: Path, case: str) -> None:
    text, line, fragment = REFUSED[case]
    f = tmp_path / "r.yml"
    f.write_text(text, encoding="utf-8")
    ok, _, out = promtool(f)
    assert not ok, out
    with pytest.raises(InputError) as e:
        load_rule_file(f)
    assert str(e.value).startswith(f"{f}:{line}: "), str(e.value)
    assert fragment in str(e.value)
