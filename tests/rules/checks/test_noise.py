"""OWN008 (noisy alert) on constructed histories: facts built directly, no files.

Alert history episodes and PagerDuty incidents are made up per test; the check is run through
run_checks with the default pack (or a param override), so the pack's thresholds are what is tested.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from collectors.facts import (
    AlertHistory,
    CatalogFacts,
    PagerDutyFacts,
    PDIncident,
    PDLogEntry,
    PrometheusFacts,
    Rule,
    Service,
    SignalsFacts,
    Snapshot,
    SourceResult,
    SourceStatus,
)
from rules.checks.own008_noisy_alert import NoisyAlert, Thresholds, measure
from rules.engine import (
    CheckContext,
    CheckSettings,
    Override,
    RulePack,
    incidents_in_order,
    load_pack,
    merge_packs,
    run_checks,
)
from rules.findings import Finding
from rules.graph import OwnershipGraph

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
ALERTS = ("WebLatencyHigh", "WebDown", "QueueStuck", "DiskFull")


def _rule(name: str, for_s: float = 120.0) -> Rule:
    return Rule(
        type="alerting",
        name=name,
        expr=f"{name.lower()}_metric > 1",
        group="g",
        for_s=for_s,
        labels={"service": "web", "severity": "critical"},
    )


def _status(name: str, kind: str) -> SourceStatus:
    return SourceStatus(name=name, kind=kind, ok=True, collected_at=NOW, last_success_at=NOW)


def _episodes(starts: list[datetime], minutes: float) -> list[tuple[datetime, datetime]]:
    return [(s, s + timedelta(minutes=minutes)) for s in starts]


def _history(name: str, episodes: list[tuple[datetime, datetime]]) -> AlertHistory:
    short = sum(1 for s, e in episodes if (e - s) <= timedelta(minutes=5))
    return AlertHistory(
        alertname=name,
        labels={"alertname": name, "service": "web"},
        fires=len(episodes),
        firing_seconds=sum((e - s).total_seconds() for s, e in episodes),
        short_fires=short,
        episodes=episodes,
    )


def _incidents(
    name: str,
    starts: list[datetime],
    minutes: float,
    *,
    ack: bool = False,
    by_user: bool = False,
    urgency: str = "high",
    tag: str = "",
) -> tuple[list[PDIncident], list[PDLogEntry]]:
    incs, logs = [], []
    for k, s in enumerate(starts):
        iid = f"{name}-{tag}{k}"
        end = s + timedelta(minutes=minutes)
        incs.append(
            PDIncident(
                id=iid,
                title=f"[FIRING:1] {name} web (eu-1 critical)",
                status="resolved",
                urgency=urgency,
                service_id="PWEB",
                created_at=s,
                resolved_at=end,
                acknowledged_at=s + timedelta(minutes=1) if ack else None,
            )
        )
        logs.append(
            PDLogEntry(
                id=f"r{iid}",
                type="resolve_log_entry",
                created_at=end,
                incident_id=iid,
                service_id="PWEB",
                agent_type="user_reference" if by_user else "service_reference",
            )
        )
    return incs, logs


def _snapshot(
    services: list[str],
    rules: list[Rule],
    history: list[AlertHistory],
    incidents: Sequence[PDIncident],
    logs: Sequence[PDLogEntry],
) -> Snapshot:
    """A catalog of these services (each `<name>-team`'s, selecting `service=<name>`), the rules, the alert
    history and the PagerDuty incidents and log entries."""
    return Snapshot(
        taken_at=NOW,
        now=NOW,
        sources=[
            SourceResult(
                status=_status("catalog", "catalog"),
                facts=CatalogFacts(
                    services=[Service(name=s, team=f"{s}-team", alert_selectors=[{"service": s}]) for s in services]
                ),
            ),
            SourceResult(status=_status("prom", "prometheus"), facts=PrometheusFacts(rules=rules)),
            SourceResult(status=_status("signals", "prometheus_signals"), facts=SignalsFacts(alert_history=history)),
            SourceResult(
                status=_status("pagerduty", "pagerduty"),
                facts=PagerDutyFacts(incidents=list(incidents), log_entries=list(logs)),
            ),
        ],
    )


def _run(
    history: list[AlertHistory],
    incidents: Sequence[PDIncident] = (),
    logs: Sequence[PDLogEntry] = (),
    params: dict | None = None,
    rules: list[Rule] | None = None,
) -> list[Finding]:
    snap = _snapshot(["web"], rules if rules is not None else [_rule(n) for n in ALERTS], history, incidents, logs)
    pack = load_pack()
    if params:
        extra = RulePack(
            apiVersion="ownership-agent/v1", kind="RulePack", checks={"OWN008": CheckSettings(params=params)}
        )
        pack = merge_packs(pack, extra)
    return run_checks(OwnershipGraph.build(snap), NOW, pack, only={"OWN008"})


def _every(hours: float, n: int, since_days: float = 29) -> list[datetime]:
    start = NOW - timedelta(days=since_days)
    return [start + timedelta(hours=hours * k) for k in range(n)]


# --------------------------------------------------------------------------- the cases


def test_noisy_alert_pages_often_and_resolves_itself() -> None:
    starts = _every(24, 20)  # 20 pages in 30 days, 4.7 a week, each gone in 3 minutes
    incs, logs = _incidents("WebLatencyHigh", starts, 3)
    found = _run([_history("WebLatencyHigh", _episodes(starts, 5))], incs, logs)
    assert [(f.check, f.service, f.subject, f.severity) for f in found] == [
        ("OWN008", "web", "WebLatencyHigh", "warning")
    ]
    s = found[0].summary
    assert "paged 20 times in 30d (4.7 a week" in s
    assert "20 of 20 pages resolved by themselves within 5 min" in s
    assert "20 of 20 firing episodes lasted 5 min or less" in s
    pd = next(e for e in found[0].evidence if e.kind == "pagerduty")
    assert pd.values["pages"] == 20 and pd.values["auto_resolved"] == 20
    assert found[0].team == "web-team"


def test_alert_that_fires_rarely_is_not_noisy() -> None:
    starts = _every(24 * 7, 4)  # four 3-minute blips in a month: too few to judge
    incs, logs = _incidents("WebDown", starts, 3)
    assert _run([_history("WebDown", _episodes(starts, 5))], incs, logs) == []


def test_long_lasting_real_incident_is_not_noisy() -> None:
    starts = _every(24 * 7, 4)  # weekly, two hours each, acknowledged and resolved by a person
    incs, logs = _incidents("QueueStuck", starts, 120, ack=True, by_user=True)
    assert _run([_history("QueueStuck", _episodes(starts, 120))], incs, logs) == []


def test_flapping_alert_is_noisy_from_history_alone() -> None:
    eps: list[tuple[datetime, datetime]] = []
    for day in _every(48, 14):  # every two days: 20 min on, 10 min off, 20 min on
        eps += _episodes([day, day + timedelta(minutes=30)], 20)
    found = _run([_history("DiskFull", eps)])
    assert [f.subject for f in found] == ["DiskFull"]
    assert "fired again within 30 min of resolving 14 times (3.3 a week" in found[0].summary
    assert "keep_firing_for: 30m" in (found[0].fix.summary if found[0].fix else "")


def test_flaps_with_long_gaps_are_separate_incidents() -> None:
    eps: list[tuple[datetime, datetime]] = []
    for day in _every(48, 14):
        eps += _episodes([day, day + timedelta(minutes=80)], 20)  # 60-minute gap: not a flap
    assert _run([_history("DiskFull", eps)]) == []


def test_pages_per_week_borderline() -> None:
    # the window is 30 days (30/7 weeks): 13 pages are 3.03 a week (reported), 12 are 2.8 (not)
    for n, noisy in ((13, True), (12, False)):
        starts = _every(50, n)
        incs, logs = _incidents("WebLatencyHigh", starts, 60, ack=True, by_user=True)
        found = _run([_history("WebLatencyHigh", _episodes(starts, 60))], incs, logs)
        assert bool(found) is noisy, n


def test_auto_resolve_share_borderline() -> None:
    # 6 pages in 30 days (1.4 a week, under the page rate): 3 resolved themselves is half (reported)
    quick, qlogs = _incidents("WebDown", _every(96, 3), 4)
    slow, slogs = _incidents("WebDown", _every(96, 3, since_days=27), 45, ack=True, by_user=True, tag="s")
    found = _run([], quick + slow, qlogs + slogs)
    assert len(found) == 1 and "3 of 6 pages resolved by themselves" in found[0].summary
    # 2 of 6 is a third: not
    slow2, slogs2 = _incidents("WebDown", _every(96, 4, since_days=27), 45, ack=True, by_user=True, tag="s")
    assert _run([], quick[:2] + slow2, qlogs[:2] + slogs2) == []


def test_auto_resolve_minutes_is_the_limit() -> None:
    incs, logs = _incidents("WebDown", _every(96, 6), 5)  # exactly 5 minutes: counts
    assert len(_run([], incs, logs)) == 1
    incs, logs = _incidents("WebDown", _every(96, 6), 6)  # 6 minutes: does not
    assert _run([], incs, logs) == []


def test_resolved_by_a_person_or_acknowledged_is_not_self_resolved() -> None:
    incs, logs = _incidents("WebDown", _every(96, 6), 3, by_user=True)
    assert _run([], incs, logs) == []
    incs, logs = _incidents("WebDown", _every(96, 6), 3, ack=True)
    assert _run([], incs, logs) == []


def test_low_urgency_incidents_are_not_pages() -> None:
    incs, logs = _incidents("WebLatencyHigh", _every(24, 20), 3, urgency="low")
    assert _run([], incs, logs) == []


def test_short_episode_share_borderline() -> None:
    blips = _episodes(_every(72, 5), 5)
    long = _episodes(_every(72, 5, since_days=28), 30)
    assert len(_run([_history("WebDown", blips + long)])) == 1  # 5 of 10: half
    assert _run([_history("WebDown", blips[:4] + long)]) == []  # 4 of 9: less


def test_history_outside_the_window_is_ignored() -> None:
    old = _episodes(_every(6, 40, since_days=60), 5)
    old = [(s, e) for s, e in old if s < NOW - timedelta(days=31)]
    assert old and _run([_history("WebDown", old)]) == []


def test_params_from_the_pack_are_used() -> None:
    starts = _every(24, 20)
    incs, logs = _incidents("WebLatencyHigh", starts, 60, ack=True, by_user=True)
    assert len(_run([], incs, logs)) == 1
    assert _run([], incs, logs, params={"pages_per_week": 5}) == []


def test_incidents_of_another_alert_with_a_longer_name_do_not_count() -> None:
    incs, logs = _incidents("WebDownRegional", _every(24, 20), 3)
    assert _run([], incs, logs, rules=[_rule("WebDown")]) == []


def test_noisy_alert_that_never_pages_is_info() -> None:
    rule = _rule("WebDown")
    rule.labels["severity"] = "warning"
    found = _run([_history("WebDown", _episodes(_every(24, 20), 5))], rules=[rule])
    assert [(f.subject, f.severity) for f in found] == [("WebDown", "info")]


# --------------------------------------------------------------------------- the indexes agree


def _reference_findings(ctx: Any) -> list[Finding]:
    """OWN008 as it read the facts before its indexes: every alert measured, incidents by a regex scan
    of every title, thresholds read per alert, every log entry."""
    check = NoisyAlert()
    g = ctx.graph
    groups: dict[tuple[str, str | None], list[Any]] = {}
    for a in ctx.alerts:
        for s in a.services or [None]:
            groups.setdefault((a.alert, s), []).append(a)
    logs: dict[str, list[PDLogEntry]] = {}
    for e in g.pagerduty.log_entries:
        if e.incident_id:
            logs.setdefault(e.incident_id, []).append(e)
    out = []
    for (name, service), alerts in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        t = Thresholds.of(ctx, check.id, service)
        history, hsources, hwindow = check._history(ctx, name, service)
        wanted = {p.pagerduty_service for a in alerts for p in a.paths if p.pagerduty_service}
        pat = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
        incidents = [i for i in g.pagerduty.incidents if (not wanted or i.service_id in wanted) and pat.search(i.title)]
        noise = measure(history, hwindow, incidents, logs, ctx.now, t)
        reasons = noise.reasons(t)
        if reasons:
            out.append(check._finding(ctx, name, service, alerts, t, noise, reasons, hsources, "pagerduty"))
    return out


@pytest.mark.parametrize("in_order", [False, True])
def test_indexed_check_finds_what_a_scan_of_every_incident_finds(in_order: bool) -> None:
    """The incident index (alert names only, the widest window's pages), the thresholds shared per
    settings and the alerts skipped for want of history and incidents change no finding: per-service
    windows narrower and wider than the default, offsets other than UTC, low urgency, titles naming an
    alert twice or a longer name, a name that is no single token. `in_order`: the incidents listed by
    creation, as an export lists them (the window is then a slice, see rules.engine.incident_window)."""
    rnd = random.Random(8)
    services = ["web", "api", "db"]
    names = ["WebDown", "WebDownRegional", "ApiSlow", "Db.Lag", "DiskFull", "Quiet"]
    rules = []
    for svc in services:
        for n in names:
            r = _rule(n)
            r.expr = r.expr.replace(".", "_")
            r.labels["service"] = svc
            rules.append(r)
    history = []
    for svc in services:
        for n in names[:3]:
            starts = [NOW - timedelta(days=rnd.uniform(0, 40)) for _ in range(rnd.randint(0, 12))]
            h = _history(n, sorted(_episodes(starts, rnd.choice([3, 10, 40]))))
            h.labels["service"] = svc
            history.append(h)
    incs, logs = [], []
    for k in range(1500):
        n = rnd.choice(names[:-1])
        title = f"[FIRING:1] {n} {rnd.choice(services)}" + (f" again {n}" if k % 7 == 0 else "")
        tz = timezone(timedelta(hours=rnd.choice([0, 2, -5, 9])))
        created = (NOW - timedelta(days=rnd.uniform(-1, 70))).astimezone(tz)
        end = created + timedelta(minutes=rnd.choice([2, 4, 5, 6, 60]))
        iid = f"Q{k}"
        incs.append(
            PDIncident(
                id=iid,
                title=title,
                status="resolved",
                urgency=rnd.choice(["high", "high", "low"]),
                service_id=rnd.choice(["PWEB", "PAPI"]),
                created_at=created,
                resolved_at=end,
                acknowledged_at=created + timedelta(minutes=1) if rnd.random() < 0.2 else None,
            )
        )
        logs.append(
            PDLogEntry(
                id=f"r{iid}",
                type=rnd.choice(["resolve_log_entry", "trigger_log_entry"]),
                created_at=end,
                incident_id=iid,
                agent_type=rnd.choice(["user_reference", "service_reference"]),
            )
        )
    if in_order:
        incs.sort(key=lambda i: i.created_at)
    snap = _snapshot(services, rules, history, incs, logs)
    for overrides in (
        [],
        [
            Override(team="api-team", checks={"OWN008": CheckSettings(params={"window": "7d", "min_pages": 2})}),
            Override(service="db", checks={"OWN008": CheckSettings(params={"window": "60d"})}),
        ],
    ):
        pack = merge_packs(load_pack(), RulePack(apiVersion="ownership-agent/v1", kind="RulePack", overrides=overrides))
        ctx = CheckContext(graph=OwnershipGraph.build(snap), now=NOW, pack=pack)
        assert incidents_in_order(ctx.graph) == in_order
        got = [f.model_dump() for f in NoisyAlert().run(ctx)]
        want = [f.model_dump() for f in _reference_findings(ctx)]
        assert len(want) >= 5
        assert got == want


def test_zero_minimums_judge_history_without_pages_and_pages_without_history() -> None:
    """`min_pages: 0` / `min_episodes: 0` in a pack: an alert with no page (or no episode) is judged on the rest,
    not divided by zero."""
    eps: list[tuple[datetime, datetime]] = []
    for day in _every(48, 14):
        eps += _episodes([day, day + timedelta(minutes=30)], 20)
    found = _run([_history("DiskFull", eps)], params={"min_pages": 0, "min_episodes": 0})
    assert [f.subject for f in found] == ["DiskFull"]
    starts = _every(24, 20)
    incs, logs = _incidents("WebLatencyHigh", starts, 3)
    found = _run([], incs, logs, params={"min_pages": 0, "min_episodes": 0})
    assert [f.subject for f in found] == ["WebLatencyHigh"]
