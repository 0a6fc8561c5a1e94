"""OWN003: an alert that routes to a receiver that notifies nobody, or falls to a default route nobody watches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from rules.checks.own002_slo_no_page import source_of
from rules.engine import CheckContext
from rules.findings import Evidence, Finding, Fix, Severity

NOBODY = "receiver notifies nobody"


def _compatible(a: dict[str, str], b: dict[str, str]) -> bool:
    """Whether two path conditions (open label -> `v1|v2` alternatives) can hold at once."""
    for k in a.keys() & b.keys():
        if not set(a[k].split("|")) & set(b[k].split("|")):
            return False
    return True


def _loc(route_location: str) -> tuple[str | None, int | None]:
    file, _, line = route_location.rpartition(":")
    if file and line.isdigit():
        return file, int(line)
    return (route_location if route_location and route_location != "?" else None), None


def silent_paths(alert: Any) -> list[Any]:
    """Paths to a receiver without integrations, under a condition where no other path of the same
    Alertmanager tells anyone (a `continue: true` sibling that notifies makes it harmless)."""
    out = []
    for p in alert.paths:
        if p.reason != NOBODY:
            continue
        others = [
            q
            for q in alert.paths
            if q is not p
            and q.alertmanager == p.alertmanager
            and q.outcome in ("pages", "notifies", "unknown")
            and _compatible(p.condition, q.condition)
        ]
        if not others:
            out.append(p)
    return out


class NotifiesNobody:
    id: ClassVar[str] = "OWN003"
    severity: ClassVar[Severity] = "critical"
    summary: ClassVar[str] = (
        "alert that routes to a receiver that notifies nobody, or falls to a default route nobody watches"
    )

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        ignored_of: dict[str | None, set[str]] = {}  # per service: a set made once, not once per alert
        for a in ctx.alerts:
            silent = silent_paths(a)
            if not silent:
                continue  # (most alerts: before the settings are read)
            service = a.services[0] if a.services else None
            ignored = ignored_of.get(service)
            if ignored is None:
                ignored = ignored_of[service] = set(ctx.param(self.id, "ignore_alerts", service, []) or [])
            if a.alert in ignored:
                continue
            prom, prom_at = source_of(ctx, "prometheus", a.prometheus)
            evidence = [
                Evidence(
                    source=prom,
                    kind="prometheus",
                    observed_at=prom_at,
                    file=a.file,
                    line=a.line,
                    values={"alert": a.alert, "labels": a.labels, "fired_30d": a.fired_30d},
                )
            ]
            parts = []
            for p in silent:
                am, am_at = source_of(ctx, "alertmanager", p.alertmanager)
                file, line = _loc(p.route_location)
                default = p.route_path == "root"
                evidence.append(
                    Evidence(
                        source=am,
                        kind="alertmanager",
                        observed_at=am_at,
                        file=file,
                        line=line,
                        values={
                            "route": p.route_path,
                            "receiver": p.receiver,
                            "default_route": default,
                            "condition": p.condition,
                            "reason": p.reason,
                        },
                    )
                )
                where = "falls to the default (root) route" if default else f"routes ({p.route_path})"
                cond = " when " + ", ".join(f"{k}={v}" for k, v in p.condition.items()) if p.condition else ""
                parts.append(f"{where} to receiver {p.receiver} on {p.alertmanager}{cond}, which has no integrations")
            fired = f"; it fired {a.fired_30d} times in the last 30 days" if a.fired_30d else ""
            yield Finding(
                check=self.id,
                severity=self.severity if a.severity in ("critical", "error", "page") else "warning",
                service=service,
                subject=a.alert,
                summary=f"alert {a.alert} {'; '.join(parts)}: nobody is told when it fires{fired}",
                evidence=evidence,
                fix=Fix(
                    summary="route it to a receiver that reaches its owners (their PagerDuty service or Slack channel), "
                    "or delete the rule if nobody needs it; a deliberately dropped alert belongs in the pack's "
                    f"`{self.id}.ignore_alerts`"
                ),
            )
