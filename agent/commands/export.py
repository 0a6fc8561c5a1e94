"""`ownership export pagerduty DIR`: write what the live PagerDuty API returns as the export folder of DESIGN.md."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.config import PagerDutySource
from agent.errors import ConfigError

export_app = typer.Typer(
    help="Write what a live source returns as the files its file collector reads.", no_args_is_help=True
)


@export_app.command("pagerduty")
def export_pagerduty(
    folder: Path = typer.Argument(
        ..., metavar="DIR", help="folder to write (created; files of the same name replaced)"
    ),
    source: str | None = typer.Option(None, "--source", help="the PagerDuty source to read (default: the only one)"),
) -> None:
    """Read every PagerDuty list the collector uses (a full read) and write one JSON list body per endpoint."""
    from agent import cli
    from collectors.pagerduty_live import LiveReader, write_export_dir

    loaded = cli._loaded()
    live = [s for s in loaded.config.sources if isinstance(s, PagerDutySource)]
    if source is not None:
        live = [s for s in live if s.name == source]
        if not live:
            raise ConfigError(f"no PagerDuty source named {source!r}", file=str(loaded.path))
    if not live:
        raise ConfigError("the config has no PagerDuty source", file=str(loaded.path))
    if len(live) > 1:
        names = ", ".join(s.name for s in live)
        raise ConfigError(f"several PagerDuty sources ({names}): choose one with --source", file=str(loaded.path))
    src = live[0]
    if src.export_dir:
        raise ConfigError(
            "reads an export folder already (export_dir); the export reads the live API (auth)", source=src.name
        )
    reader = LiveReader(src, loaded.base, cli._now(loaded))
    bodies = reader.bodies()
    written = write_export_dir(folder, bodies)
    requests = sum(reader.requests_made.values())
    if cli.G.format == "json":
        out = {"folder": str(folder), "files": {p.name: len(bodies[p.stem]) for p in written}, "requests": requests}
        if reader.unavailable:  # lists the account may not read (a 402), written empty
            out["not_read"] = dict(sorted(reader.unavailable.items()))
        cli._emit_json(out)
        return
    counts = ", ".join(f"{len(bodies[p.stem])} {p.stem}" for p in written)
    cli.out.print(f"wrote {len(written)} files to {folder} ({counts}; {requests} requests)", markup=False)
    for key, why in sorted(reader.unavailable.items()):
        cli.err.print(f"{src.name}: {key} written empty, not read: {why}", markup=False)
