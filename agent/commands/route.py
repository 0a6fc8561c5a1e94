"""`ownership route`: which receivers an alert reaches, printed exactly as `amtool config routes test`."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import typer

from agent.errors import InputError
from collectors.alertmanager_config import load_alertmanager_config, matcher_value
from rules.routing import CompiledTree, RouteMatch, intervals_by_name, suppressed_at

# labels.ParseMatcher (Alertmanager 0.25), which amtool uses for its label arguments; Go's \s is ASCII.
_LABEL_ARG = re.compile(
    r"[\t\n\f\r ]*([a-zA-Z_:][a-zA-Z0-9_:]*)[\t\n\f\r ]*(=~|=|!=|!~)[\t\n\f\r ]*(.*?)[\t\n\f\r ]*", re.S
)


def parse_label_arg(text: str) -> tuple[str, str]:
    """`name=value` or `name="value"` as amtool reads it (same trimming, quoting and escapes)."""
    m = _LABEL_ARG.fullmatch(text)
    if not m:
        raise InputError(f"bad matcher format: {text}")
    name, op, raw = m.group(1), m.group(2), m.group(3)
    try:
        value = matcher_value(raw)
    except ValueError as e:
        raise InputError(str(e)) from None
    if op != "=":
        raise InputError(f"labels must be specified as key=value pairs: {text}")
    return name, value


def parse_label_args(args: list[str]) -> dict[str, str]:
    """Label arguments -> label set (a later duplicate wins, as amtool)."""
    out: dict[str, str] = {}
    for a in args:
        name, value = parse_label_arg(a)
        out[name] = value
    return out


def read_labels_file(path: Path) -> list[dict[str, str]]:
    """JSON lines, one object of string labels per line; blank lines are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", file=str(path)) from None
    out: list[dict[str, str]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"not JSON: {e.msg}", file=str(path), line=n) from None
        if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
            raise InputError("expected a JSON object of string label values", file=str(path), line=n)
        out.append(obj)
    return out


def _parse_at(value: str) -> datetime:
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--at: not an ISO 8601 instant: {value!r}") from None
    if t.tzinfo is None:
        raise InputError(f"--at: the instant needs a UTC offset, e.g. {value}+00:00")
    return t


def render(matches: list[RouteMatch], tree: bool, suppressed: list[bool] | None = None) -> list[str]:
    """The receiver line (amtool's format: names joined by commas) and, with `tree`, one line per route."""
    muted = suppressed or [False] * len(matches)
    lines = [",".join(m.receiver for m, off in zip(matches, muted, strict=True) if not off)]
    if tree:
        for m, off in zip(matches, muted, strict=True):
            note = "  (muted at --at)" if off else ""
            lines.append(f"  {m.path_text}  {m.where}  receiver={m.receiver}{note}")
    return lines


def route_cmd(
    labels: list[str] | None = typer.Argument(None, help='Alert labels as LABEL=VALUE (or LABEL="VALUE"), as amtool.'),
    alertmanager: Path = typer.Option(..., "--alertmanager", help="The alertmanager.yml to route with."),
    at: str | None = typer.Option(
        None, "--at", help="ISO 8601 instant: drop receivers whose routes are muted or not active then."
    ),
    tree: bool = typer.Option(False, "--tree", help="Also print each matched route's path and file:line."),
    labels_file: Path | None = typer.Option(
        None, "--labels-file", help="JSON lines, one label object per line: one output line per set."
    ),
) -> None:
    """Print the receivers an alert reaches, exactly as `amtool config routes test` does."""
    when = _parse_at(at) if at is not None else None
    if labels_file is not None and labels:
        raise InputError("give either label arguments or --labels-file, not both")
    label_sets = read_labels_file(labels_file) if labels_file is not None else [parse_label_args(labels or [])]
    facts = load_alertmanager_config(alertmanager)
    compiled = CompiledTree(facts)
    intervals = intervals_by_name(facts)
    lines: list[str] = []
    for matches in compiled.match_many(label_sets):
        off = [suppressed_at(m, when, intervals) for m in matches] if when is not None else None
        lines.extend(render(matches, tree, off))
    typer.echo("\n".join(lines))
