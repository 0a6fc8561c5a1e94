"""The Grafana dashboard: the committed JSON is exactly what dashboards/ownership.py generates,
it names its data source only through $datasource, has the variables and rows the issue asks
for, and every panel query parses as PromQL over the metric names agent/metrics.py exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from dashboards import ownership

ROOT = Path(__file__).resolve().parent.parent.parent
PROVISIONING = ROOT / "dashboards" / "provisioning" / "ownership.yaml"

# The metric names shared with agent/metrics.py (issue 7).
METRICS = {
    "ownership_findings",
    "ownership_paging_alerts",
    "ownership_slos",
    "ownership_services",
    "ownership_engineer_paging_alerts",
    "ownership_engineer_pages_7d",
    "ownership_engineer_offhours_pages_7d",
    "ownership_queue_lag",
    "ownership_slow_query_seconds",
    "ownership_source_up",
    "ownership_source_stale",
    "ownership_source_last_success_timestamp_seconds",
    "ownership_source_collection_duration_seconds",
    "ownership_snapshot_timestamp_seconds",
    "ownership_collection_duration_seconds",
    "ownership_scheduler_runs_total",
}
VALUES = {
    "service": "ledger",
    "engineer": "PK8PK3Y",
    "team": "payments",
    "datasource": "prometheus",
    "__rate_interval": "1m",
    "__range": "1h",
    "__interval": "15s",
}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(ownership.JSON_PATH.read_text())


@pytest.mark.parametrize("path", ownership.OUTPUTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_json_is_the_generated_one(path: Path) -> None:
    generated = ownership.to_json()
    assert path.exists(), f"{path} missing: run `python -m dashboards.ownership`"
    assert path.read_text() == generated, f"{path} is stale: run `python -m dashboards.ownership` and commit the result"


def test_main_writes_the_json(tmp_path: Path) -> None:
    out = tmp_path / "d.json"
    assert ownership.main([str(out)]) == 0
    assert out.read_text() == ownership.to_json()


def _datasource_refs(node: Any, where: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                found.append((f"{where}/{key}", value))
            found.extend(_datasource_refs(value, f"{where}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_datasource_refs(value, f"{where}/{i}"))
    return found


def test_no_hard_coded_datasource(dashboard: dict[str, Any]) -> None:
    refs = _datasource_refs(dashboard)
    assert len(refs) > 30
    for where, ref in refs:
        assert ref == {"type": "prometheus", "uid": "${datasource}"}, where
    # the only other place a datasource could hide: the variable's current value
    [var] = [v for v in dashboard["templating"]["list"] if v["name"] == "datasource"]
    assert var["type"] == "datasource" and var["query"] == "prometheus"
    assert "current" not in var


def test_variables(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert list(variables) == ["datasource", "team", "service", "engineer"]
    for name in ("team", "service", "engineer"):
        var = variables[name]
        assert var["type"] == "query"
        query = var["query"]["query"]
        assert query.startswith("label_values(") and query.endswith(f", {name})"), query
        assert "ownership_" in query
    assert "ownership_engineer_" in variables["engineer"]["query"]["query"]
    assert variables["team"]["includeAll"] and variables["team"]["allValue"] == ".*"


def test_rows(dashboard: dict[str, Any]) -> None:
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Organisation overview", "Service: $service", "Engineer: $engineer", "Source health"]


def _row_of_each_panel(dashboard: dict[str, Any]) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    current = ""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            current = panel["title"]
            rows[current] = [p["title"] for p in panel.get("panels") or []]
        else:
            rows[current].append(panel["title"])
    return rows


def test_each_row_shows_what_the_issue_asks(dashboard: dict[str, Any]) -> None:
    rows = _row_of_each_panel(dashboard)
    exprs = {title: expr for title, _, expr in ownership.queries(dashboard)}

    def row_exprs(row: str) -> str:
        return "\n".join(exprs[t] for t in rows[row])

    overview = row_exprs("Organisation overview")
    assert "sum by (check)" in overview and "sum by (team)" in overview
    assert 'ownership_slos{paging="true"' in overview
    assert 'ownership_services{owned="false"}' in overview
    service = row_exprs("Service: $service")
    for metric in (
        "ownership_paging_alerts",
        "ownership_findings",
        "ownership_queue_lag",
        "ownership_slow_query_seconds",
    ):
        assert re.search(metric + r'\{service="\$service"', service), metric
    engineer = row_exprs("Engineer: $engineer")
    for metric in ("engineer_paging_alerts", "engineer_pages_7d", "engineer_offhours_pages_7d"):
        assert re.search(f"ownership_{metric}" + r'\{engineer="\$engineer"\}', engineer), metric
    health = row_exprs("Source health")
    for metric in ("up", "stale", "last_success_timestamp_seconds", "collection_duration_seconds"):
        assert f"ownership_source_{metric}" in health, metric


def _metric_names(expr: promql_parser.Expr) -> set[str]:
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        for attr in ("expr", "lhs", "rhs", "vector_selector", "param"):
            child = getattr(node, attr, None)
            if isinstance(child, promql_parser.Expr):
                visit(child)
        for arg in getattr(node, "args", None) or []:
            visit(arg)

    visit(expr)
    return names


def test_every_query_parses_and_uses_known_metrics(dashboard: dict[str, Any]) -> None:
    seen: set[str] = set()
    found = list(ownership.queries(dashboard))
    assert len(found) == len(list(ownership.panels(dashboard)))  # one query per panel
    for title, _, expr in found:
        try:
            parsed = promql_parser.parse(ownership.interpolate(expr, VALUES))
        except Exception as exc:  # promql_parser raises ValueError / RuntimeError
            pytest.fail(f"panel {title!r}: {expr!r} does not parse: {exc}")
        names = _metric_names(parsed)
        assert names, f"panel {title!r} reads no metric"
        assert names <= METRICS, f"panel {title!r} reads unknown metrics {names - METRICS}"
        seen |= names
    assert seen == METRICS, f"metrics no panel shows: {METRICS - seen}"


def test_provisioning_file_points_at_the_json_folder() -> None:
    doc = yaml.safe_load(PROVISIONING.read_text())
    assert doc["apiVersion"] == 1
    [provider] = doc["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].rstrip("/").endswith("ownership")
