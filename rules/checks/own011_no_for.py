"""OWN011: a paging alert with no `for:` pages on one bad scrape."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar

from collectors.durations import format_duration
from rules.engine import CheckContext
from rules.findings import Evidence, Finding, Fix, Severity

# a PagerDuty path kept from paging only by one of these is still a paging alert: the rule is the
# same when the maintenance window or the mute interval ends
_TEMPORARY = ("in maintenance window", "service status is maintenance", "route muted at this instant")


def is_paging(a: Any) -> bool:
    """Whether an alert (rules.paging.AlertPaging) pages: DESIGN's `pages` at the instant, or would
    but for a maintenance window or a mute interval."""
    if a.pages:
        return True
    return any(
        p.pagerduty_service and p.outcome == "nobody" and (p.reason or "").startswith(_TEMPORARY) for p in a.paths
    )


def paging_paths(a: Any) -> list[Any]:
    """The paths that page (or would, but for a maintenance window or a mute interval)."""
    return [
        p
        for p in a.paths
        if p.outcome == "pages"
        or (p.pagerduty_service and p.outcome == "nobody" and (p.reason or "").startswith(_TEMPORARY))
    ]


def observed_at(ctx: CheckContext, source: str) -> datetime | None:
    """When a source last answered (its status's last_success_at)."""
    for res in ctx.graph.snapshot.sources:
        if res.status.name == source:
            return res.status.last_success_at
    return None


def rule_evidence(ctx: CheckContext, a: Any, **values: Any) -> Evidence:
    """The alerting rule itself: its Prometheus source, file and line."""
    return Evidence(
        source=a.prometheus,
        kind="prometheus",
        observed_at=observed_at(ctx, a.prometheus),
        file=a.file,
        line=a.line,
        values={"alert": a.alert, **values},
    )


def route_evidence(ctx: CheckContext, p: Any, **values: Any) -> Evidence:
    """One paging path: the Alertmanager route (file and line) and where it leads."""
    file, _, line = p.route_location.rpartition(":")
    if not file or not line.isdigit():
        file, line = p.route_location if p.route_location != "?" else "", ""
    return Evidence(
        source=p.alertmanager,
        kind="alertmanager",
        observed_at=observed_at(ctx, p.alertmanager),
        file=file or None,
        line=int(line) if line else None,
        values={
            "route": p.route_path,
            "receiver": p.receiver,
            "pagerduty_service": p.pagerduty_service_name or p.pagerduty_service,
            "outcome": p.outcome,
            "urgency": p.urgency,
            **values,
        },
    )


class PagingAlertWithoutFor:
    id: ClassVar[str] = "OWN011"
    severity: ClassVar[Severity] = "warning"
    summary: ClassVar[str] = "paging alert with no `for:` (fires on one bad scrape)"

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        seen: set[tuple[str | None, str]] = set()
        # when no override names the check, one limit holds for every service: an alert whose `for:`
        # reaches it is passed over before its services are read (most of L's 50,000)
        # (read only when there is an alert: an unreadable limit raises where it always did)
        every = None
        if ctx.alerts and ctx.same_for_every_service(self.id):
            every = ctx.duration(self.id, "min_for", None, "0s")
        for a in ctx.alerts:
            if every is not None and a.for_s > 0 and a.for_s >= every:
                continue
            service = a.services[0] if a.services else None
            min_for = ctx.duration(self.id, "min_for", service, "0s")  # (read once per service: ctx.duration)
            if a.for_s > 0 and a.for_s >= min_for:
                continue
            if not is_paging(a) or (service, a.alert) in seen:
                continue
            seen.add((service, a.alert))
            prom = ctx.graph.prometheus.get(a.prometheus)
            interval = prom.evaluation_interval_s if prom else 60.0
            suggested = format_duration(max(120.0, 2 * interval, min_for))
            paths = paging_paths(a)
            not_now = "" if a.pages else f" (not at this instant: {paths[0].reason})"
            now_for = "no `for:`" if a.for_s == 0 else f"`for: {format_duration(a.for_s)}`"
            yield Finding(
                check=self.id,
                severity=self.severity,
                service=service,
                subject=a.alert,
                summary=(
                    f"alert {a.alert} pages through {', '.join(sorted({p.receiver for p in paths}))}{not_now} "
                    f"with {now_for}: one bad evaluation (a failed scrape, a restart, a counter reset) wakes "
                    f"someone up"
                ),
                evidence=[
                    rule_evidence(ctx, a, for_s=a.for_s, severity=a.severity, evaluation_interval_s=interval),
                    *(route_evidence(ctx, p) for p in paths[:3]),
                ],
                fix=Fix(
                    summary=(
                        f"add `for: {suggested}` to {a.alert} (at least two evaluation intervals of "
                        f"{format_duration(interval)}), so the condition must hold before it pages"
                    )
                ),
            )
