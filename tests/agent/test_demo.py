"""`ownership demo` on the bundled organisation: from the source tree and from an installed wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parent.parent.parent
ORG = ROOT / "agent" / "demo" / "org"


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["XDG_STATE_HOME"] = str(tmp_path / "state")
    return e


def demo_json(cwd: Path, env: dict[str, str], extra: list[str] | None = None) -> dict:
    proc = run(["-m", "agent", "demo", "--format", "json", *(extra or [])], cwd, env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # file sources are observed when collected (wall clock): compare findings without that time
    for f in out.get("findings", []):
        for e in f["evidence"]:
            e.pop("observed_at", None)
    return out


def test_demo_summary(tmp_path: Path, env: dict[str, str]) -> None:
    s = demo_json(tmp_path, env)
    assert s["now"] == "2026-11-16T09:30:00Z"
    assert s["services"] >= 12 and s["teams"] == 4 and s["people"] >= 25
    assert s["alert_rules"] >= 60
    assert s["routes"] >= 15
    assert s["schedules"] >= 3 and s["incidents"] > 100 and s["slos"] >= 2
    states = {x["name"]: x["state"] for x in s["sources"]}
    assert states["analytics-db"] == "stale"  # planted OWN000
    assert all(v == "ok" for k, v in states.items() if k != "analytics-db"), states
    assert s["on_call_now"], "somebody is on call at the demo's instant"
    # the SQLite file went where XDG_STATE_HOME says, not into the package
    assert (Path(env["XDG_STATE_HOME"]) / "ownership-agent" / "demo.db").exists()


def test_demo_keeps_history(tmp_path: Path, env: dict[str, str]) -> None:
    first = demo_json(tmp_path, env)
    second = demo_json(tmp_path, env)
    assert second["snapshot_id"] == first["snapshot_id"] + 1
    assert {k: v for k, v in first.items() if k not in ("snapshot_id", "sources")} == {
        k: v for k, v in second.items() if k not in ("snapshot_id", "sources")
    }


def test_demo_config_passes_check_config(tmp_path: Path, env: dict[str, str]) -> None:
    proc = run(["-m", "agent", "check-config", "--demo"], tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok  ") == len(yaml.safe_load((ORG / "ownership.yaml").read_text())["sources"])


def test_demo_export_is_a_working_config(tmp_path: Path, env: dict[str, str]) -> None:
    dest = tmp_path / "exported"
    proc = run(["-m", "agent", "demo", "--export", str(dest)], tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    assert (dest / "ownership.yaml").exists() and (dest / "expected-findings.yaml").exists()
    proc = run(["-m", "agent", "check-config", "--config", str(dest / "ownership.yaml")], tmp_path, env)
    assert proc.returncode == 0, proc.stderr


def test_expected_findings_cover_every_check() -> None:
    doc = yaml.safe_load((ORG / "expected-findings.yaml").read_text())
    assert doc["apiVersion"] == "ownership-agent/v1" and doc["kind"] == "ExpectedFindings"
    checks = {f["check"] for f in doc["findings"]}
    assert checks == {f"OWN{n:03d}" for n in range(14)}
    for f in doc["findings"]:
        assert f.get("why"), f


def test_demo_from_installed_wheel_outside_the_source_tree(tmp_path: Path, env: dict[str, str]) -> None:
    wheels = tmp_path / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    wheel = next(wheels.glob("ownership_agent-*.whl"))
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env_wheel = dict(env, PYTHONPATH=str(site))
    where = run(["-c", "import agent, collectors; print(agent.__file__)"], outside, env_wheel)
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr
    from_wheel = demo_json(outside, env_wheel)
    from_tree = demo_json(tmp_path, dict(env, XDG_STATE_HOME=str(tmp_path / "state2")))
    strip = ("sources", "snapshot_id", "findings")
    assert {k: v for k, v in from_wheel.items() if k not in strip} == {
        k: v for k, v in from_tree.items() if k not in strip
    }

    def keys(out: dict) -> list[tuple]:  # evidence names files, which live elsewhere in the wheel
        return [(f["check"], f["service"], f["subject"], f["severity"]) for f in out["findings"]]

    assert keys(from_wheel) == keys(from_tree) and len(keys(from_tree)) == 14
    assert [(s["name"], s["state"]) for s in from_wheel["sources"]] == [
        (s["name"], s["state"]) for s in from_tree["sources"]
    ]
    # the table form prints the same summary
    table = run(["-m", "agent", "demo"], outside, env_wheel)
    assert table.returncode == 0 and "On call now" in table.stdout and "Sources" in table.stdout
