"""OWN010: a slow or heavy query on a service's database with no latency SLO or alert behind it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from collectors.facts import SlowQuery
from rules.checks.own011_no_for import observed_at
from rules.engine import CheckContext
from rules.findings import Evidence, Finding, Fix, Severity

# what makes an alert or an SLO a latency one: a quantile of a histogram, a duration metric, the word
LATENCY = re.compile(r"histogram_quantile|latenc|duration", re.IGNORECASE)
# a latency SLI: the same, or a ratio of histogram buckets (`..._bucket{le="0.5"}`)
LATENCY_SLI = re.compile(r"histogram_quantile|latenc|duration|_bucket\b", re.IGNORECASE)


def _hours(ms: float) -> str:
    h = ms / 3_600_000
    return f"{h:.1f} h" if h >= 1 else f"{ms / 60_000:.1f} min"


class _Limits:
    """The check's limits of each service, read once per service (L: 15,000 statements, four settings reads
    each), each when first needed, as before (a limit is not converted for a service none of whose
    statements reach it)."""

    def __init__(self, ctx: CheckContext, check: str):
        self.ctx, self.check = ctx, check
        self._min_calls: dict[str, int] = {}
        self._limits: dict[str, tuple[float, float, float]] = {}

    def min_calls(self, service: str) -> int:
        got = self._min_calls.get(service)
        if got is None:
            got = self._min_calls[service] = int(self.ctx.param(self.check, "min_calls", service, 100))
        return got

    def of(self, service: str) -> tuple[float, float, float]:
        """(slow mean ms, heavy share of the database's time, heavy minimum total ms)."""
        got = self._limits.get(service)
        if got is None:
            ctx, check = self.ctx, self.check
            got = self._limits[service] = (
                float(ctx.param(check, "slow_mean_ms", service, 500)),
                float(ctx.param(check, "heavy_total_share", service, 0.5)),
                ctx.duration(check, "heavy_min_total", service, "1h") * 1000,
            )
        return got


class SlowQueryUnwatched:
    id: ClassVar[str] = "OWN010"
    severity: ClassVar[Severity] = "warning"
    summary: ClassVar[str] = "slow or heavy query on a service's database with no latency SLO or alert behind it"

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        limits = _Limits(ctx, self.id)
        g = ctx.graph
        services_of_db: dict[str, list[str]] = {}
        for s in g.catalog.services:
            for db in s.databases:
                services_of_db.setdefault(db, []).append(s.name)
        stale = {r.status.name for r in g.snapshot.sources if r.status.stale or not r.status.ok}
        covered: dict[str, str | None] = {}
        for src, pg in sorted(g.postgres.items()):
            totals: dict[str, float] = {}
            for st in pg.statements:
                totals[st.database] = totals.get(st.database, 0.0) + st.total_exec_time_ms
            for st in pg.statements:
                for service in services_of_db.get(st.database, []):
                    if src in stale and not ctx.param(self.id, "include_stale", service, True):
                        continue
                    why = self._why(limits, service, st, totals[st.database])
                    if why is None:
                        continue
                    if service not in covered:
                        covered[service] = self._latency_cover(ctx, service)
                    if covered[service] is not None:
                        continue
                    yield self._finding(ctx, src, src in stale, service, st, totals[st.database], why)

    def _why(self, limits: _Limits, service: str, st: SlowQuery, db_total: float) -> str | None:
        """Why the statement counts as slow or heavy, or None."""
        if st.calls < limits.min_calls(service):
            return None
        slow_ms, heavy_share, heavy_min = limits.of(service)
        share = st.total_exec_time_ms / db_total if db_total else 0.0
        reasons = []
        if st.mean_exec_time_ms >= slow_ms:
            reasons.append(f"slow (limit {slow_ms:g} ms mean)")
        if share >= heavy_share and st.total_exec_time_ms >= heavy_min:
            reasons.append(f"heavy (limit {heavy_share:.0%} of the database's time)")
        return " and ".join(reasons) or None

    @staticmethod
    def _latency_cover(ctx: CheckContext, service: str) -> str | None:
        """The latency SLO or alert of the service, or None."""
        g = ctx.graph
        by_service = g.memo(("own010", "slos_by_service"), lambda: _slos_by_service(g))
        for slo in by_service.get(service, ()):
            text = " ".join(
                x or ""
                for x in (slo.name, slo.description, slo.error_query, slo.total_query, slo.raw_error_ratio_query)
            )
            if LATENCY_SLI.search(text) or slo.labels.get("category") == "latency":
                return f"SLO {slo.name}"
        for sr in ctx.rules_by_service.get(service, []):
            if LATENCY.search(sr.rule.name) or LATENCY.search(sr.rule.expr):
                return f"alert {sr.rule.name}"
        return None

    def _finding(
        self, ctx: CheckContext, src: str, stale: bool, service: str, st: SlowQuery, db_total: float, why: str
    ) -> Finding:
        query = " ".join(st.query.split())
        short = query if len(query) <= 80 else query[:77] + "..."
        share = st.total_exec_time_ms / db_total if db_total else 0.0
        stale_text = ", from a stale recording" if stale else ""
        return Finding(
            check=self.id,
            severity=self.severity,
            service=service,
            subject=st.queryid,
            summary=(
                f"'{short}' on database {st.database} (service {service}{stale_text}) is {why}: mean "
                f"{st.mean_exec_time_ms:g} ms over {st.calls} calls, {_hours(st.total_exec_time_ms)} in total "
                f"({share:.0%} of the database's time); {service} has no latency SLO and no latency alert to "
                f"notice it getting worse"
            ),
            evidence=[
                Evidence(
                    source=src,
                    kind="postgres",
                    observed_at=observed_at(ctx, src),
                    values={
                        "database": st.database,
                        "queryid": st.queryid,
                        "query": query[:300],
                        "calls": st.calls,
                        "mean_exec_time_ms": st.mean_exec_time_ms,
                        "total_exec_time_ms": st.total_exec_time_ms,
                        "share_of_database_time": round(share, 4),
                        "stale": stale,
                    },
                )
            ],
            fix=Fix(
                summary=(
                    f"give {service} a latency SLO (or at least a p99 latency alert on its requests) so a slower "
                    f"{st.database} shows up before users report it; then look at the plan of query {st.queryid} "
                    f"(EXPLAIN (ANALYZE, BUFFERS)): an index, a narrower aggregate, or a cached summary"
                )
            ),
        )


def _slos_by_service(g: Any) -> dict[str | None, list[Any]]:
    """The SLOs of each service, in SLO order (a service's latency cover reads only its own)."""
    out: dict[str | None, list[Any]] = {}
    for slo in g.slos.slos:
        out.setdefault(slo.service, []).append(slo)
    return out
