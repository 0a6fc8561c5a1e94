"""What `ownership serve` serves: the latest snapshot, with its graph, paging resolver, findings and
metrics computed once per snapshot id; and the scheduler thread that replaces it every interval."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from prometheus_client.core import Metric

from agent.answers import Summary
from agent.config import LoadedConfig, ServeConfig
from agent.errors import StoreError
from collectors.durations import parse_duration
from collectors.facts import Snapshot
from rules.findings import Finding
from rules.graph import OwnershipGraph
from rules.paging import AlertPaging, PagingResolver, ServicePages

log = logging.getLogger("ownership.serve")

STORE_RETRY_S = 15.0  # a store that cannot be reached is tried again this soon (or at the interval, if shorter)


class View:
    """One snapshot and everything computed from it; answers for the snapshot's instant are cached."""

    def __init__(self, snapshot: Snapshot, pack: Any = None, collection_duration_s: float | None = None):
        self.snapshot = snapshot
        self.now: datetime = snapshot.now
        if pack is None:
            from rules.engine import load_pack

            pack = load_pack()
        self.pack = pack
        self.collection_duration_s = collection_duration_s
        self.graph = OwnershipGraph.build(snapshot)
        from rules import exprs

        # what the rules read from each PromQL expression, saved by an earlier process (a restart)
        self._exprs = sorted({r.expr for p in self.graph.prometheus.values() for r in p.rules})
        self._exprs_to_save = exprs.preload(self._exprs)
        self.resolver = PagingResolver(self.graph)
        # the resolver keeps caches of its own: one computation at a time per snapshot
        self.lock = threading.RLock()
        self._service_pages: dict[str, ServicePages] = {}
        self._service_pages_json: dict[str, bytes] = {}
        self._by_service: dict[str, list[AlertPaging]] | None = None
        self._metrics: dict[tuple[Any, ...], list[Metric]] = {}

    @property
    def id(self) -> int | None:
        return self.snapshot.id

    @cached_property
    def findings(self) -> list[Finding]:
        from rules.engine import run_checks

        with self.lock:
            return run_checks(self.graph, self.now, self.pack, resolver=self.resolver, alerts=self.alerts)

    @cached_property
    def alerts(self) -> list[AlertPaging]:
        """Every alerting rule resolved at the snapshot's instant."""
        with self.lock:
            return [self.resolver.resolve(sr, self.now) for sr in self.graph.alert_rules()]

    @cached_property
    def summary(self) -> Summary:
        from agent.summary import summarize

        with self.lock:
            return summarize(self.graph)

    def service_pages(self, service: str, at: datetime | None = None) -> ServicePages:
        with self.lock:
            if at is not None and at != self.now:
                return self.resolver.service_pages(service, at)
            if service not in self._service_pages:
                # every alert is resolved at the snapshot's instant already: take the service's from there
                mine = self._alerts_by_service().get(service, [])
                self._service_pages[service] = self.resolver.service_pages_of(service, self.now, mine)
            return self._service_pages[service]

    def _alerts_by_service(self) -> dict[str, list[AlertPaging]]:
        if self._by_service is None:
            by: dict[str, list[AlertPaging]] = {}
            for a in self.alerts:
                for s in a.services:
                    by.setdefault(s, []).append(a)
            self._by_service = by
        return self._by_service

    def service_pages_json(self, service: str) -> bytes:
        """`service_pages` at the snapshot's instant as the API's JSON body (serialised once)."""
        with self.lock:
            body = self._service_pages_json.get(service)
            if body is None:
                body = self._service_pages_json[service] = self.service_pages(service).model_dump_json().encode()
            return body

    def service_pages_json_cached(self, service: str) -> bytes | None:
        """The body of `service_pages_json` when already serialised (a dict read, no lock), else None."""
        return self._service_pages_json.get(service)

    def metrics(self, bounds: ServeConfig) -> list[Metric]:
        from agent.metrics import DEFAULT_SLOW_MEAN_MS, MetricsInput, compute

        key = (
            bounds.engineer_label,
            bounds.max_engineers,
            bounds.max_services,
            bounds.max_teams,
            bounds.max_queues,
        )
        with self.lock:
            if key not in self._metrics:
                own010 = self.pack.checks.get("OWN010")
                slow_ms = float((own010.params if own010 else {}).get("slow_mean_ms", DEFAULT_SLOW_MEAN_MS))
                inp = MetricsInput(
                    self.graph, self.alerts, self.findings, self.now, self.collection_duration_s, slow_ms
                )
                self._metrics[key] = compute(inp, bounds)
            return self._metrics[key]

    def warm(self, bounds: ServeConfig) -> View:
        """Compute what every scrape and most requests need before the view is published."""
        from agent.gcpause import bulk_build

        with bulk_build():  # the answers live as long as the view
            _ = self.findings, self.alerts, self.summary
            self.metrics(bounds)
        if self._exprs_to_save is not None:
            from rules import exprs

            exprs.persist(self._exprs_to_save, self._exprs)
            self._exprs_to_save = None
        return self


class ServeState:
    """The state the API reads: settings, tokens, the current view and (optionally) the store."""

    def __init__(
        self,
        settings: ServeConfig,
        tokens: list[str],
        loaded: LoadedConfig | None = None,
        store_url: str | None = None,
        now: Callable[[], datetime] | None = None,
        demo: bool = False,
    ):
        self.settings = settings
        self.tokens = [t.encode() for t in tokens if t]
        self.loaded = loaded
        self.store_url = store_url
        self.demo = demo
        self._now = now or (lambda: datetime.now(UTC))
        self._view: View | None = None
        self._lock = threading.Lock()
        self._store: Any = None
        self.scheduler: Scheduler | None = None
        self.last_error: str | None = None
        self.collections = 0  # collections this process ran (replicas share the work through the store)
        self.run_outcomes = {"success": 0, "failure": 0}  # the scheduler's turns (/metrics)
        self._old_views: dict[int, View] = {}
        self._prefill: threading.Thread | None = None
        from agent.metrics import registry

        self.registry = registry(self._metric_families, lambda: self.run_outcomes)

    # ---- the current view

    @property
    def view(self) -> View | None:
        return self._view

    def _metric_families(self) -> list[Metric] | None:
        v = self._view
        return v.metrics(self.settings) if v is not None else None

    def pack(self) -> Any:
        return self.loaded.pack() if self.loaded is not None else None

    def publish(self, snapshot: Snapshot, collection_duration_s: float | None = None) -> View:
        view = View(snapshot, self.pack(), collection_duration_s).warm(self.settings)
        self._switch(view)
        return view

    def _switch(self, view: View) -> None:
        with self._lock:
            self._view = view
        # serialise every service's pages in the background, so that no request waits for a first
        # serialisation (L: 5,000 services in about 0.7 s, 75 MiB); stops when a newer view replaces it
        self._prefill = threading.Thread(target=self._prefill_pages, args=(view,), name="pages-prefill", daemon=True)
        self._prefill.start()

    def _prefill_pages(self, view: View) -> None:
        failed = 0
        for svc in view.graph.catalog.services:
            if self._view is not view:
                return
            try:
                view.service_pages_json(svc.name)
            except Exception:  # noqa: BLE001 - the request for it will fail the same way, with its error shape
                if not failed:  # the first with its traceback; a systematic failure is one line, not thousands
                    log.exception("pages of %s not serialised in advance", svc.name)
                failed += 1
        if failed > 1:
            log.warning("pages of %d services not serialised in advance", failed)

    def wait_prefilled(self, timeout: float | None = None) -> bool:
        """Wait until the current view's service pages are serialised (the benchmark's load test measures
        the steady state); True when done."""
        t = self._prefill
        if t is not None:
            t.join(timeout)
        return t is None or not t.is_alive()

    @classmethod
    def for_snapshot(
        cls, snapshot: Snapshot, settings: ServeConfig | None = None, tokens: list[str] | None = None, pack: Any = None
    ) -> ServeState:
        """A state serving one snapshot, no store, no scheduler (tests, embedding)."""
        st = cls(settings or ServeConfig(), tokens or [])
        st._view = View(snapshot, pack).warm(st.settings)
        return st

    # ---- the store

    def store(self) -> Any:
        if self.store_url is None:
            return None
        with self._lock:
            if self._store is None:
                from agent.store import Store

                store = Store(self.store_url)
                try:
                    store.migrate()
                except BaseException:
                    store.close()
                    raise
                self._store = store  # only once migrated: a store unreachable now is tried again next turn
            return self._store

    def history(self, limit: int) -> list[tuple[int, datetime, datetime]]:
        """(id, taken_at, now) of stored snapshots, newest first; just the current one without a store."""
        store = self.store()
        if store is not None:
            return list(store.history(limit))
        v = self._view
        if v is None or v.snapshot.id is None:
            return []
        return [(v.snapshot.id, v.snapshot.taken_at, v.snapshot.now)]

    def snapshot(self, snapshot_id: int) -> Snapshot | None:
        v = self._view
        if v is not None and v.snapshot.id == snapshot_id:
            return v.snapshot
        store = self.store()
        return store.get(snapshot_id) if store is not None else None

    def earlier_snapshots(self, before: datetime, limit: int = 10) -> list[tuple[int | None, datetime, Snapshot]]:
        """(id, instant, snapshot) of stored snapshots computed for instants before `before`, oldest first."""
        out = []
        for sid, _taken, now in self.history(200):
            if now < before:
                snap = self.snapshot(sid)
                if snap is not None:
                    out.append((sid, now, snap))
            if len(out) >= limit:
                break
        return list(reversed(out))

    def view_of(self, snapshot_id: int) -> View | None:
        """A view of a stored snapshot (a few are kept: handoffs compare with the previous shift)."""
        v = self._view
        if v is not None and v.id == snapshot_id:
            return v
        with self._lock:
            if snapshot_id in self._old_views:
                return self._old_views[snapshot_id]
        snap = self.snapshot(snapshot_id)
        if snap is None:
            return None
        old = View(snap, self.pack())
        with self._lock:
            self._old_views[snapshot_id] = old
            while len(self._old_views) > 4:
                self._old_views.pop(next(iter(self._old_views)))
        return old

    def findings_before(self, at: datetime) -> list[Finding] | None:
        """Findings of the latest stored snapshot computed for an instant at or before `at` (None: no such)."""
        for sid, _taken, now in self.history(200):
            if now <= at:
                old = self.view_of(sid)
                return old.findings if old is not None else None
        return None

    # ---- collection

    def collect_once(self) -> View:
        """Collect every source, store the snapshot and publish it."""
        from agent.pipeline import collect

        if self.loaded is None:
            raise RuntimeError("no config to collect from")
        store = self.store()
        previous = self._view.snapshot if self._view is not None else (store.latest() if store else None)
        t0 = time.perf_counter()
        snap = collect(self.loaded, self._now(), previous, progress=False)
        duration = time.perf_counter() - t0
        saved = store.save_in_background(snap) if store is not None else None
        view = View(snap, self.pack(), duration).warm(self.settings)
        if saved is not None:
            saved.result()  # a snapshot is published once stored (it has its id); a failed save raises here
        self._switch(view)
        if store is not None:  # after publishing: a first prune of a long history may take a while
            store.apply_retention(*self.loaded.config.store.retention_days())
        return view

    def tick(self, interval: timedelta) -> View | None:
        """One scheduler turn across replicas sharing a store: whoever holds the collector lock and finds
        no snapshot younger than the interval collects; everyone else publishes the latest stored one."""
        store = self.store()
        if store is None:
            return self.collect_once()
        with store.collector_lock() as mine:
            if mine:
                recent = store.history(limit=1)
                age = (datetime.now(UTC) - recent[0][1]).total_seconds() if recent else None
                # a snapshot stamped more than an interval ahead came from a replica whose clock runs ahead: it
                # is no recent collection (waiting for real time to pass it stopped every collection)
                if age is None or age >= 0.9 * interval.total_seconds() or age < -interval.total_seconds():
                    if age is not None and age < -interval.total_seconds():
                        log.warning("the latest snapshot is stamped %.0fs ahead of this clock: collecting", -age)
                    self.collections += 1
                    return self.collect_once()
        latest = store.latest()
        if latest is not None and (self._view is None or latest.id != self._view.id):
            return self.publish(latest)
        return self._view

    def load_latest(self) -> View | None:
        """Publish the latest stored snapshot, if any (a restart serves at once, before collecting)."""
        store = self.store()
        snap = store.latest() if store is not None else None
        return self.publish(snap) if snap is not None else None

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        if self._store is not None:
            self._store.close()
            self._store = None


class Scheduler:
    """A daemon thread collecting every `interval`; a failed run keeps serving the previous snapshot."""

    def __init__(self, state: ServeState, interval: timedelta, collect_first: bool = True):
        self.state = state
        self.interval = interval
        self.collect_first = collect_first
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def runs(self) -> int:
        """Turns run so far, whatever their outcome."""
        return sum(self.state.run_outcomes.values())

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="ownership-scheduler", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        wait = 0.0 if self.collect_first else self.interval.total_seconds()
        while not self._stop.wait(wait):
            try:
                view = self.state.tick(self.interval)
                self.state.last_error = None
                self.state.run_outcomes["success"] += 1
                log.info("snapshot %s published", view.id if view is not None else None)
            except StoreError as e:  # e.g. PostgreSQL not up yet: one line, and soon again
                self.state.last_error = f"{type(e).__name__}: {e}"
                self.state.run_outcomes["failure"] += 1
                wait = min(self.interval.total_seconds(), STORE_RETRY_S)
                log.warning("%s; trying again in %gs", e, wait)
                continue
            except Exception as e:  # keep serving the last snapshot; try again next interval
                self.state.last_error = f"{type(e).__name__}: {e}"
                self.state.run_outcomes["failure"] += 1
                log.exception("collection failed; serving the previous snapshot")
            wait = self.interval.total_seconds()


def interval_of(settings: ServeConfig) -> timedelta:
    return timedelta(seconds=parse_duration(settings.interval))
