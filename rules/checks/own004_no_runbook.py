"""OWN004: a paging alert without a runbook."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from collectors.facts import PDService
from rules.checks.own002_slo_no_page import source_of
from rules.engine import CheckContext
from rules.findings import Evidence, Finding, Fix, Severity
from rules.oncall import SEVERITIES, SEVERITY_URGENCY


def _high(rule: dict[str, Any] | None, severity: str | None) -> bool:
    u = (rule or {}).get("urgency") or "high"
    if u == "severity_based":
        return severity is None or SEVERITY_URGENCY.get(severity, "high") == "high"
    return u not in ("low", "suppressed")


def high_urgency_possible(svc: PDService, severity: str | None) -> bool:
    """Whether the service's urgency rule gives this severity high urgency at some time (support hours
    or not): the service can page for it."""
    rule = svc.incident_urgency_rule or {}
    if rule.get("type") == "use_support_hours":
        return _high(rule.get("during_support_hours"), severity) or _high(rule.get("outside_support_hours"), severity)
    return _high(rule, severity)


def paging_path(path: Any, oncall: Any) -> bool:
    """A path that pages now, or would page through an enabled, high-urgency PagerDuty service when the
    route is not muted, the maintenance window is over and someone holds a level. A disabled service,
    a low-urgency or suppressed one, and a severity the Events API rejects never page."""
    if path.outcome == "pages":
        return True
    if not path.pagerduty_service:
        return False
    svc = oncall.services.get(path.pagerduty_service)
    if svc is None or svc.status == "disabled":
        return False
    if path.severity_sent is not None and path.severity_sent not in SEVERITIES:
        return False
    return high_urgency_possible(svc, path.severity_sent)


def paging_paths(alert: Any, oncall: Any, memo: dict[tuple[Any, Any], bool] | None = None) -> list[Any]:
    """The alert's paths that page or could (`paging_path`). `memo`: a dict kept across alerts for the answers
    of paths that do not page now, which `paging_path` reads only the PagerDuty service and the severity of:
    one answer per such pair (L: 72,000 paths of 50,000 alerts)."""
    if memo is None:
        return [p for p in alert.paths if paging_path(p, oncall)]
    out = []
    for p in alert.paths:
        if p.outcome != "pages":
            key = (p.pagerduty_service, p.severity_sent)
            ok = memo.get(key)
            if ok is None:
                ok = memo[key] = paging_path(p, oncall)
            if not ok:
                continue
        out.append(p)
    return out


class NoRunbook:
    id: ClassVar[str] = "OWN004"
    severity: ClassVar[Severity] = "warning"
    summary: ClassVar[str] = "paging alert without a runbook"

    def run(self, ctx: CheckContext) -> Iterator[Finding]:
        oncall = ctx.paging.oncall
        can_page: dict[tuple[Any, Any], bool] = {}
        for a in ctx.alerts:
            if a.runbook and a.runbook.strip():
                continue
            paths = paging_paths(a, oncall, can_page)
            if not paths:
                continue
            service = a.services[0] if a.services else None
            prom, prom_at = source_of(ctx, "prometheus", a.prometheus)
            pd, pd_at = source_of(ctx, "pagerduty")
            pd_names = sorted({p.pagerduty_service_name or p.pagerduty_service or p.receiver for p in paths})
            now = "pages" if any(p.outcome == "pages" for p in paths) else "can page"
            svc = ctx.graph.service(service) if service else None
            base = svc.runbook_base_url if svc else None
            suggestion = f"{base.rstrip('/')}/{a.alert}" if base else f"https://runbooks.example.com/{a.alert}"
            yield Finding(
                check=self.id,
                severity=self.severity,
                service=service,
                subject=a.alert,
                summary=f"alert {a.alert} {now} through {', '.join(pd_names)} with no runbook_url or runbook "
                "annotation: whoever is woken starts from nothing",
                evidence=[
                    Evidence(
                        source=prom,
                        kind="prometheus",
                        observed_at=prom_at,
                        file=a.file,
                        line=a.line,
                        values={"alert": a.alert, "severity": a.severity, "annotations": ["runbook_url", "runbook"]},
                    ),
                    *[
                        Evidence(
                            source=pd,
                            kind="pagerduty",
                            observed_at=pd_at,
                            values={
                                "receiver": p.receiver,
                                "pagerduty_service": p.pagerduty_service_name,
                                "outcome_now": p.outcome,
                                "urgency": p.urgency,
                                "reason": p.reason,
                            },
                        )
                        for p in paths
                    ],
                ],
                fix=Fix(
                    summary=f"add `annotations: {{runbook_url: {suggestion}}}` to {a.alert} and write the page: "
                    "what the alert means, how to confirm it, how to mitigate, whom to escalate to"
                ),
            )
