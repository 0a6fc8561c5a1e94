"""The Grafana ownership dashboard, generated as code with grafana-foundation-sdk.

``python -m dashboards.ownership`` rewrites ``dashboards/ownership.json``; a test
regenerates it and fails on any difference, and an integration test runs every
panel query against a real Prometheus that scraped ``ownership serve --demo``.
The metric names are the ones ``agent/metrics.py`` exposes (docs: issue 7).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.builders.common import ReduceDataOptions
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    DataTransformerConfig,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

UID = "ownership-agent"
ROOT = Path(__file__).resolve().parent.parent
JSON_PATH = ROOT / "dashboards" / "ownership.json"
# Helm's .Files.Get cannot read outside the chart, so the chart carries a copy.
HELM_COPY = ROOT / "helm" / "ownership-agent" / "dashboards" / "ownership.json"
OUTPUTS = (JSON_PATH, HELM_COPY)

# Every panel and query points at the $datasource variable: no datasource uid is
# hard-coded, so the same JSON works in any Grafana with any Prometheus.
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")

# Selector fragments shared by the panels.
TEAM = 'team=~"$team"'
SERVICE = 'service="$service"'
ENGINEER = 'engineer="$engineer"'


# --------------------------------------------------------------------------- helpers


class _Ids:
    """Stable panel ids in build order (Grafana would otherwise assign its own)."""

    def __init__(self) -> None:
        self.next = 0

    def __call__(self) -> int:
        self.next += 1
        return self.next


# an instant selector of one of the agent's gauges (not the scheduler's counter, nor a range selector)
_GAUGE = re.compile(r"\b(ownership_(?!scheduler_runs)[a-z0-9_]+(?:\{[^}]*\})?)(?!\s*\[)")


def one_per_replica(expr: str) -> str:
    """`expr` with each gauge selector taken once whatever the number of replicas: every replica exports the
    same series of the same snapshot, told apart by the scrape's `instance` and `pod` only, so a `sum` over
    them counted each finding, service or page once per replica."""
    return _GAUGE.sub(r"max without (instance, pod) (\1)", expr)


def _query(
    expr: str, legend: str = "", ref: str = "A", *, instant: bool = True, as_table: bool = False
) -> prom.Dataquery:
    q = prom.Dataquery().expr(one_per_replica(expr)).ref_id(ref).datasource(DATASOURCE)
    q = q.instant() if instant else q.range()
    if legend:
        q = q.legend_format(legend)
    if as_table:
        q = q.format(PromQueryFormat.TABLE)
    return q


def _thresholds(*steps: tuple[float | None, str]) -> db.ThresholdsConfig:
    return (
        db.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in steps])
    )


def _stat(
    ids: _Ids,
    title: str,
    description: str,
    expr: str,
    *,
    unit: str = "short",
    width: int = 6,
    thresholds: db.ThresholdsConfig | None = None,
) -> stat.Panel:
    return (
        stat.Panel()
        .id(ids())
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(_query(expr))
        .unit(unit)
        .height(4)
        .span(width)
        .color_mode(common.BigValueColorMode.VALUE)
        .graph_mode(common.BigValueGraphMode.NONE)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(thresholds or _thresholds((None, "green")))
    )


def _bars(ids: _Ids, title: str, description: str, expr: str, legend: str, *, unit: str = "short", width: int = 12):
    return (
        bargauge.Panel()
        .id(ids())
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(_query(expr, legend))
        .unit(unit)
        .height(8)
        .span(width)
        .min(0)
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .orientation(common.VizOrientation.HORIZONTAL)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(_thresholds((None, "blue")))
    )


def _table(ids: _Ids, title: str, description: str, expr: str, *, value: str, width: int = 12, unit: str = "short"):
    return (
        table.Panel()
        .id(ids())
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(_query(expr, as_table=True))
        .unit(unit)
        .height(8)
        .span(width)
        .with_transformation(
            DataTransformerConfig(
                id_val="organize",
                options={"excludeByName": {"Time": True}, "renameByName": {"Value": value}},
            )
        )
    )


def _series(ids: _Ids, title: str, description: str, expr: str, legend: str, *, unit: str = "short", width: int = 12):
    return (
        timeseries.Panel()
        .id(ids())
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(_query(expr, legend, instant=False))
        .unit(unit)
        .height(8)
        .span(width)
        .min(0)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
    )


def _variables() -> list[Any]:
    datasource = db.DatasourceVariable("datasource").label("Data source").type("prometheus")
    team = (
        db.QueryVariable("team")
        .label("Team")
        .description("Owning team (catalog); filters the organisation overview and the service list.")
        .datasource(DATASOURCE)
        .query(
            {
                "qryType": 1,
                "query": "label_values(ownership_services, team)",
                "refId": "PrometheusVariableQueryEditor-VariableQuery",
            }
        )
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(VariableOption(text="All", value="$__all"))
    )
    service = (
        db.QueryVariable("service")
        .label("Service")
        .description("Catalog service for the service drill-down.")
        .datasource(DATASOURCE)
        .query(
            {
                "qryType": 1,
                "query": 'label_values({__name__=~"ownership_(paging_alerts|findings|slos)",team=~"$team"}, service)',
                "refId": "PrometheusVariableQueryEditor-VariableQuery",
            }
        )
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    engineer = (
        db.QueryVariable("engineer")
        .label("Engineer")
        .description("Engineer handle (PagerDuty user id by default) for the engineer drill-down.")
        .datasource(DATASOURCE)
        .query(
            {
                "qryType": 1,
                "query": "label_values(ownership_engineer_paging_alerts, engineer)",
                "refId": "PrometheusVariableQueryEditor-VariableQuery",
            }
        )
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    return [datasource, team, service, engineer]


# --------------------------------------------------------------------------- the dashboard


def build() -> db.Dashboard:
    """The ownership dashboard as a grafana-foundation-sdk builder."""
    ids = _Ids()
    d = (
        db.Dashboard("Ownership")
        .uid(UID)
        .description(
            "Which production problems will page whom: findings, paging surface, on-call load and source health."
        )
        .tags(["ownership", "on-call", "slo"])
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .variables(_variables())
    )

    # -- organisation overview -----------------------------------------------------
    d = d.with_row(db.Row("Organisation overview").id(ids()))
    d = d.with_panel(
        _stat(
            ids,
            "Critical findings",
            "Findings of severity critical for the selected teams.",
            f'sum(ownership_findings{{severity="critical",{TEAM}}}) or vector(0)',
            thresholds=_thresholds((None, "green"), (1, "red")),
        )
    )
    d = d.with_panel(
        _stat(
            ids,
            "Warnings",
            "Findings of severity warning for the selected teams.",
            f'sum(ownership_findings{{severity="warning",{TEAM}}}) or vector(0)',
            thresholds=_thresholds((None, "green"), (1, "orange")),
        )
    )
    d = d.with_panel(
        _stat(
            ids,
            "SLOs with a paging alert",
            "Share of SLOs that have a paging burn-rate alert (OWN002 finds the others).",
            f'(sum(ownership_slos{{paging="true",{TEAM}}}) or vector(0)) / sum(ownership_slos{{{TEAM}}})',
            unit="percentunit",
            thresholds=_thresholds((None, "red"), (0.8, "orange"), (1, "green")),
        )
    )
    d = d.with_panel(
        _stat(
            ids,
            "Services without an owner",
            "Catalog services with no owning team (OWN001).",
            'sum(ownership_services{owned="false"}) or vector(0)',
            thresholds=_thresholds((None, "green"), (1, "red")),
        )
    )
    d = d.with_panel(
        _bars(
            ids,
            "Findings by check",
            "Open findings per check id for the selected teams.",
            f"sort_desc(sum by (check) (ownership_findings{{{TEAM}}}))",
            "{{check}}",
            width=8,
        )
    )
    d = d.with_panel(
        _bars(
            ids,
            "Findings by team",
            "Open findings per owning team; findings on unowned services have an empty team.",
            f"sort_desc(sum by (team) (ownership_findings{{{TEAM}}}))",
            "{{team}}",
            width=8,
        )
    )
    d = d.with_panel(
        _bars(
            ids,
            "SLOs with a paging alert, by team",
            "Per team: the share of its SLOs that have a paging burn-rate alert.",
            f'(sum by (team) (ownership_slos{{paging="true",{TEAM}}}) or 0 * sum by (team) (ownership_slos{{{TEAM}}}))'
            f" / sum by (team) (ownership_slos{{{TEAM}}})",
            "{{team}}",
            unit="percentunit",
            width=8,
        ).max(1)
    )
    d = d.with_panel(
        _table(
            ids,
            "Findings by check, severity and team",
            "Every (check, severity, team) with open findings.",
            f"sort_desc(sum by (check, severity, team) (ownership_findings{{{TEAM}}}))",
            value="Findings",
            width=16,
        )
    )
    d = d.with_panel(
        _table(
            ids,
            "Catalog services by team",
            "Services per team, and how many have an owner.",
            "sum by (team, owned) (ownership_services)",
            value="Services",
            width=8,
        )
    )

    # -- service drill-down ----------------------------------------------------------
    d = d.with_row(db.Row("Service: $service").id(ids()))
    for title, urgency, colour in (
        ("Alerts that page", "high", "red"),
        ("Alerts that only notify", "low", "orange"),
        ("Alerts that reach nobody", "none", "purple"),
    ):
        d = d.with_panel(
            _stat(
                ids,
                title,
                f"Alerting rules attributed to $service whose route reaches urgency={urgency}.",
                f'sum(ownership_paging_alerts{{{SERVICE},urgency="{urgency}"}}) or vector(0)',
                thresholds=_thresholds((None, "green"), (1, colour))
                if urgency == "none"
                else _thresholds((None, colour)),
            )
        )
    d = d.with_panel(
        _stat(
            ids,
            "Open findings",
            "Findings on $service, all severities.",
            f"sum(ownership_findings{{{SERVICE}}}) or vector(0)",
            thresholds=_thresholds((None, "green"), (1, "orange")),
        )
    )
    d = d.with_panel(
        _bars(
            ids,
            "What pages",
            "Alerting rules of $service by the urgency they reach: high pages someone, low only notifies, none reaches nobody.",
            f"sum by (urgency) (ownership_paging_alerts{{{SERVICE}}})",
            "{{urgency}}",
            width=8,
        )
    )
    d = d.with_panel(
        _table(
            ids,
            "Findings",
            "Findings on $service by check and severity (`ownership findings --service` lists them).",
            f"sort_desc(sum by (check, severity) (ownership_findings{{{SERVICE}}}))",
            value="Findings",
            width=16,
        )
    )
    d = d.with_panel(
        _series(
            ids,
            "Queue lag",
            "Lag or backlog per queue of $service, as the prometheus_signals collector measured it.",
            f"max by (queue, kind) (ownership_queue_lag{{{SERVICE}}})",
            "{{queue}} ({{kind}})",
        )
    )
    d = d.with_panel(
        _series(
            ids,
            "Slow query time",
            "Total execution time of the statements over the slow-query threshold, per database of $service.",
            f"sum by (database) (ownership_slow_query_seconds{{{SERVICE}}})",
            "{{database}}",
            unit="s",
        )
    )

    # -- engineer drill-down ---------------------------------------------------------
    d = d.with_row(db.Row("Engineer: $engineer").id(ids()))
    d = d.with_panel(
        _stat(
            ids,
            "Paging surface (next 7 days)",
            "Alerting rules that can page $engineer in the next 7 days.",
            f"sum(ownership_engineer_paging_alerts{{{ENGINEER}}}) or vector(0)",
            thresholds=_thresholds((None, "blue")),
        )
    )
    d = d.with_panel(
        _stat(
            ids,
            "Pages in the last 7 days",
            "PagerDuty incidents that notified or were assigned to $engineer in the last 7 days.",
            f"sum(ownership_engineer_pages_7d{{{ENGINEER}}}) or vector(0)",
            thresholds=_thresholds((None, "green"), (5, "orange"), (15, "red")),
        )
    )
    d = d.with_panel(
        _stat(
            ids,
            "Off-hours pages (7 days)",
            "Of those, the ones outside the team's working hours in its time zone.",
            f"sum(ownership_engineer_offhours_pages_7d{{{ENGINEER}}}) or vector(0)",
            thresholds=_thresholds((None, "green"), (1, "orange"), (5, "red")),
        )
    )
    d = d.with_panel(
        _stat(
            ids,
            "Off-hours share",
            "Off-hours pages as a share of all pages of $engineer in the last 7 days (0 without pages).",
            f"sum(ownership_engineer_offhours_pages_7d{{{ENGINEER}}})"
            f" / (sum(ownership_engineer_pages_7d{{{ENGINEER}}}) > 0) or on() vector(0)",
            unit="percentunit",
            thresholds=_thresholds((None, "green"), (0.25, "orange"), (0.5, "red")),
        )
    )
    d = d.with_panel(
        _series(
            ids,
            "Pages of $engineer",
            "Pages and off-hours pages in the trailing 7 days, over time.",
            f'label_replace(ownership_engineer_pages_7d{{{ENGINEER}}}, "kind", "all pages", "", "")'
            f' or label_replace(ownership_engineer_offhours_pages_7d{{{ENGINEER}}}, "kind", "off-hours", "", "")',
            "{{kind}}",
        )
    )
    d = d.with_panel(
        _bars(
            ids,
            "Most paged engineers (7 days)",
            "The engineers with the most pages in the last 7 days, to compare $engineer against.",
            "topk(10, ownership_engineer_pages_7d)",
            "{{engineer}}",
        )
    )

    # -- source health ---------------------------------------------------------------
    d = d.with_row(db.Row("Source health").id(ids()))
    d = d.with_panel(
        _stat(
            ids,
            "Sources down",
            "Sources whose last collection failed (OWN000).",
            "count(ownership_source_up == 0) or vector(0)",
            thresholds=_thresholds((None, "green"), (1, "red")),
        )
    )
    d = d.with_panel(
        _stat(
            ids,
            "Stale sources",
            "Sources whose facts are older than the staleness limit: answers built on them may be wrong.",
            "sum(ownership_source_stale) or vector(0)",
            thresholds=_thresholds((None, "green"), (1, "orange")),
        )
    )
    d = d.with_panel(
        _stat(
            ids,
            "Snapshot age",
            "Time since the snapshot the agent serves was taken.",
            "time() - max(ownership_snapshot_timestamp_seconds)",
            unit="s",
            thresholds=_thresholds((None, "green"), (3600, "orange"), (86400, "red")),
        )
    )
    d = d.with_panel(
        _stat(
            ids,
            "Collection duration",
            "How long the last collection of all sources took.",
            "max(ownership_collection_duration_seconds)",
            unit="s",
        )
    )
    d = d.with_panel(
        _table(
            ids,
            "Sources",
            "Per source: up (1) or failed (0).",
            "max by (source, kind) (ownership_source_up)",
            value="Up",
            width=8,
        )
    )
    d = d.with_panel(
        _table(
            ids,
            "Stale",
            "Per source: 1 when its facts are stale.",
            "max by (source, kind) (ownership_source_stale)",
            value="Stale",
            width=8,
        )
    )
    d = d.with_panel(
        _table(
            ids,
            "Last success age",
            "Per source: time since its last successful collection.",
            "time() - max by (source, kind) (ownership_source_last_success_timestamp_seconds)",
            value="Age",
            width=8,
            unit="s",
        )
    )
    d = d.with_panel(
        _series(
            ids,
            "Collection duration per source",
            "How long each source took to collect, over time.",
            "max by (source, kind) (ownership_source_collection_duration_seconds)",
            "{{source}} ({{kind}})",
            unit="s",
            width=24,
        )
    )
    d = d.with_panel(
        _series(
            ids,
            "Scheduler runs",
            "The agents' scheduler turns (a collection, or publishing the latest stored snapshot) by outcome: "
            "failures without successes mean no new snapshot (OwnershipAgentCollectionsFailing).",
            "sum by (outcome) (increase(ownership_scheduler_runs_total[$__rate_interval]))",
            "{{outcome}}",
            width=24,
        )
    )
    return d


def to_json() -> str:
    """The dashboard JSON exactly as committed in dashboards/ownership.json."""
    return json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard JSON, rows' collapsed panels included (rows themselves excluded)."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels") or []
        else:
            yield panel


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(panel title, refId, expr) of every Prometheus query of every panel."""
    for panel in panels(dashboard):
        for target in panel.get("targets") or []:
            if "expr" in target:
                yield panel["title"], target.get("refId", ""), target["expr"]


def interpolate(expr: str, values: dict[str, str]) -> str:
    """Substitute ``$name`` and ``${name}`` as Grafana does for single values (longest names first)."""
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    return expr


def main(argv: list[str] | None = None) -> int:
    """Write the dashboard JSON to the given paths (default: dashboards/ and the Helm chart's copy)."""
    args = sys.argv[1:] if argv is None else argv
    text = to_json()
    for path in [Path(a) for a in args] or OUTPUTS:
        path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
