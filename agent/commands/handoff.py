"""`ownership handoff TEAM`: the on-call handoff report of a team for a shift (Markdown, HTML or JSON).

The shift is [--since, --until); --until defaults to --now, --since to 7 days before --until (a weekly
rotation, as the API's default). --since also takes a Prometheus duration, counted back from --until (`--since
24h` for a daily handoff).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import typer

from agent import cli
from agent.commands.memo import document_format, emit
from agent.errors import InputError
from agent.reports import DEFAULT_SHIFT
from collectors.durations import parse_duration
from collectors.facts import Snapshot
from rules.findings import Finding


def _since(value: str | None, until: datetime) -> datetime:
    if value is None:
        return until - DEFAULT_SHIFT
    if value[:1].isdigit() and not value[:4].isdigit():  # `12h`, `7d`; an instant starts with a year
        try:
            return until - timedelta(seconds=parse_duration(value))
        except ValueError as e:
            raise InputError(f"--since: {e}", source="handoff") from None
    return cli.parse_instant(value, "--since")


def previous_findings(current: Snapshot, since: datetime) -> list[Finding] | None:
    """The findings of the latest stored snapshot of this config answering for an instant at or before the
    shift's start (the previous handoff's view); None when there is none."""
    from agent.store import Store
    from rules.engine import run_checks
    from rules.graph import OwnershipGraph

    loaded = cli._loaded()
    store = Store(cli._store_url(loaded))
    try:
        store.migrate()
        rows = [(at, sid) for sid, _taken, at in store.history(limit=500) if sid != current.id and at <= since]
        if not rows:
            return None
        at, sid = max(rows)
        snap = store.get(sid)
    finally:
        store.close()
    if snap is None:
        return None
    return run_checks(OwnershipGraph.build(snap), at, loaded.pack())


def handoff_cmd(
    team: str = typer.Argument(..., help="a catalog team name"),
    since: str | None = typer.Option(
        None, "--since", help="shift start: ISO 8601 instant, or a duration before --until (default 7d)"
    ),
    until: str | None = typer.Option(None, "--until", help="shift end and handoff instant (default --now)"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write the report to FILE instead of stdout"),
) -> None:
    """The on-call handoff of TEAM: incidents in the shift, still open, firing now, noise, new findings, who is next."""
    from agent.reports.handoff import build_handoff, render_handoff
    from rules.engine import run_checks
    from rules.graph import OwnershipGraph
    from rules.paging import PagingResolver

    fmt = document_format("handoff")
    snap, now = cli.current_snapshot()
    end = cli.parse_instant(until, "--until") if until else now
    start = _since(since, end)
    if start >= end:
        raise InputError("--since must be before --until", source="handoff")
    graph = OwnershipGraph.build(snap)
    findings = run_checks(graph, now, cli._loaded().pack())
    h = build_handoff(
        graph, PagingResolver(graph), findings, team, start, end, previous_findings=previous_findings(snap, start)
    )
    emit(h.model_dump_json(indent=2) if fmt == "json" else render_handoff(h, fmt), output)
