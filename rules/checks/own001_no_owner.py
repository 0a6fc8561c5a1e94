"""OWN001: a service with no owning team, or a team with nobody on call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from rules.engine import CheckContext
from rules.findings import Evidence, Finding, Fix, Severity


class NoOwner:
    id: ClassVar[str] = "OWN001"
    severity: ClassVar[Severity] = "critical"
    summary: ClassVar[str] = "service with no owning team, or a team with nobody on call"

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        g = ctx.graph
        src = next((r.status for r in g.snapshot.sources if r.facts is not None and r.facts.kind == "catalog"), None)
        for s in g.catalog.services:
            if s.team:
                continue
            yield Finding(
                check=self.id,
                severity=self.severity,
                service=s.name,
                subject=s.name,
                summary=f"service {s.name} has no owning team: nobody is answerable when it fails",
                evidence=[
                    Evidence(
                        source=src.name if src else "catalog",
                        kind="catalog",
                        observed_at=src.last_success_at if src else None,
                        file=s.location.file,
                        line=s.location.line,
                        values={"team": None},
                    )
                ],
                fix=Fix(summary=f"set `team:` on service {s.name} in the catalog (or spec.owner in Backstage)"),
            )
        on_call = {o.escalation_policy_id for o in g.oncall_at(ctx.now)}
        alerted = {name for a in ctx.alerts for name in a.services}
        for t in g.catalog.teams:
            if not t.escalation_policies:
                # no policy at all: nobody is on call for it either, when it owns services with alerting rules
                # (a team that owns none, e.g. a design group in Backstage, needs no pager)
                theirs = sorted(s.name for s in g.catalog.services if s.team == t.name and s.name in alerted)
                if theirs:
                    yield Finding(
                        check=self.id,
                        severity=self.severity,
                        team=t.name,
                        subject=t.name,
                        summary=f"team {t.name} has no escalation policy, so nobody on call, though alerting rules "
                        f"watch its services {', '.join(theirs)}",
                        evidence=[
                            Evidence(
                                source=src.name if src else "catalog",
                                kind="catalog",
                                observed_at=src.last_success_at if src else None,
                                file=t.location.file,
                                line=t.location.line,
                                values={"escalation_policies": [], "services_with_alerts": theirs},
                            )
                        ],
                        fix=Fix(
                            summary=f"give team {t.name} a PagerDuty escalation policy (catalog `pagerduty:`) "
                            "with people on its levels"
                        ),
                    )
                continue
            if not any(ep in on_call for ep in t.escalation_policies):
                yield Finding(
                    check=self.id,
                    severity=self.severity,
                    team=t.name,
                    subject=t.name,
                    summary=f"team {t.name} has nobody on call at {ctx.now.isoformat()} in any of its escalation policies",
                    evidence=[
                        Evidence(
                            source="pagerduty", kind="pagerduty", values={"escalation_policies": t.escalation_policies}
                        )
                    ],
                    fix=Fix(summary="add people to the team's schedules, or place a user directly on a level"),
                )
