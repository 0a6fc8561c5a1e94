"""One collection run: every source concurrently, each with its timeout; failures keep last good facts."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from rich.markup import escape

from agent.config import LoadedConfig
from agent.errors import OwnershipError
from collectors import registry
from collectors.durations import parse_duration
from collectors.facts import Snapshot, SourceResult, SourceStatus

log = logging.getLogger("ownership.collect")
tracer = trace.get_tracer("ownership-agent")


def _error_text(e: BaseException) -> str:
    if isinstance(e, OwnershipError):
        return str(e)
    return f"{type(e).__name__}: {e}"


def make_collectors(
    loaded: LoadedConfig, now: datetime | None = None, previous: Snapshot | None = None, **io: Any
) -> list[Any]:
    """One collector per source; each gets `now` and its own previous facts (for incremental reads) when known."""
    reg = registry()
    prev = {(s.status.name, s.status.kind): s.facts for s in (previous.sources if previous else []) if s.facts}
    out = []
    for src in loaded.config.sources:
        cls = reg.get(src.kind)
        if cls is None:
            raise OwnershipError(f"no collector for source kind {src.kind!r}", source=src.name)
        kw = dict(io)
        if now is not None:
            kw.setdefault("now", now)
        if (src.name, src.kind) in prev:
            kw.setdefault("previous_facts", prev[(src.name, src.kind)])
        out.append(cls(src, loaded.base, **kw))
    return out


class _Progress:
    """A rich progress bar on a terminal; nothing otherwise (the structured log lines say it all)."""

    def __init__(self, show: bool, total: int):
        self._bar: Any = None
        self._task: Any = None
        if show and total:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                transient=True,
            )
            self._task = self._bar.add_task("collecting", total=total)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def done(self, status: SourceStatus, waiting: list[str]) -> None:
        if self._bar is not None:
            desc = "waiting for " + ", ".join(waiting[:3]) + ("…" if len(waiting) > 3 else "") if waiting else "done"
            self._bar.update(self._task, advance=1, description=desc)
            mark = "[green]ok[/]" if status.ok else f"[red]failed[/]: {escape(status.error or '')}"
            self._bar.console.print(f"{escape(status.name)} ({status.kind}) {mark} in {status.duration_s:.2f}s")


def _run(c: Any, fut: Future, ctx: Any) -> None:
    """Run one collector in its own thread, inside a span that is a child of the collection's."""
    token = otel_context.attach(ctx)
    try:
        with tracer.start_as_current_span(
            f"collect {c.name}", attributes={"source.name": c.name, "source.kind": c.kind}
        ) as span:
            t0 = time.perf_counter()
            try:
                got = c.collect()
            except BaseException as e:  # every failure becomes a status, never a crash
                span.set_status(Status(StatusCode.ERROR, _error_text(e)))
                span.set_attribute("error.type", type(e).__name__)
                fut.set_result((None, time.perf_counter() - t0, e))
                return
            span.set_attribute("duration_s", time.perf_counter() - t0)
            if got.detail:
                span.set_attribute("source.detail", got.detail)
            fut.set_result((got, time.perf_counter() - t0, None))
    finally:
        otel_context.detach(token)


def collect(
    loaded: LoadedConfig,
    now: datetime,
    previous: Snapshot | None = None,
    on_done: Callable[[SourceStatus], None] | None = None,
    progress: bool | None = None,
    **io: Any,
) -> Snapshot:
    """Run every collector concurrently; a failed or timed-out source keeps its previous facts, marked stale.

    Each source has its own deadline (`timeout_s`, counted from the start of the run); a
    collector still running past it is left to finish in a daemon thread and never blocks the
    run. `progress=None` shows a progress bar when stdout is a terminal.
    """
    from agent.gcpause import bulk_build

    with bulk_build():  # the facts live as long as the snapshot
        return _collect(loaded, now, previous, on_done, progress, **io)


def _collect(
    loaded: LoadedConfig,
    now: datetime,
    previous: Snapshot | None,
    on_done: Callable[[SourceStatus], None] | None,
    progress: bool | None,
    **io: Any,
) -> Snapshot:
    taken_at = datetime.now(UTC)
    from collectors.disk_cache import prune_cache

    prune_cache()  # at most once a day: entries unread for a month (old versions' mostly)
    prev = {(s.status.name, s.status.kind): s for s in (previous.sources if previous else [])}
    collectors = make_collectors(loaded, now, previous, **io)
    show = sys.stdout.isatty() if progress is None else progress
    results: dict[int, SourceResult] = {}
    t_run = time.perf_counter()
    with tracer.start_as_current_span("collection") as span, _Progress(show, len(collectors)) as bar:
        span.set_attribute("sources", len(collectors))
        ctx = otel_context.get_current()
        started = time.monotonic()
        futures: list[tuple[Any, Future]] = []
        for c in collectors:
            fut: Future = Future()
            threading.Thread(target=_run, args=(c, fut, ctx), name=f"collect-{c.name}", daemon=True).start()
            futures.append((c, fut))
        deadline = {i: started + c.config.timeout_s for i, (c, _) in enumerate(futures)}
        pending = set(deadline)
        while pending:
            nearest = min(deadline[i] for i in pending)
            wait(
                [futures[i][1] for i in pending],
                timeout=max(0.0, nearest - time.monotonic()),
                return_when=FIRST_COMPLETED,
            )
            for i in sorted(pending):
                c, fut = futures[i]
                if fut.done():
                    res = _outcome(c, fut, prev, taken_at, now)
                elif time.monotonic() >= deadline[i]:
                    res = _failed(
                        c, prev, taken_at, f"timed out after {c.config.timeout_s:g}s", time.monotonic() - started
                    )
                    span.add_event("source timed out", {"source.name": c.name})
                else:
                    continue
                pending.discard(i)
                results[i] = res
                _log(res)
                bar.done(res.status, [futures[j][0].name for j in sorted(pending)])
                if on_done:
                    on_done(res.status)
        failed = sum(1 for r in results.values() if not r.status.ok)
        span.set_attribute("sources.failed", failed)
        log.info(
            "collection done sources=%d ok=%d failed=%d duration_s=%.3f",
            len(results),
            len(results) - failed,
            failed,
            time.perf_counter() - t_run,
        )
    return Snapshot(taken_at=taken_at, now=now, sources=[results[i] for i in range(len(futures))])


def _outcome(c: Any, fut: Future, prev: dict, taken_at: datetime, now: datetime) -> SourceResult:
    collected, dur, exc = fut.result()
    if exc is not None:
        return _failed(c, prev, taken_at, _error_text(exc), dur)
    cfg = c.config
    observed = collected.observed_at or taken_at
    stale_after = parse_duration(cfg.stale_after)
    stale = now - observed > timedelta(seconds=stale_after)
    detail = collected.detail
    if stale:
        detail = f"{detail + '; ' if detail else ''}observed at {observed.isoformat()}, older than {cfg.stale_after}"
    return SourceResult(
        status=SourceStatus(
            name=c.name,
            kind=c.kind,
            ok=True,
            stale=stale,
            collected_at=taken_at,
            last_success_at=observed,
            duration_s=round(dur, 4),
            detail=detail,
            facts_key=getattr(collected, "facts_key", None),  # (a plugin's result may predate the field)
        ),
        facts=collected.facts,
    ).with_stored_text(getattr(collected, "stored_text", None))


def _log(res: SourceResult) -> None:
    """One structured line per source: logfmt in the message, the same fields as `extra`."""
    st = res.status
    fields = {
        "source": st.name,
        "source_kind": st.kind,
        "ok": st.ok,
        "stale": st.stale,
        "duration_s": st.duration_s,
    }
    if st.ok:
        log.info(
            "source collected source=%s kind=%s ok=true stale=%s duration_s=%.3f detail=%r",
            st.name,
            st.kind,
            str(st.stale).lower(),
            st.duration_s,
            st.detail or "",
            extra=fields,
        )
    else:
        log.warning(
            "source failed source=%s kind=%s ok=false kept_previous=%s error=%r",
            st.name,
            st.kind,
            str(res.facts is not None).lower(),
            st.error,
            extra={**fields, "error": st.error},
        )


def _failed(c: Any, prev: dict, taken_at: datetime, error: str, dur: float) -> SourceResult:
    old = prev.get((c.name, c.kind))
    return SourceResult(
        status=SourceStatus(
            name=c.name,
            kind=c.kind,
            ok=False,
            stale=True,
            collected_at=taken_at,
            last_success_at=old.status.last_success_at if old else None,
            error=error,
            duration_s=round(dur, 4),
            detail="keeping the facts of the last good collection" if old and old.facts else "no earlier facts",
        ),
        facts=old.facts if old else None,
    )
