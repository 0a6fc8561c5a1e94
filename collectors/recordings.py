"""Recorded answers: Prometheus query `data` bodies and `pg_stat_statements` rows, as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.errors import InputError
from collectors.facts import AlertHistory, PostgresFacts, QueueLag, SignalsFacts, SlowQuery
from collectors.queue_queries import QUEUE_LABEL, QUEUE_UNIT

QUEUE_KINDS = ("kafka", "rabbitmq", "sqs", "celery", "redis")
SHORT_EPISODE_S = 300.0


def read_json(path: Path | str, kind: str) -> dict[str, Any]:
    p = Path(path)
    try:
        body = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", file=str(p)) from None
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", file=str(p), line=e.lineno) from None
    if not isinstance(body, dict) or body.get("kind") != kind:
        raise InputError(f"expected kind: {kind}", file=str(p), line=1)
    if body.get("apiVersion") != "ownership-agent/v1":
        raise InputError("expected apiVersion: ownership-agent/v1", file=str(p), line=1)
    return body


def recorded_at(body: dict[str, Any], file: str) -> datetime:
    try:
        return datetime.fromisoformat(str(body["recorded_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        raise InputError("recorded_at must be an ISO 8601 instant", file=file, line=1) from None


def signals_from_queries(queries: dict[str, Any], step_s: float = 300.0) -> SignalsFacts:
    """Facts from Prometheus answers keyed by query name (recorded or live)."""
    lags: list[QueueLag] = []
    for name, q in queries.items():
        if not name.startswith("queue_lag:"):
            continue
        kind = name.split(":")[1]  # queue_lag:<kind> (built-in) or queue_lag:<kind>:<name> (added)
        label = q.get("queue_label") or QUEUE_LABEL.get(kind, "queue")
        data = q.get("data") or {}
        for series in data.get("result") or []:
            metric = series.get("metric") or {}
            qname = metric.get(label) or metric.get("queue") or metric.get("topic") or "?"
            lags.append(
                QueueLag(
                    queue=qname,
                    kind=kind,
                    value=float(series["value"][1]),
                    unit=q.get("unit") or QUEUE_UNIT.get(kind, "messages"),
                    labels={k: v for k, v in metric.items() if k != "__name__"},
                    metric=_metric_name(q.get("query", "")),
                    query_name=name,
                    service=q.get("service"),
                )
            )
    history: list[AlertHistory] = []
    hist = queries.get("alert_history")
    if hist:
        step = float(str(hist.get("step", step_s)).rstrip("s") or step_s)
        for series in (hist.get("data") or {}).get("result") or []:
            history.append(_history(series, step))
    names = queries.get("metric_names")
    return SignalsFacts(
        queue_lag=lags,
        alert_history=history,
        metric_names=list(names["data"]) if names and names.get("data") is not None else None,
    )


def _metric_name(query: str) -> str:
    """The metric a queue query reads (the first it selects), else the query itself."""
    from collectors.promql_metrics import selected_metrics

    try:
        names = selected_metrics(query)
    except Exception:  # promql_parser raises ValueError / RuntimeError on what it cannot parse
        return query
    return sorted(names)[0] if names else query


def _history(series: dict, step: float) -> AlertHistory:
    metric = {k: v for k, v in (series.get("metric") or {}).items() if k not in ("__name__", "alertstate")}
    ts = sorted(float(v[0]) for v in series.get("values") or [])
    episodes: list[tuple[float, float]] = []
    for t in ts:
        if episodes and t - episodes[-1][1] <= step * 1.5:
            episodes[-1] = (episodes[-1][0], t)
        else:
            episodes.append((t, t))
    # a sample stands for one step of firing
    durations = [(b - a) + step for a, b in episodes]
    return AlertHistory(
        alertname=metric.get("alertname", "?"),
        labels=metric,
        fires=len(episodes),
        firing_seconds=sum(durations),
        short_fires=sum(1 for d in durations if d <= SHORT_EPISODE_S),
        episodes=[(datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b + step, UTC)) for a, b in episodes],
    )


def load_signals(path: Path | str) -> tuple[SignalsFacts, datetime]:
    body = read_json(path, "RecordedSignals")
    at = recorded_at(body, str(path))
    queries = body.get("queries")
    if not isinstance(queries, dict):
        raise InputError("queries must be a mapping of query name to answer", file=str(path), line=1)
    try:
        return signals_from_queries(queries), at
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise InputError(f"malformed query answer: {e}", file=str(path)) from None


def statements_from_rows(rows_by_db: dict[str, list[dict[str, Any]]]) -> PostgresFacts:
    out = []
    for db, rows in rows_by_db.items():
        for r in rows:
            out.append(
                SlowQuery(
                    database=db,
                    queryid=str(r["queryid"]),
                    query=str(r["query"]),
                    calls=int(r["calls"]),
                    total_exec_time_ms=float(r["total_exec_time"]),
                    mean_exec_time_ms=float(r["mean_exec_time"]),
                    rows=int(r.get("rows") or 0),
                )
            )
    return PostgresFacts(statements=out)


def load_statements(path: Path | str) -> tuple[PostgresFacts, datetime]:
    body = read_json(path, "RecordedStatements")
    at = recorded_at(body, str(path))
    dbs = body.get("databases")
    if not isinstance(dbs, dict):
        raise InputError("databases must be a mapping of database name to rows", file=str(path), line=1)
    try:
        return statements_from_rows(dbs), at
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"malformed pg_stat_statements row: missing or bad {e}", file=str(path)) from None
