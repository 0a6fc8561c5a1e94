"""The `ownership` command line. Exit 0 on success, 1 when --fail-on finds something, 2 for bad input.

Global options (--config, --demo, --now, --format) may appear before or after the command.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import typer
from rich.console import Console
from rich.table import Table

from agent import demo as demo_org
from agent.answers import Summary
from agent.config import LoadedConfig, default_config_path, load_config
from agent.errors import OwnershipError
from agent.instants import instant_problem
from collectors.facts import Snapshot

# typer 0.2x raises the exceptions of its own copy of click (a usage error, --help's exit), older typer and
# this module click's own: both are caught
_CLICK_ERRORS = tuple(
    {click.ClickException, *(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")}
)
_EXITS = tuple({click.exceptions.Exit, typer.Exit})
_ABORTS = tuple({click.exceptions.Abort, typer.Abort})

app = typer.Typer(
    name="ownership",
    help="Which production problems will page me if this system fails?",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# Pipes and CI logs get wide tables rather than rich's 80 columns.
_WIDTH = None if sys.stdout.isatty() else 200
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)

GLOBAL_VALUE_OPTS = ("--config", "--now", "--format")
GLOBAL_FLAG_OPTS = ("--demo",)


@dataclass
class Globals:
    config: Path | None = None
    demo: bool = False
    now: datetime | None = None
    format: str = "table"
    loaded: LoadedConfig | None = None


G = Globals()


def _split_globals(argv: list[str]) -> list[str]:
    """Take the global options out of argv wherever they are."""
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        name, eq, val = a.partition("=")
        if a == "--":
            rest.extend(argv[i:])
            break
        if name in GLOBAL_VALUE_OPTS:
            if not eq:
                if i + 1 >= len(argv):
                    raise click.UsageError(f"option {name} requires a value")
                val = argv[i + 1]
                i += 1
            _set_global(name, val)
        elif a in GLOBAL_FLAG_OPTS:
            G.demo = True
        else:
            rest.append(a)
        i += 1
    return rest


def _set_global(name: str, val: str) -> None:
    if name == "--config":
        G.config = Path(val)
    elif name == "--now":
        G.now = parse_instant(val, "--now")
    elif name == "--format":
        if val not in ("table", "json", "md", "html", "sarif"):
            raise click.UsageError(f"--format must be one of table, json, md, html, sarif (got {val!r})")
        G.format = val


def parse_instant(val: str, what: str) -> datetime:
    try:
        t = datetime.fromisoformat(val.replace("Z", "+00:00"))
    except ValueError:
        raise click.UsageError(f"{what}: not an ISO 8601 instant: {val!r}") from None
    problem = instant_problem(
        t
    )  # the API's bounds (a date alone is suggested with a time: `2026-11-19+00:00` is no instant)
    if problem is not None:
        raise click.UsageError(f"{what}: {problem}")
    return t


def _loaded() -> LoadedConfig:
    """The config of this invocation, read and validated once (commands ask for it more than once)."""
    if G.loaded is not None:
        return G.loaded
    loaded = load_config(demo_org.config_path() if G.demo else (G.config or default_config_path()))
    G.loaded = loaded
    if loaded.config.tracing.otlp_endpoint:
        from agent.telemetry import setup_tracing

        setup_tracing(loaded.config.tracing.otlp_endpoint)
    return loaded


def _now(loaded: LoadedConfig) -> datetime:
    return G.now or loaded.config.now or datetime.now(UTC)


def _store_url(loaded: LoadedConfig) -> str:
    return demo_org.store_url() if G.demo else loaded.store_url()


def _emit_json(model: Any) -> None:
    if hasattr(model, "model_dump_json"):
        out.print(model.model_dump_json(indent=2), markup=False)
    else:
        out.print(json.dumps(model, indent=2, default=str), markup=False)


def _print_summary(s: Summary, title: str) -> None:
    if G.format == "json":
        _emit_json(s)
        return
    out.print(f"[bold]{title}[/bold] at {s.now.isoformat()} (snapshot {s.snapshot_id})")
    t = Table(show_header=False, box=None, pad_edge=False)
    for label, value in (
        ("services", s.services),
        ("teams", s.teams),
        ("people", s.people),
        ("alert rules", s.alert_rules),
        ("recording rules", s.recording_rules),
        ("routes", s.routes),
        ("receivers", s.receivers),
        ("PagerDuty services", s.pagerduty_services),
        ("escalation policies", s.escalation_policies),
        ("schedules", s.schedules),
        ("incidents", s.incidents),
        ("SLOs", s.slos),
        ("queues with lag", s.queues_with_lag),
        ("slow statements", s.slow_statements),
    ):
        t.add_row(label, str(value))
    out.print(t)
    if s.unowned_services:
        out.print(f"services with no owning team: {', '.join(s.unowned_services)}")
    oc = Table(title="On call now", title_justify="left")
    for col in ("team", "escalation policy", "level", "people"):
        oc.add_column(col)
    for o in s.on_call_now:
        oc.add_row(o.team or "-", o.escalation_policy, str(o.level), ", ".join(o.people) or "nobody")
    out.print(oc)
    st = Table(title="Sources", title_justify="left")
    for col in ("source", "kind", "state", "last success", "detail"):
        st.add_column(col)
    for src in s.sources:
        colour = {"ok": "green", "stale": "yellow", "failed": "red"}[src.state]
        st.add_row(
            src.name,
            src.kind,
            f"[{colour}]{src.state}[/{colour}]",
            src.last_success_at.isoformat() if src.last_success_at else "never",
            src.error or src.detail or "",
        )
    out.print(st)


def _run_collection(loaded: LoadedConfig, store_url: str, title: str) -> Summary:
    from agent.pipeline import collect
    from agent.store import Store
    from agent.summary import summarize
    from rules.graph import OwnershipGraph

    store = Store(store_url)
    try:
        store.migrate()
        previous = store.latest()
        snap = collect(loaded, _now(loaded), previous)
        store.save(snap)
        store.apply_retention(*loaded.config.store.retention_days())
    finally:
        store.close()
    from rules.engine import run_checks

    graph = OwnershipGraph.build(snap)
    summary = summarize(graph)
    summary.findings = run_checks(graph, snap.now, loaded.pack())
    _print_summary(summary, title)
    if G.format != "json":
        from agent.commands.findings import print_table

        print_table(summary.findings)
    return summary


def current_snapshot() -> tuple[Snapshot, datetime]:
    """The snapshot answers are computed from, and the instant: the demo is collected afresh
    (files, no network); a config's latest stored snapshot is used, collected first if none exists."""
    from agent.pipeline import collect
    from agent.store import Store

    loaded = _loaded()
    now = _now(loaded)
    store = Store(_store_url(loaded))
    try:
        store.migrate()
        snap = None if G.demo else store.latest()
        if snap is None:
            snap = collect(loaded, now, store.latest())
            store.save(snap)
    finally:
        store.close()
    return snap, now


@app.command("demo")
def demo_cmd(
    export: Path | None = typer.Option(None, "--export", help="write the demo organisation to DIR and stop"),
) -> None:
    """Run the whole pipeline on the bundled demo organisation (no server, no network)."""
    if export is not None:
        written = demo_org.export(export)
        out.print(f"wrote {len(written)} files to {export} (start with {export / 'ownership.yaml'})")
        return
    G.demo = True
    loaded = _loaded()
    _run_collection(loaded, demo_org.store_url(), "Demo organisation")


@app.command("collect")
def collect_cmd() -> None:
    """Collect every source of the config into a new snapshot and print the summary."""
    loaded = _loaded()
    _run_collection(loaded, _store_url(loaded), "Collection")


@app.command("check-config")
def check_config_cmd() -> None:
    """Validate the config and every source file it names; exit 2 naming FILE:LINE on the first problem of each source."""
    from agent.pipeline import make_collectors

    loaded = _loaded()
    problems: list[str] = []
    for c in make_collectors(loaded):
        try:
            got = c.collect()
        except OwnershipError as e:
            problems.append(str(e) if (e.file or e.source) else f"{c.name}: {e}")
            continue
        if G.format != "json":
            out.print(f"ok  {c.name} ({c.kind}){': ' + got.detail if got.detail else ''}")
    if problems:
        for p in problems:
            err.print(p, markup=False)
        raise typer.Exit(2)
    if G.format == "json":
        _emit_json({"ok": True, "config": str(loaded.path)})


from agent.commands.route import route_cmd  # noqa: E402

app.command("route")(route_cmd)


from agent.commands.pages import pages_cmd  # noqa: E402

app.command("pages")(pages_cmd)

from agent.commands.export import export_app  # noqa: E402

app.add_typer(export_app, name="export")


from agent.commands.findings import findings_cmd  # noqa: E402

app.command("findings")(findings_cmd)

from agent.commands.serve import serve_cmd  # noqa: E402

app.command("serve")(serve_cmd)

from agent.commands.memo import memo_cmd  # noqa: E402

app.command("memo")(memo_cmd)

from agent.commands.handoff import handoff_cmd  # noqa: E402

app.command("handoff")(handoff_cmd)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: clean messages and exit code 2 for bad input, never a traceback."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = list(sys.argv[1:] if argv is None else argv)
    G.__init__()  # type: ignore[misc]  # reset in place: command modules hold a reference
    try:
        rest = _split_globals(args)
        rc = app(args=rest, prog_name="ownership", standalone_mode=False)
        if isinstance(rc, int):
            return rc
    except OwnershipError as e:
        # FILE:LINE: message (or SOURCE: message) as it is; anything else gets a prefix
        err.print(str(e) if (e.file or e.source) else f"error: {e}", markup=False)
        return e.exit_code
    except _EXITS as e:
        return e.exit_code
    except _CLICK_ERRORS as e:
        e.show()
        return 2
    except _ABORTS:
        err.print("aborted")
        return 130
    return 0
