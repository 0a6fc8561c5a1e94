"""`ownership memo SERVICE`: the design-memo skeleton of a service, as Markdown (default), HTML or JSON."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

import typer

from agent import cli
from agent.errors import InputError
from collectors.facts import Snapshot

HISTORY_SCAN = 200  # stored snapshots looked at for the metric's earlier values
HISTORY_POINTS = 6  # of which at most this many are loaded: the oldest and the most recent ones


def document_format(what: str) -> Literal["md", "html", "json"]:
    """The global --format as a document format: md (also for the default `table`), html or json."""
    fmt = cli.G.format
    if fmt in ("table", "md"):
        return "md"
    if fmt == "html":
        return "html"
    if fmt == "json":
        return "json"
    raise InputError(f"--format {fmt} is not available for {what} (md, html, json)", source=what)


def emit(text: str, output: Path | None) -> None:
    """The document on stdout, or in a file: written as it is (no console markup or wrapping)."""
    if output is not None:
        output.write_text(text, encoding="utf-8")
        cli.err.print(f"wrote {output}", markup=False)
        return
    cli.out.file.write(text if text.endswith("\n") else text + "\n")
    cli.out.file.flush()


def earlier_snapshots(current: Snapshot, now: datetime) -> list[tuple[int | None, datetime, Snapshot]]:
    """Earlier snapshots of the same config (its store) that answer for an instant before `now`:
    the oldest and the most recent few, oldest first."""
    from agent.store import Store

    loaded = cli._loaded()
    store = Store(cli._store_url(loaded))
    try:
        store.migrate()
        rows = [(sid, at) for sid, _taken, at in store.history(limit=HISTORY_SCAN) if sid != current.id and at < now]
        rows.sort(key=lambda r: (r[1], r[0]))
        if len(rows) > HISTORY_POINTS:
            rows = [rows[0], *rows[-(HISTORY_POINTS - 1) :]]
        out: list[tuple[int | None, datetime, Snapshot]] = []
        for sid, at in rows:
            snap = store.get(sid)
            if snap is not None:
                out.append((sid, at, snap))
        return out
    finally:
        store.close()


def memo_cmd(
    service: str = typer.Argument(..., help="a catalog service name"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write the memo to FILE instead of stdout"),
) -> None:
    """The design-memo skeleton of SERVICE: six questions pre-filled with evidence (--format md|html|json)."""
    from agent.reports.memo import build_memo, render_memo
    from rules.engine import run_checks
    from rules.graph import OwnershipGraph
    from rules.paging import PagingResolver

    fmt = document_format("memo")
    snap, now = cli.current_snapshot()
    loaded = cli._loaded()
    graph = OwnershipGraph.build(snap)
    pack = loaded.pack()  # (reads and validates the pack's file: once)
    findings = run_checks(graph, now, pack)
    memo = build_memo(
        graph,
        PagingResolver(graph),
        findings,
        service,
        now,
        earlier_snapshots(snap, now),
        base_dir=loaded.base,
        pack=pack,
    )
    emit(memo.model_dump_json(indent=2) if fmt == "json" else render_memo(memo, fmt), output)
