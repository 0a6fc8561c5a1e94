"""OWN006: a single point of failure: one person, or one level, behind a paging service."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any, ClassVar

from collectors.facts import PDService
from rules.checks.own002_slo_no_page import source_of
from rules.checks.own004_no_runbook import paging_paths
from rules.checks.own005_coverage_gap import catalog_services
from rules.engine import CheckContext
from rules.findings import Evidence, Finding, Fix, Severity


class SinglePointOfFailure:
    id: ClassVar[str] = "OWN006"
    severity: ClassVar[Severity] = "warning"
    summary: ClassVar[str] = "single point of failure: one person, or one level, behind a paging service"

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        oncall = ctx.paging.oncall
        pd_src, pd_at = source_of(ctx, "pagerduty")
        # PagerDuty services some alert can page through, and the alerts that do.
        paging: dict[str, set[str]] = {}
        can_page: dict[tuple[Any, Any], bool] = {}  # (see `paging_paths`)
        for a in ctx.alerts:
            for p in paging_paths(a, oncall, can_page):
                if p.pagerduty_service:
                    paging.setdefault(p.pagerduty_service, set()).add(a.alert)
        by_policy: dict[str, list[PDService]] = {}
        for sid in paging:
            svc = oncall.services.get(sid)
            if svc is not None and svc.escalation_policy_id:
                by_policy.setdefault(svc.escalation_policy_id, []).append(svc)
        for pol in ctx.graph.pagerduty.escalation_policies:
            svcs = sorted(by_policy.get(pol.id, []), key=lambda s: s.name)
            if not svcs:
                continue
            services = catalog_services(ctx, svcs)
            service = services[0] if services else None
            lookahead = ctx.duration(self.id, "lookahead", service, "14d")
            since, until = ctx.now, ctx.now + timedelta(seconds=lookahead)
            people: set[str] = set()
            for lv in pol.levels:
                people |= {sh.user_id for sh in oncall.holders_over(pol.id, lv.level, since, until)}
            one_level = len(pol.levels) == 1
            one_person = len(people) == 1
            if not one_level and not one_person:
                continue
            aspects = []
            if one_person:
                who = next(iter(people))
                aspects.append(
                    f"one person ({ctx.paging.person(who).name or who}) holds every level and shift over the next "
                    f"{lookahead / 86400:g} days"
                )
            if one_level:
                aspects.append("it has a single level, so a missed page escalates to nobody")
            alerts = sorted({a for s in svcs for a in paging[s.id]})
            yield Finding(
                check=self.id,
                severity=self.severity,
                service=service,
                subject=pol.name,
                summary=f"escalation policy {pol.name} behind paging service {', '.join(s.name for s in svcs)}: "
                f"{'; '.join(aspects)}",
                evidence=[
                    Evidence(
                        source=pd_src,
                        kind="pagerduty",
                        observed_at=pd_at,
                        values={
                            "escalation_policy": pol.id,
                            "levels": len(pol.levels),
                            "people": sorted(people),
                            "single_level": one_level,
                            "single_person": one_person,
                            "pagerduty_services": [s.name for s in svcs],
                            "catalog_services": services,
                            "paging_alerts": alerts[:10],
                            "paging_alert_count": len(alerts),
                        },
                    )
                ],
                fix=Fix(
                    summary=f"give {pol.name} a rotation of at least two people and a second level "
                    "(a secondary schedule or the team lead) so a missed page escalates to someone else"
                ),
            )
