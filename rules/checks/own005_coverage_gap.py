"""OWN005: an escalation policy with hours in the next 14 days where no level has anyone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import ClassVar

from collectors.facts import PDEscalationPolicy, PDService
from rules.checks.own002_slo_no_page import source_of
from rules.engine import CheckContext
from rules.findings import Evidence, Finding, Fix, Severity

MAX_LISTED_GAPS = 5


def catalog_services(ctx: CheckContext, pd_services: list[PDService]) -> list[str]:
    """Catalog services that name one of these PagerDuty services (sorted)."""
    by_pd = ctx.graph.memo(("own005", "services_by_pd"), lambda: _services_by_pd(ctx))
    services = ctx.graph.catalog.services
    return sorted(services[pos].name for pos in {pos for s in pd_services for pos in by_pd.get(s.id, ())})


def _services_by_pd(ctx: CheckContext) -> dict[str, list[int]]:
    """Catalog positions of the services naming each PagerDuty service."""
    out: dict[str, list[int]] = {}
    for pos, s in enumerate(ctx.graph.catalog.services):
        for pid in set(s.pagerduty_service_ids):
            out.setdefault(pid, []).append(pos)
    return out


def policies_in_use(ctx: CheckContext) -> list[tuple[PDEscalationPolicy, list[PDService]]]:
    """Escalation policies some enabled PagerDuty service escalates to, with those services."""
    # the enabled services grouped by policy once, in service order (scanning every service per policy
    # was 600,000 comparisons on a large organisation)
    by_policy: dict[str, list[PDService]] = {}
    for s in ctx.graph.pagerduty.services:
        if s.escalation_policy_id is not None and s.status != "disabled":
            by_policy.setdefault(s.escalation_policy_id, []).append(s)
    out = []
    for pol in ctx.graph.pagerduty.escalation_policies:
        svcs = by_policy.get(pol.id)
        if svcs:
            out.append((pol, list(svcs)))
    return out


class CoverageGap:
    id: ClassVar[str] = "OWN005"
    severity: ClassVar[Severity] = "critical"
    summary: ClassVar[str] = "escalation policy with hours in the next 14 days where no level has anyone"

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        oncall = ctx.paging.oncall
        pd = ctx.graph.pagerduty
        pd_src, pd_at = source_of(ctx, "pagerduty")
        # The /oncalls export covers a range: past its last entry "nobody" only means "not exported".
        ends = [o.end for o in pd.oncalls if o.end is not None]
        horizon_known = max(ends) if ends else None
        for pol, svcs in policies_in_use(ctx):
            services = catalog_services(ctx, svcs)
            service = services[0] if services else None
            lookahead = ctx.duration(self.id, "lookahead", service, "14d")
            min_gap = ctx.duration(self.id, "min_gap", service, "30m")
            since = ctx.now
            until = ctx.now + timedelta(seconds=lookahead)
            uses_schedules = any(t.type == "schedule" for lv in pol.levels for t in lv.targets)
            if uses_schedules and horizon_known is not None and horizon_known < until:
                until = max(since, horizon_known)
            gaps = [(s, e) for s, e in oncall.coverage_gaps(pol.id, since, until) if (e - s).total_seconds() >= min_gap]
            if not gaps:
                continue
            hours = sum((e - s).total_seconds() for s, e in gaps) / 3600
            first = gaps[0]
            listed = [
                {"start": s.isoformat(), "end": e.isoformat(), "hours": round((e - s).total_seconds() / 3600, 2)}
                for s, e in gaps[:MAX_LISTED_GAPS]
            ]
            yield Finding(
                check=self.id,
                severity=self.severity,
                service=service,
                subject=pol.name,
                summary=f"escalation policy {pol.name} has nobody on any level for {hours:g} h in the next "
                f"{lookahead / 86400:g} days ({len(gaps)} gap{'s' if len(gaps) != 1 else ''}, the first "
                f"{first[0].isoformat()} to {first[1].isoformat()}): pages to "
                f"{', '.join(s.name for s in svcs)} then reach nobody",
                evidence=[
                    Evidence(
                        source=pd_src,
                        kind="pagerduty",
                        observed_at=pd_at,
                        values={
                            "escalation_policy": pol.id,
                            "pagerduty_services": sorted(s.name for s in svcs),
                            "catalog_services": services,
                            "since": since.isoformat(),
                            "until": until.isoformat(),
                            "gap_hours": round(hours, 2),
                            "gaps": len(gaps),
                            "first_gaps": listed,
                            "levels": [
                                {"level": lv.level, "targets": [f"{t.type}:{t.id}" for t in lv.targets]}
                                for lv in pol.levels
                            ],
                        },
                    )
                ],
                fix=Fix(
                    summary=f"cover the gaps in {pol.name}: extend a schedule's restrictions or add a layer over "
                    "those hours, or add a last level that always has someone (a user or an always-on schedule)"
                ),
            )
