"""YAML scalars as Prometheus and Alertmanager (Go's yaml) read them.

1. A scalar its explicit tag does not fit (`routing_key: !!int SECRET`) is a clean `FILE:LINE: YAML syntax error`
   at the scalar's line that never quotes the value (it may be a secret): not a traceback from PyYAML's
   constructor, not yaml-rs's "Invalid value 'SECRET' for '!!null' tag" at the document's first line.
2. Where Go reads a string (rule labels and annotations, alert and group names, `match` values, routing keys,
   external labels), the agent sees the scalar's text: `priority: 01` is "01" as promtool and amtool have it,
   not the 1 yaml-rs resolves it to (nor 0x1F -> "31", 1.50 -> "1.5", True -> "true").
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from servers import AMTOOL_BIN, PROMTOOL_BIN, amtool_check_config, amtool_routes_test

from agent.errors import InputError
from collectors import yamlfile
from collectors.alertmanager_config import load_alertmanager_config
from collectors.prometheus_config import load_prometheus_config
from collectors.prometheus_rules import _parse_rule_file
from collectors.secrets import fingerprint
from collectors.yamlfile import load_documents, load_one

REPO = Path(__file__).resolve().parent.parent.parent
SMALL_ORG = REPO / "tests" / "testdata" / "org-small"
SECRET = "R0UT1NGKEYsupersecret42"


def _tool(path: str) -> None:
    if not Path(path).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is not installed")
        pytest.skip(f"{path} is not installed")


# --------------------------------------------------------------------------- 1. tags, values never echoed

AM_TAGGED = """\
route:
  receiver: pd
receivers:
  - name: pd
    pagerduty_configs:
      - routing_key: {tag} {value}
"""


@pytest.mark.parametrize(
    ("tag", "words"),
    [
        ("!!int", "cannot decode !!str as a !!int"),
        ("!!null", "cannot decode !!str as a !!null"),
        ("!!float", "cannot decode !!str as a !!float"),
        ("!!bool", "cannot decode !!str as a !!bool"),
        ("!!timestamp", "the tag !!timestamp is not supported"),
        ("!!map", "the tag !!map is not supported"),
    ],
)
def test_a_tag_the_value_does_not_fit_names_its_line_not_its_value(tmp_path: Path, tag: str, words: str) -> None:
    f = tmp_path / "alertmanager.yml"
    f.write_text(AM_TAGGED.format(tag=tag, value=SECRET))
    with pytest.raises(InputError) as got:
        load_alertmanager_config(f)
    assert got.value.line == 6
    assert str(got.value).startswith(f"{f}:6: YAML syntax error: {words}")
    assert SECRET not in str(got.value)
    assert SECRET.lower() not in str(got.value).lower()


def test_a_bad_tag_in_a_later_document_of_a_rule_file(tmp_path: Path) -> None:
    f = tmp_path / "rules.yml"
    f.write_text(
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nspec:\n  groups: []\n---\n"
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nspec:\n  groups:\n    - name: g\n"
        f"      rules:\n        - alert: A\n          expr: up\n          labels:\n            k: !!float {SECRET}\n"
    )
    with pytest.raises(InputError) as got:
        load_documents(f)
    assert got.value.line == 15
    assert SECRET.lower() not in str(got.value).lower()


def test_yaml_rs_words_are_cut_to_what_cannot_be_a_value() -> None:
    e = ValueError(f"Invalid value '{SECRET}' for '!!int' tag\n  |\n6 | key: {SECRET}\n")
    assert yamlfile._safe_reason(e) == "Invalid value '...' for '!!int' tag"
    # a value holding a quote: nothing of it is left between two elided parts
    e = ValueError(f"Invalid value 'it's {SECRET}' for '!!int' tag")
    assert yamlfile._safe_reason(e) == "Invalid value '...' for '!!int' tag"


def test_check_config_exits_2_without_the_value(tmp_path: Path) -> None:
    org = _org(tmp_path)
    am = org / "alertmanager.yml"
    am.write_text(
        am.read_text().replace("routing_key: 0123456789abcdef0123456789abcdef", f"routing_key: !!int {SECRET}")
    )
    proc = _cli("check-config", "--config", str(org / "ownership.yaml"), cwd=org)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert f"{am}:14: YAML syntax error: cannot decode !!str as a !!int" in proc.stderr, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr


@pytest.mark.parametrize("tag", ["!!int", "!!null", "!!timestamp"])
def test_collect_marks_the_source_failed_keeps_its_facts_and_stores_no_value(tmp_path: Path, tag: str) -> None:
    org = _org(tmp_path)
    first = _cli("collect", "--config", str(org / "ownership.yaml"), cwd=org)
    assert first.returncode == 0, first.stdout + first.stderr
    am = org / "alertmanager.yml"
    am.write_text(
        am.read_text().replace("routing_key: 0123456789abcdef0123456789abcdef", f"routing_key: {tag} {SECRET}")
    )
    proc = _cli("collect", "--config", str(org / "ownership.yaml"), cwd=org)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert SECRET not in out and SECRET.lower() not in out.lower()
    assert "kept_previous=true" in out, out
    assert f"{am}:14: YAML syntax error" in out
    for db in (org / ".ownership").glob("*.db*"):
        assert SECRET.encode() not in db.read_bytes()
        assert SECRET.lower().encode() not in db.read_bytes()
    with sqlite3.connect(org / ".ownership" / "test.db") as conn:
        assert conn.execute("select count(*) from sqlite_master").fetchone()[0] > 0


# --------------------------------------------------------------------------- 2. the text of Go strings

RULES = """\
groups:
  - name: 01
    rules:
      - alert: 0x1F
        expr: vector(1)
        labels:
          priority: 01
          hex: 0x1F
          dec: 1.50
          exp: 1e3
          inf: .inf
          nan: .NaN
          yes_: True
          upper: TRUE
          date: 2001-12-14
          under: 1_000
          octal: 0o17
          quoted: "01"
          tagged: !!int 7
          empty: ~
          blank:
        annotations:
          n: 2.0
      - alert: Plain
        expr: 1.50
"""
# what promtool's unit test expects of the first alert (the null and empty label are no label: Prometheus drops
# a label whose value is empty)
EXPECTED = {
    "priority": "01",
    "hex": "0x1F",
    "dec": "1.50",
    "exp": "1e3",
    "inf": ".inf",
    "nan": ".NaN",
    "yes_": "True",
    "upper": "TRUE",
    "date": "2001-12-14",
    "under": "1_000",
    "octal": "0o17",
    "quoted": "01",
    "tagged": "7",
}


def test_rule_labels_names_and_expr_keep_their_text(tmp_path: Path) -> None:
    f = tmp_path / "rules.yml"
    f.write_text(RULES)
    rules = _parse_rule_file(f, RULES, [])
    a, b = rules
    assert a.name == "0x1F" and a.group == "01"
    assert a.labels == {**EXPECTED, "empty": "", "blank": ""}
    assert a.annotations == {"n": "2.0"}
    assert a.location.line == 4
    assert b.expr == "1.50"


def test_promtool_sees_the_same_labels(tmp_path: Path) -> None:
    _tool(PROMTOOL_BIN)
    (tmp_path / "rules.yml").write_text(RULES)
    labels = ", ".join(f'{k}: "{v}"' for k, v in EXPECTED.items())
    (tmp_path / "test.yml").write_text(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series: []\n"
        "    alert_rule_test:\n      - eval_time: 1m\n        alertname: 0x1F\n"
        f"        exp_alerts:\n          - exp_labels: {{{labels}}}\n            exp_annotations: {{n: '2.0'}}\n"
    )
    proc = subprocess.run([PROMTOOL_BIN, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_file_of_strings_is_not_parsed_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path: only a non-string where Go reads a string costs the second parse."""

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(yamlfile.yaml, "load", boom)
    text = RULES.replace("01", '"01"').split("        labels:")[0] + "        labels: {a: b, c: ~}\n"
    text = text.replace("0x1F", "A")
    f = tmp_path / "r.yml"
    f.write_text(text)
    (rule,) = _parse_rule_file(f, text, [])
    assert rule.labels == {"a": "b", "c": ""} and rule.group == "01"


def test_alertmanager_match_values_and_keys_keep_their_text(tmp_path: Path) -> None:
    f = tmp_path / "alertmanager.yml"
    f.write_text(
        "route:\n  receiver: default\n  routes:\n    - match: {priority: 01, flag: True, none: ~}\n"
        "      match_re: {level: 1.50}\n      receiver: pd\n"
        "receivers:\n  - name: default\n  - name: pd\n    pagerduty_configs:\n"
        "      - routing_key: 01234567890123456789012345678901\n        severity: 1e3\n"
    )
    facts = load_alertmanager_config(f)
    got = {(m.name, m.op, m.value) for m in facts.route.routes[0].matchers}
    assert got == {("priority", "=", "01"), ("flag", "=", "True"), ("none", "=", ""), ("level", "=~", "1.50")}
    pd = facts.receivers[1].pagerduty[0]
    assert pd.key_fingerprint == fingerprint("01234567890123456789012345678901")
    assert pd.severity == "1e3"


NAMES = """\
route:
  receiver: "01"
  routes:
    - receiver: True
      mute_time_intervals: ["0x10"]
receivers:
  - name: 01
  - name: "True"
time_intervals:
  - name: 0x10
    time_intervals: [{weekdays: [monday]}]
"""


def test_receiver_and_time_interval_names_keep_their_text(tmp_path: Path) -> None:
    """`name: 01` is the receiver "01" a quoted `receiver: "01"` names (amtool accepts the file); `True` is "True"."""
    f = tmp_path / "alertmanager.yml"
    f.write_text(NAMES)
    if Path(AMTOOL_BIN).exists():
        ok, out = amtool_check_config(f)
        assert ok, out
    facts = load_alertmanager_config(f)
    assert [r.name for r in facts.receivers] == ["01", "True"]
    assert facts.route.receiver == "01" and facts.route.routes[0].receiver == "True"
    assert facts.route.routes[0].mute_time_intervals == ["0x10"]
    assert [t.name for t in facts.time_intervals] == ["0x10"]


def test_external_labels_keep_their_text(tmp_path: Path) -> None:
    f = tmp_path / "prometheus.yml"
    f.write_text("global:\n  external_labels:\n    dc: 01\n    env: prod\n")
    assert load_prometheus_config(f).external_labels == {"dc": "01", "env": "prod"}


def test_text_of_reads_the_document_the_value_came_from(tmp_path: Path) -> None:
    """A second document's value is read off that document's text, `<<` kept as a key (yaml-rs does not merge)."""
    f = tmp_path / "x.yml"
    f.write_text("a: 1\n---\nb: &x {p: 01}\nc:\n  <<: *x\n  q: 1.0\n")
    doc = load_documents(f)[1]
    assert doc.text_of(doc.data["c"], "c") == {"<<": {"p": "01"}, "q": "1.0"}
    one = load_one(tmp_path / "y.yml", "k: [1, '2', ~]\n")
    assert one.text_of(one.data["k"], "k") == ["1", "2", None]


def test_route_matches_as_amtool_has_it(tmp_path: Path) -> None:
    """End to end: a rule label `priority: 01` pages through the route `priority="01"`, as amtool routes it."""
    _tool(AMTOOL_BIN)
    org = _org(tmp_path)
    rules = org / "rules" / "checkout.yml"
    text = rules.read_text()
    rules.write_text(
        text.replace("          severity: critical\n", "          severity: warning\n          priority: 01\n")
    )
    am = org / "alertmanager.yml"
    am.write_text(
        am.read_text().replace(
            "  routes:\n", "  routes:\n    - matchers: ['priority=\"01\"']\n      receiver: payments-pager\n", 1
        )
    )
    proc = _cli("collect", "--config", str(org / "ownership.yaml"), cwd=org)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pages = _cli("pages", "--config", str(org / "ownership.yaml"), "--service", "checkout", cwd=org)
    assert pages.returncode == 0, pages.stdout + pages.stderr
    rows = [ln for ln in pages.stdout.splitlines() if "CheckoutDown" in ln]
    assert rows and "payments-pager" in rows[0], pages.stdout
    labels = {"alertname": "CheckoutDown", "service": "checkout", "severity": "warning", "priority": "01"}
    assert amtool_routes_test(am, labels) == ["payments-pager"]


# --------------------------------------------------------------------------- helpers


def _org(tmp_path: Path) -> Path:
    dest = tmp_path / "org"
    shutil.copytree(SMALL_ORG, dest, ignore=shutil.ignore_patterns(".ownership"))
    return dest


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # this checkout's code, whatever the virtualenv was installed from
    path = os.pathsep.join(x for x in (str(REPO), os.environ.get("PYTHONPATH")) if x)
    env = {**os.environ, "OWNERSHIP_CACHE_DIR": str(cwd / ".cache"), "COLUMNS": "250", "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], capture_output=True, text=True, cwd=cwd, timeout=120, env=env
    )
