"""prometheus.yml: what `promtool check config` refuses is refused, at its line; what it accepts is accepted."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest
from conftest import require_binary
from servers import PROMTOOL_BIN

from agent.errors import InputError
from collectors.prometheus_config import load_prometheus_config


def promtool_ok(path: Path) -> tuple[bool, str]:
    require_binary(PROMTOOL_BIN, "promtool")
    proc = subprocess.run(
        [PROMTOOL_BIN, "check", "config", "--syntax-only", str(path)], capture_output=True, text=True, timeout=60
    )
    return proc.returncode == 0, proc.stdout + proc.stderr


def ours(path: Path) -> str | None:
    try:
        load_prometheus_config(path)
    except InputError as e:
        return str(e)
    return None


REFUSED = [
    ("global:\n  evaluation_intervl: 30s\n", 2, "field evaluation_intervl not found in type config.plain"),
    ("global:\n  sample_limit: 10\n", 2, "field sample_limit not found in type config.plain"),
    ("scrape_configs:\n  - job_name: x\n    bogus: 1\n", 3, "field bogus not found in type config.ScrapeConfig"),
    ("scrape_configs:\n  - job_name: x\n    honor_labels: maybe\n", 3, "honor_labels: expected a boolean"),
    (
        "alerting:\n  alert_relabel_configs:\n    - source_labels: [a]\n      action: replace\n",
        3,
        "relabel configuration for replace action requires 'target_label' value",
    ),
    ("global:\n  evaluation_interval: ' 30s'\n", 2, "evaluation_interval: not a valid duration string"),
    ("global:\n  scrape_interval: 1.5s\n", 2, "scrape_interval: not a valid duration string"),
    (
        "alerting:\n  alert_relabel_configs:\n    - action: labeldrop\n      regex: '(?=pod)'\n",
        4,
        "error parsing regexp: invalid or unsupported Perl syntax: `(?=`",
    ),
    (
        "scrape_configs:\n  - job_name: x\n    metric_relabel_configs:\n      - action: keep\n        regex: 'a{1001}'\n",
        5,
        "invalid repeat count",
    ),
    (
        "alerting:\n  alertmanagers:\n    - relabel_configs:\n        - action: hashmod\n          target_label: t\n",
        4,
        "relabel configuration for hashmod requires non-zero modulus",
    ),
    (
        "scrape_configs:\n  - job_name: x\n    relabel_configs:\n      - action: labeldrop\n        source_labels: [a]\n",
        4,
        "labeldrop action requires only 'regex', and no other fields",
    ),
    ("scrape_configs:\n  - job_name: x\n    scrape_timeout: 1x\n", 3, "scrape_timeout: not a valid duration string"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), REFUSED)
def test_refused_as_promtool_refuses(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    f = tmp_path / "prometheus.yml"
    f.write_text(text, encoding="utf-8")
    ok, out = promtool_ok(f)
    assert not ok, out
    got = ours(f)
    assert got is not None and got.startswith(f"{f}:{line}: "), got
    assert fragment in got


ACCEPTED = [
    "\ufeffglobal:\n  evaluation_interval: 30s\nrule_files: []\n",  # a UTF-8 byte order mark
    "global:\n  scrape_interval: 15s\n  scrape_timeout: 10s\n  query_log_file: q.log\n",
    "scrape_configs:\n  - job_name: x\n    honor_labels: yes\n    sample_limit: 10\n    static_configs:\n"
    "      - targets: [a:1]\n    file_sd_configs: [{files: [x.json]}]\n    tls_config: {insecure_skip_verify: true}\n"
    "    relabel_configs:\n      - {action: lowercase, source_labels: [a], target_label: $1}\n"
    "      - {action: labelmap, regex: 'x_(.+)'}\n      - {action: keep, regex: '\\Qa.b\\E'}\n",
    "alerting:\n  alert_relabel_configs:\n    - {action: replace, source_labels: [a], target_label: '${1}_x'}\n",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepted_as_promtool_accepts(tmp_path: Path, text: str) -> None:
    f = tmp_path / "prometheus.yml"
    f.write_text(text, encoding="utf-8")
    ok, out = promtool_ok(f)
    assert ok, out
    assert ours(f) is None


def test_service_discovery_debian_leaves_out_is_accepted(tmp_path: Path) -> None:
    """Debian's promtool is built without consul, kubernetes, kuma, linode and nomad discovery; upstream's 2.42
    has them, and they are everyday configuration: accepted (the one place this reader is laxer)."""
    f = tmp_path / "prometheus.yml"
    f.write_text("scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs: [{role: pod}]\n", encoding="utf-8")
    assert ours(f) is None


def test_generated_relabel_configs_as_promtool(tmp_path: Path) -> None:
    fields = {
        "action": [
            "replace", "keep", "hashmod", "labelmap", "labeldrop", "lowercase", "keepequal", "Replace", "bogus", "",
        ],
        "source_labels": [["a"], ["a", "b"], ["1a"]],
        "target_label": ["t", "", "1t", "${1}x", "$x_y", "a-b"],
        "regex": ["(.*)", "pod", "(?=pod)", "a{1001}", "[", "\\Qa\\E", "\\pL", "\\Z"],
        "replacement": ["$1", "x", "1bad", ""],
        "separator": [";", ","],
        "modulus": [0, 8],
    }  # fmt: skip
    rng = random.Random(3)
    wrong = []
    for n in range(60):
        rc = {k: rng.choice(v) for k, v in fields.items() if rng.random() < 0.45}
        f = tmp_path / f"p{n}.yml"
        f.write_text("alerting:\n  alert_relabel_configs:\n    - " + json.dumps(rc) + "\n", encoding="utf-8")
        ok, out = promtool_ok(f)
        got = ours(f)
        if ok != (got is None):
            wrong.append(f"{rc}: ours {got}, promtool {out.strip().splitlines()[-1]}")
    assert not wrong, "\n".join(wrong)
