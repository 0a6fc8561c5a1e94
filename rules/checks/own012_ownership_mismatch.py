"""OWN012: an alert that pages a service it is not attributed to (ownership mismatch)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from rules.checks.own011_no_for import observed_at, route_evidence, rule_evidence
from rules.engine import CheckContext
from rules.findings import Evidence, Finding, Fix, Severity


class OwnershipMismatch:
    id: ClassVar[str] = "OWN012"
    severity: ClassVar[Severity] = "warning"
    summary: ClassVar[str] = "alert that pages a service it is not attributed to (ownership mismatch)"

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        g = ctx.graph
        owners: dict[str, list[str]] = {}
        for s in g.catalog.services:
            for pd in s.pagerduty_service_ids:
                owners.setdefault(pd, []).append(s.name)
        owner_sets = {pd: frozenset(names) for pd, names in owners.items()}  # (not one set per path of 50,000 alerts)
        catalog_src = next(
            (r.status.name for r in g.snapshot.sources if r.facts is not None and r.facts.kind == "catalog"), "catalog"
        )
        seen: set[tuple[str, str]] = set()
        for a in ctx.alerts:
            if not a.services:
                continue  # unattributed: nothing to compare with
            service = a.services[0]
            if (service, a.alert) in seen:
                continue
            # every PagerDuty path counts, whatever its outcome now: the route sends it to those people
            wrong = [
                p
                for p in a.paths
                if p.pagerduty_service
                and owners.get(p.pagerduty_service)
                and owner_sets[p.pagerduty_service].isdisjoint(a.services)
            ]
            if not wrong:
                continue
            seen.add((service, a.alert))
            reached = sorted({o for p in wrong for o in owners[p.pagerduty_service or ""]})
            pd_names = sorted({p.pagerduty_service_name or p.pagerduty_service or "" for p in wrong})
            team = ctx.team_of(service)
            other_teams = sorted({t for o in reached if (t := ctx.team_of(o)) and t != team})
            teams_text = f" (team {', '.join(other_teams)} instead of {team})" if other_teams and team else ""
            evidence = [rule_evidence(ctx, a, labels=a.labels, attributed_to=a.services)]
            evidence += [route_evidence(ctx, p) for p in wrong[:3]]
            for name in reached:
                svc = g.service(name)
                evidence.append(
                    Evidence(
                        source=catalog_src,
                        kind="catalog",
                        observed_at=observed_at(ctx, catalog_src),
                        file=svc.location.file if svc else None,
                        line=svc.location.line if svc else None,
                        values={"service": name, "pagerduty_service_ids": svc.pagerduty_service_ids if svc else []},
                    )
                )
            yield Finding(
                check=self.id,
                severity=self.severity,
                service=service,
                subject=a.alert,
                summary=(
                    f"alert {a.alert} is attributed to {', '.join(a.services)} by its labels, but its route "
                    f"({', '.join(sorted({p.route_path for p in wrong}))}) sends it to PagerDuty "
                    f"{', '.join(pd_names)}, owned by {', '.join(reached)}{teams_text}: "
                    f"the people paged are not the owners"
                ),
                evidence=evidence,
                fix=Fix(
                    summary=(
                        f"route {a.alert} to the receiver of {service} (narrow the route that catches it first, or "
                        f"add a route for service={service} before it), or relabel the alert if {', '.join(reached)} "
                        f"really owns it"
                    )
                ),
            )
