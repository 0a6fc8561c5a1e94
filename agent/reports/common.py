"""Shared pieces of the documents: cited facts, suggestions, source times, paths and the jinja2 environment."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import jinja2
import markupsafe
from pydantic import BaseModel, Field

from rules.graph import OwnershipGraph

TEMPLATES = Path(__file__).parent / "templates"  # package data beside the module
Format = Literal["md", "html"]


class Cited(BaseModel):
    """A fact and where it comes from: the source (name and kind), when it said it, and the file and line."""

    text: str
    source: str = Field(description="source name from the config, or `derived` for a computed value")
    kind: str = Field(description="source kind, e.g. prometheus_signals")
    at: datetime | None = Field(None, description="as of when the source said it")
    where: str | None = Field(None, description="file:line, relative to the config's folder where possible")
    tag: str | None = Field(None, description="a short label, e.g. the bottleneck category")


class Suggestion(BaseModel):
    """A suggestion, never a measured fact; `detail` holds a code block (e.g. a Prometheus rule file)."""

    text: str
    detail: str | None = None
    finding: str | None = Field(None, description="the finding it comes from: check id and subject")
    suggestion: bool = True


class Question(BaseModel):
    """One question of a document, pre-filled with evidence and left open for judgment."""

    number: int
    title: str
    evidence: list[Cited] = Field(default_factory=list)
    unknown: list[str] = Field(default_factory=list, description="what the sources cannot tell")
    suggestions: list[Suggestion] = Field(default_factory=list)
    judgment: str = Field("", description="left empty for the reader")


class SourceAsOf(BaseModel):
    name: str
    kind: str
    state: str = Field(description="ok, stale or failed")
    at: datetime | None = Field(None, description="as of when its facts hold")
    error: str | None = None


# --------------------------------------------------------------------------- sources and times


def as_of(t: datetime | None, now: datetime) -> datetime | None:
    """A source's time as of the document's instant: facts read after `now` are shown as of `now`
    (a recording made before it keeps its own time). Keeps documents about a past instant deterministic."""
    if t is None:
        return None
    return min(t, now)


def sources_as_of(g: OwnershipGraph, now: datetime) -> list[SourceAsOf]:
    out = []
    for res in g.snapshot.sources:
        st = res.status
        state = "failed" if not st.ok else ("stale" if st.stale else "ok")
        out.append(
            SourceAsOf(name=st.name, kind=st.kind, state=state, at=as_of(st.last_success_at, now), error=st.error)
        )
    return out


class SourceTimes:
    """Name and as-of time of each source, looked up by name or by kind."""

    def __init__(self, g: OwnershipGraph, now: datetime):
        self.now = now
        self.by_name: dict[str, tuple[str, datetime | None]] = {}
        self.by_kind: dict[str, tuple[str, datetime | None]] = {}
        for res in g.snapshot.sources:
            st = res.status
            v = (st.kind, as_of(st.last_success_at, now))
            self.by_name[st.name] = v
            self.by_kind.setdefault(st.kind, (st.name, v[1]))

    def named(self, name: str, kind: str) -> tuple[str, str, datetime | None]:
        k, at = self.by_name.get(name, (kind, None))
        return name, k, at

    def of_kind(self, kind: str) -> tuple[str, str, datetime | None]:
        name, at = self.by_kind.get(kind, (kind, None))
        return name, kind, at

    def cite(
        self, text: str, kind: str, name: str | None = None, where: str | None = None, tag: str | None = None
    ) -> Cited:
        src, k, at = self.named(name, kind) if name else self.of_kind(kind)
        return Cited(text=text, source=src, kind=k, at=at, where=where, tag=tag)


def relpath(file: str | None, line: int | None = None, base: Path | None = None) -> str | None:
    """file:line, relative to `base` (the config's folder) or the working directory when under it."""
    if not file:
        return None
    p = Path(file)
    shown = file
    for root in (base, Path.cwd()):
        if root is None or not p.is_absolute():
            continue
        try:
            shown = p.resolve().relative_to(root.resolve()).as_posix()
            break
        except ValueError:
            continue
    return f"{shown}:{line}" if line else shown


# --------------------------------------------------------------------------- formatting


def fmt_time(t: datetime | None) -> str:
    if t is None:
        return "unknown time"
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def fmt_local(t: datetime | None, tz: str) -> str:
    if t is None:
        return ""
    from rules.oncall import zone

    try:
        z = zone(tz)
    except ValueError:
        return ""
    return t.astimezone(z).strftime("%a %H:%M ") + tz


def fmt_duration(seconds: float | timedelta | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds.total_seconds() if isinstance(seconds, timedelta) else seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m {s:02d}s" if s else f"{m}m"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h}h {m:02d}m" if m else f"{h}h"
    d, h = divmod(h, 24)
    return f"{d}d {h}h" if h else f"{d}d"


def fmt_number(v: float | int | None, unit: str | None = None) -> str:
    if v is None:
        return "unknown"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    text = f"{v:,}" if isinstance(v, int) else f"{v:,.1f}" if abs(v) >= 100 else f"{v:g}"
    if unit and v == 1:
        unit = _SINGULAR.get(unit, unit)
    return f"{text} {unit}" if unit else text


_SINGULAR = {
    "episodes": "episode",
    "incidents": "incident",
    "messages": "message",
    "hours": "hour",
    "seconds": "second",
}


_MD_SPECIAL = re.compile(r"([\\<>\[\]|])")
_CODE_SPAN = re.compile(r"(`[^`]*`)")


def md_escape(v: Any) -> str:
    """Text for Markdown: raw HTML, links and table pipes escaped; `code spans` the text itself made are kept
    (only pipes are escaped inside them, for tables)."""
    s = ("" if v is None else str(v)).replace("\r", " ").replace("\n", " ")
    parts = _CODE_SPAN.split(s)
    return "".join(p.replace("|", "\\|") if i % 2 else _MD_SPECIAL.sub(r"\\\1", p) for i, p in enumerate(parts))


def html_text(v: Any) -> markupsafe.Markup:
    """Text for HTML: escaped, then the `code spans` the text itself made shown as <code>."""
    s = str(markupsafe.escape("" if v is None else str(v)))
    return markupsafe.Markup(_CODE_SPAN.sub(lambda m: "<code>" + m.group(1)[1:-1] + "</code>", s))


def md_code(v: Any) -> str:
    """An inline code span that survives backticks in the text."""
    s = ("" if v is None else str(v)).replace("\n", " ")
    fence = "``" if "`" in s else "`"
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def environment(fmt: Format) -> jinja2.Environment:
    """The templates' environment: HTML autoescaped (everything from a source is escaped), Markdown through `md`."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=fmt == "html",
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        md=md_escape,
        text=html_text if fmt == "html" else md_escape,
        code=md_code,
        ts=fmt_time,
        local=fmt_local,
        dur=fmt_duration,
        num=fmt_number,
    )
    return env


def render(template: str, fmt: Format, **ctx: Any) -> str:
    if fmt not in ("md", "html"):
        raise ValueError(f"format must be md or html, not {fmt!r}")
    text = environment(fmt).get_template(f"{template}.{fmt}.j2").render(**ctx)
    return re.sub(r"\n{3,}", "\n\n", text) if fmt == "md" else text
