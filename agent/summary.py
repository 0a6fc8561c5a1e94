"""The collection summary, computed from the ownership graph (pure)."""

from __future__ import annotations

from agent.answers import OnCallNow, SourceState, Summary
from rules.graph import OwnershipGraph


def summarize(g: OwnershipGraph) -> Summary:
    snap = g.snapshot
    users = {u.id: u for u in g.pagerduty.users}
    people_by_pd = {p.pagerduty_user_id: p.id for p in g.catalog.people if p.pagerduty_user_id}
    team_of_policy = {ep: t.name for t in g.catalog.teams for ep in t.escalation_policies}
    policies = {p.id: p for p in g.pagerduty.escalation_policies}
    oncall = []
    for ep_id, levels in sorted(g.oncall_by_policy(snap.now).items()):
        for level, uids in sorted(levels.items()):
            names = [people_by_pd.get(u) or (users[u].name if u in users else u) for u in uids]
            oncall.append(
                OnCallNow(
                    team=team_of_policy.get(ep_id),
                    escalation_policy=policies[ep_id].name if ep_id in policies else ep_id,
                    level=level,
                    people=sorted(names),
                )
            )
    sources = []
    for s in snap.sources:
        st = s.status
        state = "failed" if not st.ok else ("stale" if st.stale else "ok")
        sources.append(
            SourceState(
                name=st.name,
                kind=st.kind,
                state=state,
                last_success_at=st.last_success_at,
                error=st.error,
                detail=st.detail,
            )
        )
    return Summary(
        snapshot_id=snap.id,
        now=snap.now,
        services=len(g.catalog.services),
        teams=len(g.catalog.teams),
        people=len(g.catalog.people),
        alert_rules=len(g.alert_rules()),
        recording_rules=len(g.recording_rules()),
        routes=sum(g.count_routes(a.route) for a in g.alertmanagers.values()),
        receivers=sum(len(a.receivers) for a in g.alertmanagers.values()),
        pagerduty_services=len(g.pagerduty.services),
        escalation_policies=len(g.pagerduty.escalation_policies),
        schedules=len(g.pagerduty.schedules),
        incidents=len(g.pagerduty.incidents),
        slos=len(g.slos.slos),
        queues_with_lag=sum(len(s.queue_lag) for s in g.signals.values()),
        slow_statements=sum(len(p.statements) for p in g.postgres.values()),
        unowned_services=sorted(s.name for s in g.catalog.services if not s.team),
        on_call_now=oncall,
        sources=sources,
    )
