"""Fixes that are rules: promtool accepts them, the SLO page alert fires under a fast burn and not at 1x,
and the burn-rate alerts match Sloth's own output (windows, factors, objective) on its examples."""

from __future__ import annotations

import math
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import promql_parser as pp
import pytest
import yaml
from servers import PROMTOOL_BIN, promtool_check_rules

from agent import demo
from agent.config import load_config
from agent.pipeline import collect
from collectors.facts import SLO
from collectors.slo_specs import load_slo_file
from rules.engine import run_checks
from rules.findings import Finding
from rules.fixes import error_budget, rules_yaml, slo_rules, sloth_id
from rules.graph import OwnershipGraph

SLOTH = Path(__file__).resolve().parents[4] / "shared" / "reference-data" / "sloth"
needs_promtool = pytest.mark.skipif(not Path(PROMTOOL_BIN).exists(), reason="promtool not installed")


@cache
def demo_run() -> tuple[OwnershipGraph, list[Finding]]:
    loaded = load_config(demo.config_path())
    now = loaded.config.now
    assert now is not None
    graph = OwnershipGraph.build(collect(loaded, now))
    return graph, run_checks(graph, now)


# --------------------------------------------------------------------------- promtool check rules


@needs_promtool
def test_every_demo_fix_passes_promtool_check_rules(tmp_path: Path) -> None:
    _, findings = demo_run()
    fixes = [f for f in findings if f.fix and f.fix.rules_yaml]
    assert any(f.check == "OWN002" for f in fixes), "the planted OWN002 carries a rule fix"
    for i, f in enumerate(fixes):
        text = f.fix.rules_yaml if f.fix else None
        assert text
        p = tmp_path / f"{f.check}-{i}.yml"
        p.write_text(text)
        ok, count, out = promtool_check_rules(p)
        assert ok and count, f"{f.check} {f.subject}: promtool rejects the fix:\n{out}\n{text}"


# --------------------------------------------------------------------------- promtool test rules


def _series_of(query: str) -> str:
    """The one series a query with equality matchers selects (enough for the SLIs tested here)."""
    node = pp.parse(query.replace("{{.window}}", "5m"))
    found: list[str] = []

    def walk(n: Any) -> None:
        t = type(n).__name__
        if t == "VectorSelector":
            eq = []
            for m in n.matchers.matchers:
                assert str(m.op) == "MatchOp.Equal", f"{query}: only equality matchers are generated"
                eq.append(f'{m.name}="{m.value}"')
            found.append(f"{n.name}{{{','.join(eq)}}}")
        for attr in ("expr", "vector_selector", "lhs", "rhs"):
            if hasattr(n, attr) and getattr(n, attr) is not None:
                walk(getattr(n, attr))
        for a in getattr(n, "args", None) or []:
            walk(a)

    walk(node)
    assert len(set(found)) == 1, f"{query}: expected one series, got {found}"
    return found[0]


def _page_only(docs: list[dict]) -> dict:
    """Recording rules of every file plus the page alerts (`sloth_severity: page`), in one rule file."""
    groups = []
    for doc in docs:
        for g in doc["groups"]:
            rules = [r for r in g["rules"] if "record" in r or (r.get("labels") or {}).get("sloth_severity") == "page"]
            if rules:
                groups.append({**g, "rules": rules})
    return {"groups": groups}


def _expected_alert(doc: dict, slo: SLO) -> dict:
    """Labels and annotations the page alert fires with: the 5m recording's labels without sloth_window,
    then the alert's labels; `{{$labels.x}}` expanded in annotations."""
    rec = next(
        r
        for g in doc["groups"]
        for r in g["rules"]
        if r.get("record") == "slo:sli_error:ratio_rate5m" and r["labels"].get("sloth_id") == sloth_id(slo)
    )
    alert = next(r for g in doc["groups"] for r in g["rules"] if "alert" in r)
    labels = {k: str(v) for k, v in rec["labels"].items() if k != "sloth_window"}
    labels.update({k: str(v) for k, v in alert["labels"].items()})
    annotations = {}
    for k, v in (alert.get("annotations") or {}).items():
        for lk, lv in labels.items():
            v = v.replace(f"{{{{$labels.{lk}}}}}", lv)
        annotations[k] = v
    return {"alertname": alert["alert"], "exp_labels": labels, "exp_annotations": annotations}


def _unit_test(rule_file: Path, slo: SLO, burn: float, exp: dict) -> dict:
    assert slo.error_query and slo.total_query
    budget = error_budget(slo.objective)
    per_min = 1000.0
    errors = burn * budget * per_min  # the SLI error ratio is `burn` times the error budget
    minutes = 180
    fires = burn > 14.4
    return {
        "rule_files": [rule_file.name],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": _series_of(slo.total_query), "values": f"0+{per_min:g}x{minutes}"},
                    {"series": _series_of(slo.error_query), "values": f"0+{errors:g}x{minutes}"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "90m",
                        "alertname": exp["alertname"],
                        "exp_alerts": [{"exp_labels": exp["exp_labels"], "exp_annotations": exp["exp_annotations"]}]
                        if fires
                        else [],
                    }
                ],
            }
        ],
    }


def _demo_slo_fix() -> tuple[SLO, Finding, OwnershipGraph]:
    graph, findings = demo_run()
    f = next(f for f in findings if f.check == "OWN002")
    slo = next(s for s in graph.slos.slos if s.service == f.service and s.name == f.subject)
    return slo, f, graph


def _org_recording_docs(graph: OwnershipGraph, slo: SLO) -> list[dict]:
    """The organisation's rule files that record the SLO's SLIs (the fix leaves them out when they exist)."""
    files = sorted(
        {
            sr.rule.location.file
            for sr in graph.recording_rules()
            if sr.rule.labels.get("sloth_id") == sloth_id(slo) and sr.rule.location.file
        }
    )
    return [yaml.safe_load(Path(p).read_text()) for p in files]


@needs_promtool
@pytest.mark.parametrize("recordings", ["organisation", "generated"])
@pytest.mark.parametrize("burn", [15.0, 1.0])
def test_slo_page_alert_fires_at_15x_and_not_at_1x(tmp_path: Path, burn: float, recordings: str) -> None:
    slo, finding, graph = _demo_slo_fix()
    assert finding.fix and finding.fix.rules_yaml
    fix = yaml.safe_load(finding.fix.rules_yaml)
    if recordings == "organisation":  # the fix as shipped, next to the recordings the org already has
        docs = [*_org_recording_docs(graph, slo), fix]
    else:  # the generator's own recordings (what the fix carries where the org has none)
        docs = [slo_rules(slo, alert_name=slo.ticket_alert, page_labels={"severity": "critical"}, page_for="2m")]
    merged = _page_only(docs)
    assert sum(1 for g in merged["groups"] for r in g["rules"] if "alert" in r) == 1
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(rules_yaml(merged))
    test_file = tmp_path / "test.yml"
    test_file.write_text(
        yaml.safe_dump(_unit_test(rule_file, slo, burn, _expected_alert(merged, slo)), sort_keys=False)
    )
    proc = subprocess.run(
        [PROMTOOL_BIN, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, f"{burn}x: {proc.stdout}{proc.stderr}\n{rule_file.read_text()}"


# --------------------------------------------------------------------------- Sloth's own output

Term = tuple[tuple[str, float, float], ...]


def _burn_terms(expr: str) -> tuple[set[str], list[Term]]:
    """(sloth_ids selected, each `or` term as its sorted (window, factor, budget) comparisons)."""
    ids: set[str] = set()

    def comparisons(n: Any) -> list[tuple[str, float, float]]:
        t = type(n).__name__
        if t == "BinaryExpr" and str(n.op).strip() == ">":
            vs, rhs = n.lhs, n.rhs
            while type(rhs).__name__ == "ParenExpr":
                rhs = rhs.expr
            assert type(vs).__name__ == "VectorSelector" and str(rhs.op).strip() == "*"
            ids.update(m.value for m in vs.matchers.matchers if m.name == "sloth_id")
            window = str(vs.name).rsplit("ratio_rate", 1)[1]
            return [(window, float(rhs.lhs.val), float(rhs.rhs.val))]
        out = []
        for attr in ("expr", "lhs", "rhs"):
            if getattr(n, attr, None) is not None:
                out += comparisons(getattr(n, attr))
        return out

    def terms(n: Any) -> list[Any]:
        if type(n).__name__ == "ParenExpr":
            return terms(n.expr)
        if type(n).__name__ == "BinaryExpr" and str(n.op).strip() == "or":
            return terms(n.lhs) + terms(n.rhs)
        return [n]

    out = [tuple(sorted(comparisons(t))) for t in terms(pp.parse(expr))]
    return ids, sorted(out)


def _rule_groups(path: Path) -> list[dict]:
    groups: list[dict] = []
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc:
            continue
        groups += doc.get("groups") or (doc.get("spec") or {}).get("groups") or []
    return groups


def _alerts_by_slo(groups: list[dict]) -> dict[tuple[str, str], list[Term]]:
    out: dict[tuple[str, str], list[Term]] = {}
    for g in groups:
        for r in g["rules"]:
            if "alert" not in r:
                continue
            ids, terms = _burn_terms(r["expr"])
            assert len(ids) == 1
            out[(ids.pop(), r["labels"]["sloth_severity"])] = terms
    return out


def _same(a: list[Term], b: list[Term]) -> bool:
    if len(a) != len(b):
        return False
    for ta, tb in zip(a, b, strict=True):
        if len(ta) != len(tb):
            return False
        for (wa, fa, ba), (wb, fb, bb) in zip(ta, tb, strict=True):
            if wa != wb or not math.isclose(fa, fb) or not math.isclose(ba, bb, rel_tol=1e-12):
                return False
    return True


def _examples() -> list[Path]:
    if not SLOTH.is_dir():
        return []
    out = []
    for p in sorted([*SLOTH.glob("*.yml"), *SLOTH.glob("*.yaml")]):
        gen = SLOTH / "_gen" / p.name
        if gen.exists() and any("alert" in r for g in _rule_groups(gen) for r in g["rules"]):
            out.append(p)
    return out


EXAMPLES = _examples()


@pytest.mark.skipif(not SLOTH.is_dir(), reason="../shared/reference-data/sloth is absent")
def test_sloth_examples_are_found() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"getting-started.yml", "home-wifi.yml", "kubernetes-apiserver.yml", "multifile.yml"} <= names


@pytest.mark.skipif(not SLOTH.is_dir(), reason="../shared/reference-data/sloth is absent")
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_burn_rate_alerts_match_sloth(example: Path) -> None:
    try:
        slos, _ = load_slo_file(example)
    except Exception as e:  # noqa: BLE001 - e.g. VictoriaMetrics-only PromQL the collector rejects
        pytest.skip(f"{example.name}: not loadable as Prometheus SLOs ({e})")
    theirs = _alerts_by_slo(_rule_groups(SLOTH / "_gen" / example.name))
    ours: dict[tuple[str, str], list[Term]] = {}
    compared = 0
    plugins = "plugin" in example.read_text().lower()  # SLO plugins (Sloth's contrib) rewrite the SLI recordings
    for slo in slos:
        generated = slo_rules(slo, alert_name=slo.page_alert or slo.ticket_alert, page_labels=slo.page_labels)
        ours.update(_alerts_by_slo(generated["groups"]))
        # The SLI recordings, where the spec has queries: same names, windows and expressions as Sloth's.
        rec_ours = {
            (r["labels"]["sloth_id"], r["record"]): r["expr"]
            for g in generated["groups"]
            for r in g["rules"]
            if r.get("record", "").startswith("slo:sli_error:ratio_rate")
        }
        rec_theirs = {
            (r["labels"]["sloth_id"], r["record"]): r["expr"]
            for g in _rule_groups(SLOTH / "_gen" / example.name)
            for r in g["rules"]
            if r.get("record", "").startswith("slo:sli_error:ratio_rate")
            and r["labels"].get("sloth_id") == sloth_id(slo)
        }
        if rec_ours and not plugins:
            assert rec_ours.keys() == rec_theirs.keys()
            for k, expr in rec_ours.items():
                assert str(pp.parse(expr)) == str(pp.parse(rec_theirs[k])), k
    for key, terms in theirs.items():
        assert key in ours, f"{example.name}: no generated {key}"
        assert _same(ours[key], terms), f"{example.name} {key}: ours {ours[key]} != Sloth's {terms}"
        compared += 1
    assert compared == len(theirs) and compared > 0
    # The budget is the objective's: 1 - objective/100.
    for slo in slos:
        page = ours.get((sloth_id(slo), "page"))
        if page:
            assert all(math.isclose(b, error_budget(slo.objective)) for term in page for _, _, b in term)
