"""One collection run: every source concurrently, each with its timeout; failures keep last good facts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import trace

from agent.config import LoadedConfig
from agent.errors import OwnershipError
from collectors import Collected, registry
from collectors.durations import parse_duration
from collectors.facts import Snapshot, SourceResult, SourceStatus

log = logging.getLogger("ownership.collect")
tracer = trace.get_tracer("ownership-agent")


def _error_text(e: BaseException) -> str:
    if isinstance(e, OwnershipError):
        return str(e)
    return f"{type(e).__name__}: {e}"


def make_collectors(loaded: LoadedConfig, **io: Any) -> list[Any]:
    reg = registry()
    out = []
    for src in loaded.config.sources:
        cls = reg.get(src.kind)
        if cls is None:
            raise OwnershipError(f"no collector for source kind {src.kind!r}", source=src.name)
        out.append(cls(src, loaded.base, **io))
    return out


def collect(
    loaded: LoadedConfig,
    now: datetime,
    previous: Snapshot | None = None,
    on_done: Callable[[SourceStatus], None] | None = None,
    **io: Any,
) -> Snapshot:
    """Run every collector; a failed source keeps its previous facts, marked stale with its error."""
    taken_at = datetime.now(UTC)
    prev = {(s.status.name, s.status.kind): s for s in (previous.sources if previous else [])}
    collectors = make_collectors(loaded, **io)
    results: list[SourceResult] = []
    with (
        tracer.start_as_current_span("collection") as span,
        ThreadPoolExecutor(max_workers=max(1, min(8, len(collectors))), thread_name_prefix="collect") as pool,
    ):
        span.set_attribute("sources", len(collectors))

        def run(c: Any) -> tuple[Collected, float]:
            with tracer.start_as_current_span(f"collect {c.name}", attributes={"source.kind": c.kind}):
                t0 = time.perf_counter()
                return c.collect(), time.perf_counter() - t0

        futures = [(c, pool.submit(run, c)) for c in collectors]
        for c, fut in futures:
            cfg = c.config
            t0 = time.perf_counter()
            try:
                collected, dur = fut.result(timeout=cfg.timeout_s)
            except FutureTimeout:
                res = _failed(c, prev, taken_at, f"timed out after {cfg.timeout_s:g}s", time.perf_counter() - t0)
            except Exception as e:  # every failure becomes a status, never a crash
                res = _failed(c, prev, taken_at, _error_text(e), time.perf_counter() - t0)
            else:
                observed = collected.observed_at or taken_at
                stale_after = parse_duration(cfg.stale_after)
                stale = now - observed > timedelta(seconds=stale_after)
                detail = collected.detail
                if stale:
                    detail = f"{detail + '; ' if detail else ''}observed at {observed.isoformat()}, older than {cfg.stale_after}"
                res = SourceResult(
                    status=SourceStatus(
                        name=c.name,
                        kind=c.kind,
                        ok=True,
                        stale=stale,
                        collected_at=taken_at,
                        last_success_at=observed,
                        duration_s=round(dur, 4),
                        detail=detail,
                    ),
                    facts=collected.facts,
                )
            if not res.status.ok:
                log.warning("source %s failed: %s", c.name, res.status.error)
            results.append(res)
            if on_done:
                on_done(res.status)
    return Snapshot(taken_at=taken_at, now=now, sources=results)


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
