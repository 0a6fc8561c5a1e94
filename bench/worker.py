"""One benchmark phase in a fresh process; prints one JSON line of timings (`python -m bench.worker`).

analysis: collect every source of the generated organisation from its files, store the snapshot,
  then compute what `ownership serve` publishes (graph, paging answers of every alert, checks,
  summary, metrics), as `ServeState.collect_once` does.
snapshot: the same analysis from the latest stored snapshot (no files read), then memos and handoffs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

T_START = time.perf_counter()


def _cpu_s(who: int) -> float:
    """User and system CPU seconds of this process (RUSAGE_SELF) or of its children that ended (RUSAGE_CHILDREN)."""
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


def _rss_mib() -> float:
    """The peak resident set of this process or of its largest child (a forked parse), whichever is larger."""
    return max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024.0


def _analysis(snap: Any, pack: Any, t: dict[str, float]) -> Any:
    from agent.api.state import View
    from agent.config import ServeConfig
    from agent.gcpause import bulk_build

    t0 = time.perf_counter()
    view = View(snap, pack)
    t["graph_s"] = time.perf_counter() - t0
    with bulk_build():  # as View.warm does: the pieces are timed one by one
        _pieces(view, t)
    t0 = time.perf_counter()
    view.warm(ServeConfig())  # all computed: what is left is saving the expressions' facts
    t["save_exprs_s"] = time.perf_counter() - t0
    t["alerts"] = len(view.alerts)
    t["paging_alerts"] = sum(1 for a in view.alerts if a.pages)
    t["findings"] = len(view.findings)
    return view


def _pieces(view: Any, t: dict[str, Any]) -> None:
    from agent.config import ServeConfig

    t0 = time.perf_counter()
    _ = view.alerts
    t["resolve_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    _ = view.findings
    t["checks_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    _ = view.summary
    view.metrics(ServeConfig())
    t["summary_metrics_s"] = time.perf_counter() - t0


def run(args: argparse.Namespace) -> dict[str, Any]:
    from agent.config import load_config
    from agent.store import Store

    if args.phase == "analysis":  # the collectors' code (and rich): the snapshot phase reads no files
        from agent.pipeline import collect

    t: dict[str, Any] = {"phase": args.phase}
    t["import_s"] = time.perf_counter() - T_START
    loaded = load_config(Path(args.dir) / "ownership.yaml")
    now = loaded.config.now
    assert now is not None
    pack = loaded.pack()
    store = Store(loaded.store_url())
    store.migrate()
    t_work = time.perf_counter()
    if args.phase == "analysis":
        t0 = time.perf_counter()
        previous = store.latest() if args.previous else None
        t["previous_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        snap = collect(loaded, now, previous, progress=False)
        t["collect_s"] = time.perf_counter() - t0
        t["sources"] = {s.status.name: s.status.duration_s for s in snap.sources}
        bad = [s.status.name for s in snap.sources if not s.status.ok]
        if bad:
            raise SystemExit(f"sources failed: {bad}")
        saving = store.save_in_background(snap)  # as ServeState.collect_once: beside the analysis
    else:
        saving = None
        t0 = time.perf_counter()
        snap = store.latest()
        assert snap is not None, "no stored snapshot: run the analysis phase first"
        t["load_snapshot_s"] = time.perf_counter() - t0
    view = _analysis(snap, pack, t)
    if saving is not None:
        t0 = time.perf_counter()
        saving.result()
        t["save_wait_s"] = time.perf_counter() - t0
    t["work_s"] = time.perf_counter() - t_work
    t["rss_mib"] = _rss_mib()
    # the CPU of the work (imports included), this process's and its forked children's (the PagerDuty parse)
    t["cpu_s"] = _cpu_s(resource.RUSAGE_SELF)
    t["children_cpu_s"] = _cpu_s(resource.RUSAGE_CHILDREN)
    t_docs = time.perf_counter()
    if args.documents:
        from agent.reports.handoff import build_handoff, render_handoff
        from agent.reports.memo import build_memo, render_memo

        services = [s.name for s in view.graph.catalog.services][
            :: max(1, len(view.graph.catalog.services) // args.documents)
        ]
        services = services[: args.documents]
        t0 = time.perf_counter()
        for s in services:
            render_memo(build_memo(view.graph, view.resolver, view.findings, s, view.now, []), "md")
        t["memo_s"] = (time.perf_counter() - t0) / len(services)
        teams = [tm.name for tm in view.graph.catalog.teams][: args.documents]
        t0 = time.perf_counter()
        for tm in teams:
            h = build_handoff(view.graph, view.resolver, view.findings, tm, view.now - timedelta(days=7), view.now)
            render_handoff(h, "md")
        t["handoff_s"] = (time.perf_counter() - t0) / len(teams)
        t["documents"] = len(services)
    t["documents_s"] = time.perf_counter() - t_docs
    t["rss_mib"] = max(t["rss_mib"], _rss_mib())
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.worker")
    ap.add_argument("phase", choices=("analysis", "snapshot"))
    ap.add_argument("--dir", required=True)
    ap.add_argument("--previous", action="store_true", help="read the latest stored snapshot as previous facts")
    ap.add_argument("--documents", type=int, default=0, help="also build this many memos and handoffs")
    ap.add_argument("--profile", default=None, help="write a cProfile of the phase here")
    args = ap.parse_args(argv)
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
        out = prof.runcall(run, args)
        prof.dump_stats(args.profile)
    else:
        out = run(args)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip freeing a large heap object by object: the process is done


if __name__ == "__main__":
    raise SystemExit(main())
