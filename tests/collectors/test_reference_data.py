"""Our file loaders against real, public configuration (../shared/reference-data, see its README).

* Every Prometheus rule file and PrometheusRule resource: our rule count equals what
  `promtool check rules` reports, every rule has the line of its `alert:`/`record:` key, and the
  two files promtool rejects are rejected by us too, naming the file, the line and the problem.
* Every Sloth / OpenSLO spec loads (except the MetricsQL one) with the right number of SLOs.
* The Alertmanager examples load; newer fields are reported; `amtool` accepts the known-good one.

Skips cleanly when ../shared is absent (a fresh clone outside this workplace).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from servers import AMTOOL_BIN, PROMTOOL_BIN, amtool_check_config

from agent.errors import InputError
from collectors.alertmanager_config import load_alertmanager_config
from collectors.prometheus_rules import is_prometheus_rule_resource, load_rule_file
from collectors.slo_specs import load_slo_file

# tests/collectors/this.py -> the repository's parent holds `shared/` (same place as conftest's shared_dir)
REF = Path(__file__).resolve().parents[3] / "shared" / "reference-data"

# What Debian's promtool 2.42 rejects (README "Versions"), and the words our message must carry.
PROMTOOL_REJECTS = {
    "sloth/_gen/victoria-metrics.yml": "histogram_share",  # MetricsQL, not PromQL
    "sloth/_gen/contrib-slo-plugins.yml": "invalid label name",  # label `plug-l1`
}
# Sloth specs we must refuse: the queries are MetricsQL.
SLO_REJECTS = {"sloth/victoria-metrics.yml": "histogram_share"}

_FILE_LINE = r":(\d+): "
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _listing(*patterns: str) -> list[str]:
    """Reference files (relative to REF) matching the globs; [] when the folder is absent."""
    if not REF.is_dir():
        return []
    out: list[str] = []
    for pattern in patterns:
        out.extend(str(f.relative_to(REF)) for f in sorted(REF.glob(pattern)) if f.is_file())
    return out


RULE_FILES = _listing("awesome-prometheus-alerts/**/*.yml", "kube-prometheus/*.yaml", "sloth/_gen/*")
SLO_FILES = _listing("sloth/*.yml", "sloth/*.yaml")


@pytest.fixture(scope="module")
def ref(shared_dir: Path) -> Path:
    path = shared_dir / "reference-data"
    if not path.is_dir():
        pytest.skip(f"{path} not present")
    return path


def _require(binary: str, what: str) -> None:
    if os.access(binary, os.X_OK):
        return
    reason = f"{what} not installed ({binary}); apt-get install it to run this test"
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    pytest.skip(reason)


def _promtool(paths: list[Path]) -> dict[str, tuple[bool, int | None, str]]:
    """`promtool check rules --lint=none PATHS` in one call -> {path: (ok, rules found, output)}.

    One call for every file (promtool checks each and reports each under `Checking PATH`): about
    0.3s instead of 140 process starts.  `--lint=none`: with its default duplicate-rules lint,
    promtool 2.42 prints a lint report *instead of* "SUCCESS: N rules found" (kubernetesControlPlane
    records one rule twice) while still exiting 0, which would leave nothing to count.
    """
    proc = subprocess.run(
        [PROMTOOL_BIN, "check", "rules", "--lint=none", *map(str, paths)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one pipe keeps each file's errors inside its block
        text=True,
        timeout=120,
    )
    blocks: dict[str, list[str]] = {}
    current: list[str] = []
    for line in proc.stdout.splitlines():
        if line.startswith("Checking "):
            current = blocks.setdefault(line.removeprefix("Checking ").strip(), [])
        current.append(line)
    out = {}
    for path in map(str, paths):
        output = "\n".join(blocks.get(path, ["<no output from promtool>"]))
        found = re.search(r"SUCCESS:\s*(\d+)\s+rules?\s+found", output)
        ok = found is not None and "FAILED" not in output
        out[path] = (ok, int(found.group(1)) if found else None, output)
    return out


def _promtool_inputs(path: Path, tmp_path: Path) -> list[Path]:
    """Plain rule files promtool can read: the file itself, or each PrometheusRule's `spec`."""
    text = path.read_text(encoding="utf-8")
    if not re.search(r"^kind:\s*PrometheusRule\s*$", text, re.M):  # cheap: PyYAML is slow on 140 files
        return [path]
    docs = [d for d in yaml.load_all(text, Loader=_YAML_LOADER) if d is not None]
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = []
    for i, doc in enumerate(docs):
        assert is_prometheus_rule_resource(doc), f"{path}: document {i + 1} is not a PrometheusRule"
        plain = tmp_path / f"{path.stem}-{i}.yml"
        plain.write_text(yaml.safe_dump(doc["spec"], sort_keys=False), encoding="utf-8")
        out.append(plain)
    return out


# --------------------------------------------------------------------------- rule files


@pytest.fixture(scope="module")
def promtool_results(ref: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bool, int | None, str]]:
    """{rel: (ok, rules found, output)} for every RULE_FILES entry, from one promtool call."""
    _require(PROMTOOL_BIN, "promtool (prometheus)")
    tmp = tmp_path_factory.mktemp("promtool")
    inputs = {rel: _promtool_inputs(ref / rel, tmp / str(i)) for i, rel in enumerate(RULE_FILES)}
    results = _promtool([p for paths in inputs.values() for p in paths])
    out = {}
    for rel, paths in inputs.items():
        parts = [results[str(p)] for p in paths]
        counts = [n for _, n, _ in parts]
        total = None if None in counts else sum(counts)  # type: ignore[arg-type]
        out[rel] = (all(ok for ok, _, _ in parts), total, "\n".join(o for _, _, o in parts))
    return out


@pytest.mark.parametrize("rel", RULE_FILES)
def test_rule_count_matches_promtool(ref: Path, rel: str, promtool_results: dict) -> None:
    path = ref / rel
    ok, count, output = promtool_results[rel]
    if rel in PROMTOOL_REJECTS:
        assert not ok, f"promtool now accepts {rel} (README says it rejects it):\n{output}"
        assert PROMTOOL_REJECTS[rel] in output
        with pytest.raises(InputError) as exc:
            load_rule_file(path)
        msg = str(exc.value)
        m = re.match(re.escape(str(path)) + _FILE_LINE, msg)
        assert m, f"error does not start with `{path}:LINE: `: {msg}"
        assert 1 <= int(m.group(1)) <= len(path.read_text(encoding="utf-8").splitlines())
        assert PROMTOOL_REJECTS[rel] in msg, msg
        return
    assert ok, f"promtool rejects {rel}:\n{output}"
    assert count is not None, output
    rules = load_rule_file(path)
    assert len(rules) == count, f"{rel}: we load {len(rules)} rules, promtool finds {count}"


@pytest.mark.parametrize("rel", [r for r in RULE_FILES if r not in PROMTOOL_REJECTS])
def test_rule_lines_point_at_alert_or_record(ref: Path, rel: str) -> None:
    path = ref / rel
    lines = path.read_text(encoding="utf-8").splitlines()
    rules = load_rule_file(path)
    for rule in rules:
        assert rule.location.file == str(path)
        line = rule.location.line
        assert isinstance(line, int) and 1 <= line <= len(lines), f"{rel}: {rule.name}: line {line}"
        key = "alert" if rule.type == "alerting" else "record"
        pattern = rf"^\s*(?:-\s+)?{key}\s*:\s*(['\"]?){re.escape(rule.name)}\1\s*(?:#.*)?$"
        assert re.match(pattern, lines[line - 1]), f"{rel}:{line}: {lines[line - 1]!r} is not `{key}: {rule.name}`"


def test_rule_lines_when_a_block_scalar_looks_like_a_rule(tmp_path: Path) -> None:
    """A description line `alert: ...` defeats the fast line scan; the composer path must agree."""
    path = tmp_path / "rules.yml"
    path.write_text(
        "groups:\n"
        "  - name: g\n"
        "    rules:\n"
        "      - expr: up == 0\n"
        "        alert: Down\n"
        "        annotations:\n"
        "          description: |\n"
        "            alert: this line only looks like a rule\n"
        "      - record: job:up:sum\n"
        "        expr: sum by (job) (up)\n",
        encoding="utf-8",
    )
    assert [(r.name, r.location.line) for r in load_rule_file(path)] == [("Down", 5), ("job:up:sum", 9)]


def test_multi_document_plain_rule_file_reads_first_document_like_prometheus(
    ref: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Prometheus decodes only the first YAML document of a plain rule file; Sloth writes two."""
    text = (ref / "sloth/_gen/multifile.yml").read_text(encoding="utf-8")
    docs = [d for d in yaml.load_all(text, Loader=_YAML_LOADER) if d]
    assert len(docs) == 2
    path = tmp_path / "multifile.yml"  # a fresh path: the loader caches parsed files, the warning comes once
    path.write_text(text, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="ownership.collect"):
        rules = load_rule_file(path)
    assert len(rules) == sum(len(g["rules"]) for g in docs[0]["groups"])
    assert {r.group for r in rules} == {g["name"] for g in docs[0]["groups"]}
    assert any(f"{path}:" in r.getMessage() and "reads only the first" in r.getMessage() for r in caplog.records)


def test_kube_prometheus_alerts_have_runbooks(ref: Path) -> None:
    """139 alerting rules, each with a severity label and a runbook_url (later checks rely on it)."""
    alerts = [
        r for f in sorted((ref / "kube-prometheus").glob("*.yaml")) for r in load_rule_file(f) if r.type == "alerting"
    ]
    assert len(alerts) == 139
    assert [r.name for r in alerts if not r.annotations.get("runbook_url")] == []
    assert [r.name for r in alerts if not r.labels.get("severity")] == []


# --------------------------------------------------------------------------- SLO specs


def _expected_slos(path: Path) -> int:
    n = 0
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if not isinstance(doc, dict):
            continue
        if doc.get("version") == "prometheus/v1":
            n += len(doc.get("slos") or [])
        elif doc.get("kind") == "PrometheusServiceLevel":
            n += len((doc.get("spec") or {}).get("slos") or [])
        elif str(doc.get("apiVersion", "")).startswith("openslo/") and doc.get("kind") == "SLO":
            n += 1
    return n


@pytest.mark.parametrize("rel", SLO_FILES)
def test_slo_spec_loads(ref: Path, rel: str) -> None:
    path = ref / rel
    if rel in SLO_REJECTS:
        with pytest.raises(InputError) as exc:
            load_slo_file(path)
        msg = str(exc.value)
        assert re.match(re.escape(str(path)) + _FILE_LINE, msg), msg
        assert SLO_REJECTS[rel] in msg and "PromQL" in msg, msg
        return
    slos, rules = load_slo_file(path)
    expected = _expected_slos(path)
    assert expected > 0
    assert len(slos) == expected
    assert rules == []
    for slo in slos:
        assert slo.location.file == str(path) and slo.location.line, slo
        assert slo.service and 0 < slo.objective <= 100


# --------------------------------------------------------------------------- Alertmanager


def test_alertmanager_conf_good_loads_and_amtool_agrees(ref: Path) -> None:
    path = ref / "alertmanager/conf.good.yml"
    facts = load_alertmanager_config(path)
    assert facts.receivers and facts.route.receiver
    assert facts.ignored_fields == []
    _require(AMTOOL_BIN, "amtool (prometheus-alertmanager)")
    ok, output = amtool_check_config(path)
    assert ok, output


def test_alertmanager_simple_reports_tracing(ref: Path, tmp_path: Path) -> None:
    path = ref / "alertmanager/simple.yml"
    facts = load_alertmanager_config(path)
    assert facts.ignored_fields == ["tracing"]

    def walk(route):
        yield route
        for child in route.routes:
            yield from walk(child)

    assert any(r.continue_ for r in walk(facts.route))
    # without the newer `tracing:` block, amtool 0.25 accepts it too (README "Versions")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["tracing"]
    stripped = tmp_path / "simple.yml"
    stripped.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert load_alertmanager_config(stripped).ignored_fields == []
    _require(AMTOOL_BIN, "amtool (prometheus-alertmanager)")
    ok, output = amtool_check_config(stripped)
    assert ok, output


def test_alertmanager_route_labels_reported(ref: Path) -> None:
    facts = load_alertmanager_config(ref / "alertmanager/route_labels.yml")
    assert "route.labels" in facts.ignored_fields
    assert {r.name for r in facts.receivers} == {"default", "dba", "network"}
    assert [r.receiver for r in facts.route.routes] == ["dba", "network"]
