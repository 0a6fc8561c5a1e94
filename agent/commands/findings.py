"""`ownership findings`: the gaps, as a table, JSON or SARIF 2.1.0; exit 1 with --fail-on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from agent import cli
from agent.errors import InputError
from rules.findings import SARIF_LEVEL, SEVERITY_RANK, Finding, check_filters

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def compute(check: str | None = None, service: str | None = None, team: str | None = None) -> list[Finding]:
    """The findings of the current snapshot, of one check, service or team when given (each must exist)."""
    from rules.engine import check_ids, run_checks
    from rules.graph import OwnershipGraph

    if check and check not in check_ids():
        raise InputError(f"unknown check id {check!r}", source="findings")
    snap, now = cli.current_snapshot()
    loaded = cli._loaded()
    graph = OwnershipGraph.build(snap)
    items = run_checks(graph, now, loaded.pack(), only={check} if check else None)
    check_filters(graph, items, service, team)
    return [f for f in items if (service is None or f.service == service) and (team is None or f.team == team)]


def findings_cmd(
    service: str | None = typer.Option(None, "--service", help="only this service"),
    team: str | None = typer.Option(None, "--team", help="only this team"),
    check: str | None = typer.Option(None, "--check", help="only this check id, e.g. OWN004"),
    fail_on: str | None = typer.Option(
        None, "--fail-on", help="exit 1 when a finding at or above critical|warning|info exists"
    ),
) -> None:
    """Ownership gaps: SLOs without a page, alerts routed nowhere, uncovered hours, noisy alerts..."""
    if fail_on is not None and fail_on not in SEVERITY_RANK:
        raise InputError("--fail-on must be critical, warning or info", source="findings")
    items = compute(check, service, team)
    fmt = cli.G.format
    if fmt == "json":
        cli.out.print(json.dumps([f.model_dump(mode="json") for f in items], indent=2), markup=False)
    elif fmt == "sarif":
        loaded = cli._loaded()
        cli.out.print(json.dumps(to_sarif(items, loaded.path, _source_lines(loaded.path)), indent=2), markup=False)
    elif fmt == "table":
        print_table(items)
    else:
        raise InputError(f"--format {fmt} is not available for findings (table, json, sarif)", source="findings")
    if fail_on is not None and any(SEVERITY_RANK[f.severity] >= SEVERITY_RANK[fail_on] for f in items):
        raise typer.Exit(1)


def print_table(items: list[Finding]) -> None:
    t = Table(title=f"{len(items)} findings", title_justify="left")
    for col in ("check", "severity", "service", "team", "subject", "summary"):
        t.add_column(col)
    colour = {"critical": "red", "warning": "yellow", "info": "blue"}
    for f in items:
        c = colour[f.severity]
        t.add_row(f.check, f"[{c}]{f.severity}[/{c}]", f.service or "-", f.team or "-", str(f.subject), f.summary)
    cli.out.print(t)


def _source_lines(config: Path) -> dict[str, int]:
    """The line of each source's entry in the config (where a finding about a source without a file points)."""
    from collectors.yamlfile import load_one

    try:
        doc = load_one(config)
    except Exception:  # read and validated already: only a race with an edit could get here
        return {}
    sources = doc.data.get("sources") if isinstance(doc.data, dict) else None
    out: dict[str, int] = {}
    for i, s in enumerate(sources if isinstance(sources, list) else []):
        line = doc.line_of("sources", i)
        if isinstance(s, dict) and isinstance(s.get("name"), str) and line:
            out[s["name"]] = line
    return out


def to_sarif(
    items: list[Finding], config: Path | None = None, source_lines: dict[str, int] | None = None
) -> dict[str, Any]:
    """SARIF 2.1.0: one run, a rule per check, a location for every result (code scanning drops or refuses a
    result without one, and a location without `region.startLine`): the finding's file and line, else the
    config's entry of the source it is about (OWN000), else the config's first line. Paths under the working
    directory are relative to it (`%SRCROOT%`), others `file://` URIs (a bare absolute path is no URI)."""
    from rules.checks import CHECKS

    docs = Path("docs") / "checks"
    rules = [
        {
            "id": c.id,
            "name": c.__name__,
            "shortDescription": {"text": c.summary},
            "properties": {"doc": (docs / f"{c.id}.md").as_posix()},
            "defaultConfiguration": {"level": SARIF_LEVEL[c.severity]},
        }
        for c in CHECKS
    ]
    index = {r["id"]: i for i, r in enumerate(rules)}
    root = Path.cwd().resolve()
    results = []
    for f in items:
        res: dict[str, Any] = {
            "ruleId": f.check,
            "ruleIndex": index.get(f.check, 0),
            "level": SARIF_LEVEL[f.severity],
            "message": {"text": f.summary + (f"\nFix: {f.fix.summary}" if f.fix else "")},
            "partialFingerprints": {"ownership/v1": "|".join(str(x) for x in f.key)},
            "properties": {"service": f.service, "team": f.team, "subject": f.subject},
        }
        file, line = f.primary_location()
        if not file and config is not None:
            file, line = str(config), (source_lines or {}).get(str(f.subject)) if f.check == "OWN000" else None
        if file:
            res["locations"] = [{"physicalLocation": {**_artifact(file, root), "region": {"startLine": line or 1}}}]
        results.append(res)
    run: dict[str, Any] = {"tool": {"driver": {"name": "ownership-agent", "rules": rules}}, "results": results}
    run["originalUriBaseIds"] = {"%SRCROOT%": {"uri": root.as_uri() + "/"}}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _artifact(file: str, root: Path) -> dict[str, Any]:
    p = Path(file).resolve()
    try:
        return {"artifactLocation": {"uri": p.relative_to(root).as_posix(), "uriBaseId": "%SRCROOT%"}}
    except ValueError:
        return {"artifactLocation": {"uri": p.as_uri()}}
