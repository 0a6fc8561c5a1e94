"""Wrong YAML kinds in alertmanager.yml / prometheus.yml through the CLI and the pipeline: `check-config` exits 2
naming FILE:LINE, `collect` marks the source failed with that error and keeps its previous facts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import edit_once, run_cli

from agent.config import load_config
from agent.pipeline import collect

SMALL_ORG = Path(__file__).parent.parent / "testdata" / "org-small"


@pytest.mark.parametrize(
    ("file", "old", "new", "line", "message"),
    [
        (
            "alertmanager.yml",
            "      receiver: payments-pager\n",
            "      receiver: payments-pager\n      match: [a, b]\n",
            7,
            "route.routes.0.match: expected a mapping of strings, found a list",
        ),
        (
            "alertmanager.yml",
            "  group_by: [alertname]\n",
            "  group_by: alertname\n",
            3,
            "route.group_by: expected a list of strings, found a string",
        ),
        (
            "prometheus.yml",
            "  external_labels:\n    cluster: eu-1\n",
            "  external_labels: [a]\n",
            3,
            "global.external_labels: expected a mapping of strings, found a list",
        ),
        (
            "prometheus.yml",
            '    - static_configs:\n        - targets: ["127.0.0.1:9093"]\n',
            '    - "127.0.0.1:9093"\n',
            10,
            "alerting.alertmanagers.0: expected a mapping, found a string",
        ),
    ],
)
def test_check_config_names_file_and_line(org: Path, file: str, old: str, new: str, line: int, message: str) -> None:
    f = org / file
    edit_once(f, old, new)
    proc = run_cli("check-config", "--config", str(org / "ownership.yaml"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert f"{f}:{line}: {message}" in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("name", "file", "old", "new", "line"),
    [
        ("am", "alertmanager.yml", "  group_by: [alertname]\n", "  group_by: alertname\n", 3),
        ("am", "alertmanager.yml", "receivers:\n  - name: default\n", "receivers:\n  - name: [x]\n", 11),
        ("prom", "prometheus.yml", "  external_labels:\n    cluster: eu-1\n", "  external_labels: [a]\n", 3),
    ],
)
def test_collect_keeps_previous_facts(org: Path, name: str, file: str, old: str, new: str, line: int) -> None:
    loaded = load_config(org / "ownership.yaml")
    now = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
    good = collect(loaded, now, None, progress=False)
    before = next(s for s in good.sources if s.status.name == name)
    assert before.status.ok and before.facts is not None
    f = org / file
    edit_once(f, old, new)
    bad = collect(load_config(org / "ownership.yaml"), now, good, progress=False)
    after = next(s for s in bad.sources if s.status.name == name)
    assert not after.status.ok and after.status.stale
    assert after.status.error is not None and after.status.error.startswith(f"{f}:{line}: "), after.status.error
    assert ": expected " in after.status.error  # not AttributeError / TypeError, nor a string read char by char
    assert after.facts == before.facts
