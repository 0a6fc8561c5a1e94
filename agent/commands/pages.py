"""`ownership pages --service S | --engineer E`: what can page, through which route, to whom."""

from __future__ import annotations

from datetime import timedelta

import typer
from rich.table import Table

from agent import cli
from agent.errors import InputError
from agent.instants import window_problem
from collectors.durations import parse_duration
from rules.paging import AlertPaging, EngineerPages, PagingResolver, ServicePages


def pages_cmd(
    service: str | None = typer.Option(None, "--service", help="a catalog service name"),
    engineer: str | None = typer.Option(None, "--engineer", help="catalog id, email or PagerDuty user id"),
    at: str | None = typer.Option(None, "--at", help="instant (ISO 8601 with offset); default --now"),
    window: str = typer.Option("7d", "--window", help="for --engineer: how far ahead (Prometheus duration)"),
) -> None:
    """Which alerts can page, through which route, PagerDuty service and level, to whom now and next."""
    if (service is None) == (engineer is None):
        raise InputError("give exactly one of --service or --engineer", source="pages")
    try:
        span = timedelta(seconds=parse_duration(window))
    except ValueError as e:
        raise InputError(f"--window: {e}", source="pages") from None
    problem = window_problem(span.total_seconds())  # the API's bounds
    if problem is not None:
        raise InputError(f"--window: {problem}", source="pages")
    from rules.graph import OwnershipGraph

    snap, now = cli.current_snapshot()
    instant = cli.parse_instant(at, "--at") if at else now
    resolver = PagingResolver(OwnershipGraph.build(snap))
    if service is not None:
        answer: ServicePages | EngineerPages = resolver.service_pages(service, instant)
    else:
        answer = resolver.engineer_pages(engineer or "", instant, span)
    if cli.G.format == "json":
        cli.out.print(answer.model_dump_json(indent=2), markup=False)
    elif isinstance(answer, ServicePages):
        _print_service(answer)
    else:
        _print_engineer(answer)


def _who(a: AlertPaging) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for p in a.paths:
        cond = ", ".join(f"{k}={v}" for k, v in p.condition.items())
        target = p.pagerduty_service_name or ", ".join(p.integrations) or "-"
        level = f"L{p.level}" if p.level else "-"
        now = ", ".join(x.id for x in p.people_now) or "-"
        nxt = ""
        if p.level and p.levels:
            lv = next((x for x in p.levels if x.level == p.level), None)
            if lv and lv.next:
                nxt = lv.next.person.id
        outcome = p.outcome + (f" ({p.reason})" if p.reason and p.outcome != "pages" else "")
        rows.append((f"{p.receiver}{' [' + cond + ']' if cond else ''}", target, level, now, nxt or "-", outcome))
    return rows


def _print_service(ans: ServicePages) -> None:
    cli.out.print(
        f"[bold]{ans.service}[/bold] (team {ans.team or 'none'}) at {ans.at.isoformat()}: "
        f"{ans.paging_alerts} of {len(ans.alerts)} alerts page someone"
    )
    if ans.why_nothing_pages:
        cli.out.print(f"nothing pages: {ans.why_nothing_pages}")
    t = Table()
    for col in (
        "alert",
        "receiver",
        "PagerDuty / integration",
        "level",
        "now",
        "next",
        "outcome",
        "runbook",
        "SLO",
        "fired 30d",
    ):
        t.add_column(col)
    for a in ans.alerts:
        rows = _who(a) or [("(no route)", "-", "-", "-", "-", "nobody")]
        for i, r in enumerate(rows):
            t.add_row(
                a.alert if i == 0 else "",
                *r,
                ("yes" if a.runbook else "NO") if i == 0 else "",
                (a.slo or "-") if i == 0 else "",
                str(a.fired_30d if a.fired_30d is not None else "?") if i == 0 else "",
            )
    cli.out.print(t)


def _print_engineer(ans: EngineerPages) -> None:
    e = ans.engineer
    cli.out.print(
        f"[bold]{e.id}[/bold] ({e.name or '?'}, {e.pagerduty_user_id or 'no PagerDuty id'}) "
        f"from {ans.since.isoformat()} to {ans.until.isoformat()}"
    )
    if ans.why_nothing_pages:
        cli.out.print(f"nothing pages them: {ans.why_nothing_pages}")
    for s in ans.services:
        held = "; ".join(
            f"{h.escalation_policy_name} L{h.level} {h.start.isoformat() if h.start else 'always'}"
            f" - {h.end.isoformat() if h.end else 'always'}"
            for h in s.held
        )
        cli.out.print(f"\n[bold]{s.service}[/bold] at {s.at.isoformat()}: {held}")
        t = Table()
        for col in ("alert", "receiver", "PagerDuty / integration", "level", "now", "next", "outcome"):
            t.add_column(col)
        for a in s.alerts:
            for i, r in enumerate(_who(a)):
                t.add_row(a.alert if i == 0 else "", *r)
        cli.out.print(t)
