"""`ownership findings`: JSON, SARIF 2.1.0, --fail-on exit codes, config overrides, snoozes, unknown ids."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CASE = Path(__file__).parent.parent / "rules" / "checks" / "testdata" / "OWN001" / "bad"


@pytest.fixture
def org(tmp_path: Path) -> Path:
    dest = tmp_path / "org"
    shutil.copytree(CASE, dest, ignore=shutil.ignore_patterns(".ownership", "expected.json"))
    return dest


def run(org: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    return subprocess.run(
        [sys.executable, "-m", "agent", "findings", "--config", str(org / "ownership.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=org,
        env=env,
    )


def test_json_has_the_documented_fields(org: Path) -> None:
    p = run(org, "--format", "json", "--check", "OWN001")
    assert p.returncode == 0, p.stderr
    items = json.loads(p.stdout)
    assert {(f["check"], f["subject"]) for f in items} == {("OWN001", "ledger"), ("OWN001", "search")}
    for f in items:
        assert {"check", "severity", "service", "team", "summary", "evidence", "fix"} <= set(f)
        assert isinstance(f["fix"], dict) and "rules_yaml" in f["fix"]


def test_sarif_locations(org: Path) -> None:
    p = run(org, "--format", "sarif", "--service", "ledger")
    assert p.returncode == 0, p.stderr
    sarif = json.loads(p.stdout)
    assert sarif["version"] == "2.1.0"
    run0 = sarif["runs"][0]
    ids = [r["id"] for r in run0["tool"]["driver"]["rules"]]
    assert "OWN001" in ids
    [res] = [r for r in run0["results"] if r["ruleId"] == "OWN001"]
    assert res["level"] == "error"
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "catalog.yaml", "uriBaseId": "%SRCROOT%"}
    assert run0["originalUriBaseIds"]["%SRCROOT%"]["uri"] == org.resolve().as_uri() + "/"
    assert loc["region"]["startLine"] == 26
    assert run0["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == "OWN001"


def test_fail_on(org: Path) -> None:
    assert run(org, "--fail-on", "critical").returncode == 1
    assert run(org, "--fail-on", "info", "--service", "checkout", "--check", "OWN001").returncode == 0
    bad = run(org, "--fail-on", "fatal")
    assert bad.returncode == 2 and "--fail-on" in bad.stderr


def test_override_and_snooze_from_config(org: Path) -> None:
    cfg = org / "ownership.yaml"
    base = cfg.read_text()
    cfg.write_text(base + "checks:\n  overrides:\n    - service: ledger\n      checks: {OWN001: {severity: info}}\n")
    items = json.loads(run(org, "--format", "json", "--check", "OWN001").stdout)
    assert {f["subject"]: f["severity"] for f in items} == {"ledger": "info", "search": "critical"}
    cfg.write_text(
        base + "checks:\n  snoozes:\n    - {check: OWN001, subject: search, until: 2026-12-01, reason: new team}\n"
    )
    items = json.loads(run(org, "--format", "json", "--check", "OWN001").stdout)
    assert [f["subject"] for f in items] == ["ledger"]
    # an expired snooze hides nothing (the case's instant is 2026-11-16)
    cfg.write_text(
        base + "checks:\n  snoozes:\n    - {check: OWN001, subject: search, until: 2026-11-01, reason: old}\n"
    )
    items = json.loads(run(org, "--format", "json", "--check", "OWN001").stdout)
    assert sorted(f["subject"] for f in items) == ["ledger", "search"]


def test_unknown_check_id_in_config_is_bad_input(org: Path) -> None:
    cfg = org / "ownership.yaml"
    cfg.write_text(cfg.read_text() + "checks:\n  checks:\n    OWN404: {enabled: false}\n")
    p = run(org)
    assert p.returncode == 2
    assert "unknown check id 'OWN404'" in p.stderr and "ownership.yaml:" in p.stderr
    assert "Traceback" not in p.stderr


def test_a_misspelt_service_or_team_is_bad_input(org: Path) -> None:
    """A typo in a filter would answer "0 findings" and pass a --fail-on gate."""
    for opt, name in (("--service", "chekout"), ("--team", "paymnets")):
        p = run(org, opt, name, "--fail-on", "info")
        assert p.returncode == 2, p.stdout
        assert f'unknown {opt[2:]} "{name}"' in p.stderr
    assert run(org, "--service", "checkout", "--fail-on", "info", "--check", "OWN001").returncode == 0


def test_sarif_gives_every_result_a_location_code_scanning_takes(tmp_path: Path) -> None:
    """Code scanning refuses a result without a location or `region.startLine`, and a location whose URI is
    neither relative nor file://. The demo's findings include some about sources and schedules (no file):
    they point at the config (OWN000 at its source's entry). Its files are outside the working directory."""
    p = subprocess.run(
        [sys.executable, "-m", "agent", "--demo", "findings", "--format", "sarif"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state")),
    )
    assert p.returncode == 0, p.stderr
    results = json.loads(p.stdout)["runs"][0]["results"]
    assert {"OWN000", "OWN005"} & {r["ruleId"] for r in results}, "the demo has findings without a file"
    for r in results:
        [loc] = r["locations"]
        phys = loc["physicalLocation"]
        assert phys["artifactLocation"]["uri"].startswith("file:///"), phys
        assert isinstance(phys["region"]["startLine"], int) and phys["region"]["startLine"] >= 1
    from agent import demo

    config = demo.config_path().resolve().as_uri()
    own000 = [r for r in results if r["ruleId"] == "OWN000"]
    for r in own000:
        phys = r["locations"][0]["physicalLocation"]
        assert phys["artifactLocation"]["uri"] == config
        entry = f"- name: {r['properties']['subject']}"
        lines = demo.config_path().read_text().splitlines()
        assert lines[phys["region"]["startLine"] - 1].strip() == entry
