"""Errors that had no line (or the wrong one) through `ownership check-config`: exit 2, `FILE:LINE: message`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

SMALL_ORG = Path(__file__).parent.parent / "testdata" / "org-small"


def check(org: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "check-config", "--config", str(org / "ownership.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        env={"OWNERSHIP_CACHE_DIR": "", "PATH": "/usr/bin:/bin"},
    )


def assert_bad(proc: subprocess.CompletedProcess[str], where: str, fragment: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert f"{where}: " in proc.stderr, f"expected {where!r} in:\n{proc.stderr}"
    assert re.search(fragment, proc.stderr), proc.stderr


def test_latin1_rule_file_names_the_line_and_column(org: Path) -> None:
    f = org / "rules" / "checkout.yml"
    text = f.read_text()
    lines = text.split("\n")
    n = next(i for i, ln in enumerate(lines) if "severity:" in ln)
    col = lines[n].index("severity:") + 1
    lines[n] = lines[n].replace("severity:", "sev\u00e9rity:")
    f.write_bytes("\n".join(lines).encode("latin-1"))
    assert_bad(check(org), f"{f}:{n + 1}", rf"not UTF-8 text: invalid continuation byte at column {col + 3}")


def test_utf16_json_is_named_with_line_one(org: Path) -> None:
    f = org / "pagerduty" / "services.json"
    f.write_bytes(f.read_text().encode("utf-16"))
    assert_bad(check(org), f"{f}:1", "not UTF-8 text: UTF-16")


def test_pagerduty_value_of_the_wrong_kind_names_its_line(org: Path) -> None:
    f = org / "pagerduty" / "oncalls.json"
    body = json.loads(f.read_text())
    body["oncalls"][1]["escalation_level"] = "one"
    text = json.dumps(body, indent=2)
    f.write_text(text)
    line = text[: text.index('"one"')].count("\n") + 1
    assert_bad(check(org), f"{f}:{line}", r"oncalls\[1\]: escalation_level: invalid literal for int\(\)")


def test_pagerduty_bad_instant_names_its_line(org: Path) -> None:
    f = org / "pagerduty" / "oncalls.json"
    body = json.loads(f.read_text())
    body["oncalls"][0]["end"] = "tomorrow"
    text = json.dumps(body, indent=1)
    f.write_text(text)
    line = text[: text.index('"tomorrow"')].count("\n") + 1
    assert_bad(check(org), f"{f}:{line}", r"oncalls\[0\]: end: ")


def test_duplicate_source_name_at_the_second(org: Path) -> None:
    f = org / "ownership.yaml"
    text = f.read_text().replace("  - name: am\n", "  - name: prom\n")
    f.write_text(text)
    line = text.split("\n").index("  - name: prom", text.split("\n").index("  - name: prom") + 1) + 1
    assert_bad(check(org), f"ownership.yaml:{line}", "source name 'prom' used twice")


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("rules/nonexistent.yml", "does not point to an existing file"),
        ("rules/n?.yml", "does not point to an existing file"),
        ("rules/[.yml", "syntax error in pattern"),
        ("rules/*[.yml", "syntax error in pattern"),
    ],
)
def test_rule_file_promtool_refuses_names_its_line_in_prometheus_yml(org: Path, entry: str, fragment: str) -> None:
    f = org / "prometheus.yml"
    text = f.read_text() + f"  - '{entry}'\n"
    f.write_text(text)
    assert_bad(check(org), f"{f}:{text.count(chr(10))}", fragment)
    proc = subprocess.run(["promtool", "check", "config", str(f)], capture_output=True, text=True)
    if proc.returncode != 127:
        assert proc.returncode == 1 and fragment in proc.stderr + proc.stdout
