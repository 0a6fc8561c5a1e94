"""A value of the wrong YAML kind in alertmanager.yml or prometheus.yml (a string where a list is expected, a list
where a mapping is): refused as amtool and promtool refuse it, naming the file, the line and the field, never read
char by char nor raised as AttributeError/TypeError. Each case is checked against the real tool too (skips when it
is absent, fails instead when CI is set)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import require_binary
from servers import AMTOOL_BIN, PROMTOOL_BIN, amtool_check_config

from agent.errors import InputError
from collectors.alertmanager_config import load_alertmanager_config
from collectors.prometheus_config import load_prometheus_config

RECEIVERS = "receivers:\n  - name: default\n"
ROOT = "route:\n  receiver: default\n"

# (id, alertmanager.yml, line of the error, the field and what it says)
AM_BAD = [
    (
        "match-list",
        ROOT + "  routes:\n    - match: [a, b]\n      receiver: default\n" + RECEIVERS,
        4,
        "route.routes.0.match: expected a mapping of strings, found a list",
    ),
    (
        "time-interval-string",
        ROOT + "time_intervals:\n  - foo\n" + RECEIVERS,
        4,
        "time_intervals.0: expected a mapping, found a string",
    ),
    (
        "receiver-name-list",
        ROOT + RECEIVERS + "  - name: [x]\n",
        5,
        "receivers.1.name: expected a string, found a list",
    ),
    (
        "group-by-string",
        ROOT + "  group_by: alertname\n" + RECEIVERS,
        3,
        "route.group_by: expected a list of strings, found a string",
    ),
    (
        "mute-time-intervals-bool",
        ROOT + "  routes:\n    - receiver: default\n      mute_time_intervals: off\n" + RECEIVERS,
        5,
        "route.routes.0.mute_time_intervals: expected a list of strings, found a string",
    ),
    (
        "continue-quoted",
        ROOT + '  routes:\n    - receiver: default\n      continue: "yes"\n' + RECEIVERS,
        5,
        r"route.routes.0.continue: expected a boolean \(true or false\), found a string",
    ),
    (
        "continue-number",
        ROOT + "  routes:\n    - receiver: default\n      continue: 1\n" + RECEIVERS,
        5,
        r"route.routes.0.continue: expected a boolean \(true or false\), found a number",
    ),
    (
        "inhibit-equal-string",
        ROOT + RECEIVERS + "inhibit_rules:\n  - source_matchers: ['a=\"b\"']\n"
        "    target_matchers: ['c=\"d\"']\n    equal: cluster\n",
        8,
        "inhibit_rules.0.equal: expected a list of strings, found a string",
    ),
    (
        "routing-key-mapping",
        ROOT + RECEIVERS + "    pagerduty_configs:\n      - routing_key: {a: b}\n",
        6,
        "receivers.0.pagerduty_configs.0.routing_key: expected a string, found a mapping",
    ),
    (
        "match-re-value-list",
        ROOT + "  routes:\n    - receiver: default\n      match_re:\n        service: [a]\n" + RECEIVERS,
        6,
        "route.routes.0.match_re.service: expected a string, found a list",
    ),
    (
        "routes-mapping",
        ROOT + "  routes:\n    receiver: default\n" + RECEIVERS,
        3,
        "route.routes: expected a list of mappings, found a mapping",
    ),
    ("global-list", "global: [a]\n" + ROOT + RECEIVERS, 1, "global: expected a mapping, found a list"),
    (
        "weekdays-string",
        ROOT + RECEIVERS + "time_intervals:\n  - name: x\n    time_intervals:\n      - weekdays: monday\n",
        8,
        "time_intervals.0.time_intervals.0.weekdays: expected a list of strings",
    ),
    (
        "send-resolved-string",
        ROOT + RECEIVERS + "    pagerduty_configs:\n      - routing_key: k\n        send_resolved: 'no'\n",
        7,
        "send_resolved: expected a boolean",
    ),
]

PROM_BAD = [
    ("global-list", "global: [a]\n", 1, "global: expected a mapping, found a list"),
    (
        "external-labels-list",
        "global:\n  external_labels: [a]\n",
        2,
        "global.external_labels: expected a mapping of strings, found a list",
    ),
    (
        "alertmanager-string",
        'alerting:\n  alertmanagers:\n    - "127.0.0.1:9093"\n',
        3,
        "alerting.alertmanagers.0: expected a mapping, found a string",
    ),
    (
        "targets-string",
        "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: a:9093\n",
        4,
        "alerting.alertmanagers.0.static_configs.0.targets: expected a list of strings, found a string",
    ),
    (
        "relabel-string",
        "alerting:\n  alert_relabel_configs: [drop]\n",
        2,
        "alerting.alert_relabel_configs.0: expected a mapping, found a string",
    ),
    ("rule-files-string", "rule_files: rules/*.yml\n", 1, "rule_files: expected a list of strings, found a string"),
    (
        "modulus-string",
        "alerting:\n  alert_relabel_configs:\n    - action: hashmod\n      source_labels: [a]\n"
        "      target_label: b\n      modulus: 'x'\n",
        6,
        "modulus: expected an integer, found a string",
    ),
    (
        "null-static-config",
        "alerting:\n  alertmanagers:\n    - static_configs:\n        - null\n",
        4,
        "empty or null section in static_configs",
    ),
]


def _tool(binary: str) -> str:
    require_binary(binary, Path(binary).name)
    return binary


def _promtool_ok(path: Path) -> tuple[bool, str]:
    proc = subprocess.run(
        [_tool(PROMTOOL_BIN), "check", "config", "--syntax-only", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode == 0, proc.stdout + proc.stderr


def _assert_refused(load, path: Path, line: int, fragment: str) -> None:
    with pytest.raises(InputError) as got:
        load(path)
    msg = str(got.value)
    assert msg.startswith(f"{path}:{line}: "), msg
    assert re.search(fragment, msg), msg


@pytest.mark.parametrize(("text", "line", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in AM_BAD])
def test_alertmanager_wrong_kind(text: str, line: int, fragment: str, tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    ok, out = amtool_check_config(path, amtool=_tool(AMTOOL_BIN))
    assert not ok, out
    _assert_refused(load_alertmanager_config, path, line, fragment)


@pytest.mark.parametrize(("text", "line", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in PROM_BAD])
def test_prometheus_wrong_kind(text: str, line: int, fragment: str, tmp_path: Path) -> None:
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    ok, out = _promtool_ok(path)
    assert not ok, out
    _assert_refused(load_prometheus_config, path, line, fragment)


@pytest.mark.parametrize(
    ("word", "value"), [("yes", True), ("on", True), ("true", True), ("no", False), ("off", False), ("false", False)]
)
def test_plain_yaml11_booleans_are_booleans(word: str, value: bool, tmp_path: Path) -> None:
    """`continue: no` is false for Alertmanager (YAML 1.1), whatever string yaml-rs reads it as (bool("no") was True)."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(
        ROOT + f"  routes:\n    - receiver: default\n      continue: {word}\n"
        f"    - receiver: default\n" + RECEIVERS + f"    pagerduty_configs:\n      - routing_key: k\n"
        f"        send_resolved: {word}\n"
    )
    ok, out = amtool_check_config(path, amtool=_tool(AMTOOL_BIN))
    assert ok, out
    facts = load_alertmanager_config(path)
    assert facts.route.routes[0].continue_ is value
    assert facts.receivers[0].pagerduty[0].send_resolved is value


def test_no_value_is_quoted(tmp_path: Path) -> None:
    """A wrong-kind error names the kind, never the value: it may be a secret, and errors are logged and stored."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(ROOT + RECEIVERS + "    pagerduty_configs: s3cr3t-routing-key\n")
    with pytest.raises(InputError) as got:
        load_alertmanager_config(path)
    assert "s3cr3t" not in str(got.value)
    assert str(got.value).startswith(f"{path}:5: receivers.0.pagerduty_configs: expected a list of mappings")
