"""Prometheus signals collector: queue lag, alert history, metric names, alerting rules without series.

Live, the answers are gathered under the names a RecordedSignals file uses (`queue_lag:<kind>`,
`alert_history`, `metric_names`) and converted by the same code as a recording.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, ClassVar

from agent.config import SignalsSource
from agent.errors import SourceError
from collectors import Collected, SourceCollector
from collectors.durations import parse_duration
from collectors.facts import MetricGap, SignalsFacts
from collectors.http import JsonApi, SourceBadAnswer, SourceHTTPError
from collectors.prometheus import api_data
from collectors.promql_metrics import selected_metrics, stays_empty
from collectors.queue_queries import queries_for
from collectors.recordings import load_signals, signals_from_queries
from collectors.source_cache import collect_cached

ALERT_HISTORY_QUERY = 'ALERTS{alertstate="firing"}'


def alert_history_query(step_s: float) -> str:
    """ALERTS firing at any sample of each step, not only at its instant: an alert that fired for less than a
    step between two instants (a flap, what OWN008 counts) ends with a stale marker and was never seen."""
    return f"max_over_time({ALERT_HISTORY_QUERY}[{step_s:g}s])"


# what the collected facts of a recording depend on (collectors.source_cache; a live Prometheus is never cached)
CACHED_CODE = (
    "collectors/prometheus_signals.py",
    "collectors/recordings.py",
    "collectors/queue_queries.py",
    "collectors/promql_metrics.py",
)
MAX_POINTS = 11_000  # Prometheus refuses a query_range answer with more points per series


def metric_gaps(groups: list[dict[str, Any]], names: set[str]) -> tuple[list[MetricGap], int]:
    """Alerting rules (from /api/v1/rules data) whose expr selects metrics not in `names`; and rules checked."""
    gaps: list[MetricGap] = []
    checked = 0
    for g in groups:
        for r in g.get("rules") or []:
            if r.get("type") != "alerting":
                continue
            checked += 1
            expr = r["query"]
            try:
                missing = selected_metrics(expr) - names
            except Exception:  # a function promql_parser does not know yet: Prometheus accepted it
                continue
            if missing:
                gaps.append(
                    MetricGap(
                        alertname=r["name"],
                        group=g["name"],
                        file=g.get("file") or None,
                        expr=expr,
                        missing=sorted(missing),
                        can_fire=not stays_empty(expr, missing),
                    )
                )
    return gaps, checked


class SignalsCollector(SourceCollector):
    kind: ClassVar[str] = "prometheus_signals"
    config_model = SignalsSource

    def collect(self) -> Collected:
        if self.config.url:
            return self._collect_live()
        if not self.config.recording:
            raise SourceError("set url (live) or recording", source=self.name)
        recording = self.base / self.config.recording
        return collect_cached(self, [recording], lambda reads: self._collect_recording(recording), CACHED_CODE)

    def _collect_recording(self, recording: Path) -> Collected:
        facts, at = load_signals(recording)
        return Collected(
            facts, observed_at=at, detail=f"{len(facts.queue_lag)} queues, {len(facts.alert_history)} alert series"
        )

    def _api(self) -> JsonApi:
        token = self.config.auth.resolve(self.base, f"{self.name}.auth") if self.config.auth else None
        assert self.config.url is not None
        return JsonApi(
            self.config.url,
            source=self.name,
            timeout_s=self.config.timeout_s,
            retries=self.config.retries,
            token=token,
            transport=self.transport,
        )

    def _collect_live(self) -> Collected:
        now = time.time()
        window = parse_duration(self.config.history_window)
        step = max(parse_duration(self.config.history_step), math.ceil(window / MAX_POINTS), 1.0)
        answers: dict[str, Any] = {}
        failed: list[str] = []  # an added query Prometheus refuses costs that query, not the source
        with self._api() as api:
            for q in queries_for(self.config.queue_kinds, self.config.queries):
                try:
                    answers[q.name] = q.recorded(api_data(api, "/api/v1/query", {"query": q.query, "time": now}))
                except SourceHTTPError as e:
                    if q.service is None or e.status not in (400, 422):
                        raise
                    failed.append(f"query {q.name.rsplit(':', 1)[-1]} refused: {e.message}")
            history_query = alert_history_query(step)
            answers["alert_history"] = {
                "query": history_query,
                "start": now - window,
                "end": now,
                "step": f"{step:g}s",
                "data": api_data(
                    api,
                    "/api/v1/query_range",
                    {"query": history_query, "start": now - window, "end": now, "step": f"{step:g}s"},
                ),
            }
            names_window = parse_duration(self.config.metric_names_window)
            answers["metric_names"] = {
                "endpoint": "/api/v1/label/__name__/values",
                "data": api_data(api, "/api/v1/label/__name__/values", {"start": now - names_window, "end": now}),
            }
            rules = api_data(api, "/api/v1/rules", {"type": "alert"})
            requests = api.requests
        try:
            facts: SignalsFacts = signals_from_queries(answers, step_s=step)
            facts.history_window_s = window
            gaps, checked = metric_gaps(rules["groups"], set(facts.metric_names or []))
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise SourceBadAnswer(f"malformed query answer: {type(e).__name__}: {e}", source=self.name) from None
        facts.metric_gaps = gaps
        never = sum(1 for g in gaps if not g.can_fire)
        detail = (
            f"live: {len(facts.queue_lag)} queues, {len(facts.alert_history)} alert series over "
            f"{self.config.history_window}, {len(facts.metric_names or [])} metric names; {checked} alerting rules "
            f"checked, {len(gaps)} select metrics without series ({never} can never fire); {requests} requests"
        )
        if failed:
            detail += "; " + "; ".join(failed)
        return Collected(facts, detail=detail)
