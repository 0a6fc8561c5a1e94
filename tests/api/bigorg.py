"""A generated organisation (facts built directly, no files): many services, teams and engineers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collectors.facts import (
    SLO,
    AlertmanagerFacts,
    CatalogFacts,
    Matcher,
    PagerDutyFacts,
    PagerDutyTarget,
    PDEscalationPolicy,
    PDIncident,
    PDIntegration,
    PDLevel,
    PDOnCall,
    PDService,
    PDTarget,
    PDUser,
    Person,
    PostgresFacts,
    PrometheusFacts,
    Queue,
    QueueLag,
    Receiver,
    Route,
    Rule,
    Service,
    SignalsFacts,
    SLOFacts,
    SlowQuery,
    Snapshot,
    SourceResult,
    SourceStatus,
    Team,
)

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


def big_org(services: int = 2000, engineers: int = 3000, teams: int = 100) -> Snapshot:
    """`services` services in `teams` teams; every team has a PagerDuty service and a two-level policy whose
    levels rotate daily through the team's engineers; one paging alert, one SLO, a queue and a database per
    service; an incident per service in the last 7 days."""
    team_names = [f"team-{t:03d}" for t in range(teams)]
    users = [PDUser(id=f"PU{u:05d}", name=f"Engineer {u}", email=f"eng{u}@example.com") for u in range(engineers)]
    members: dict[int, list[str]] = {t: [] for t in range(teams)}
    for u in range(engineers):
        members[u % teams].append(users[u].id)
    people = [
        Person(id=f"eng-{u:05d}", email=users[u].email, pagerduty_user_id=users[u].id, teams=[team_names[u % teams]])
        for u in range(engineers)
    ]
    cat_teams = [Team(name=n, escalation_policies=[f"EP{t:03d}"], members=[]) for t, n in enumerate(team_names)]
    svcs = [
        Service(
            name=f"svc-{s:04d}",
            team=team_names[s % teams] if s % 50 else None,  # every 50th service has no owner
            alert_selectors=[{"service": f"svc-{s:04d}"}],
            pagerduty_service_ids=[f"PS{s % teams:03d}"],
            databases=[f"db-{s:04d}"],
            queues=[Queue(name=f"q-{s:04d}", kind="kafka")],
        )
        for s in range(services)
    ]
    rules = [
        Rule(
            type="alerting",
            name=f"Svc{s:04d}Down",
            expr=f'up{{job="svc-{s:04d}"}} == 0',
            group="g",
            for_s=300,
            labels={"service": f"svc-{s:04d}", "team": team_names[s % teams], "severity": "critical"},
            annotations={"runbook_url": "https://runbooks.example.com/x"} if s % 3 else {},
        )
        for s in range(services)
    ]
    route = Route(
        receiver="default",
        group_wait_s=30,
        routes=[Route(receiver=f"pd-{n}", matchers=[Matcher(name="team", op="=", value=n)]) for n in team_names],
    )
    receivers = [Receiver(name="default")] + [
        Receiver(name=f"pd-{n}", pagerduty=[PagerDutyTarget(key_fingerprint=f"fp-{n}", severity="critical")])
        for n in team_names
    ]
    day = timedelta(days=1)
    start = NOW - 8 * day
    oncalls = []
    for t in range(teams):
        rota = members[t]
        for d in range(16):
            for level in (1, 2):
                oncalls.append(
                    PDOnCall(
                        user_id=rota[(2 * d + level) % len(rota)],
                        escalation_policy_id=f"EP{t:03d}",
                        escalation_level=level,
                        schedule_id=f"SC{t:03d}",
                        start=start + d * day,
                        end=start + (d + 1) * day,
                    )
                )
    pd = PagerDutyFacts(
        services=[
            PDService(
                id=f"PS{t:03d}",
                name=f"pd-{n}",
                escalation_policy_id=f"EP{t:03d}",
                integrations=[PDIntegration(id=f"PI{t:03d}", type="events_api_v2", key_fingerprint=f"fp-{n}")],
                incident_urgency_rule={"type": "constant", "urgency": "high"},
            )
            for t, n in enumerate(team_names)
        ],
        escalation_policies=[
            PDEscalationPolicy(
                id=f"EP{t:03d}",
                name=f"ep-{n}",
                levels=[
                    PDLevel(
                        level=1, escalation_delay_in_minutes=15, targets=[PDTarget(type="schedule", id=f"SC{t:03d}")]
                    ),
                    PDLevel(
                        level=2, escalation_delay_in_minutes=15, targets=[PDTarget(type="schedule", id=f"SC{t:03d}")]
                    ),
                ],
            )
            for t, n in enumerate(team_names)
        ],
        oncalls=oncalls,
        users=users,
        incidents=[
            PDIncident(
                id=f"IN{s:05d}",
                title=f"Svc{s:04d}Down",
                status="resolved",
                service_id=f"PS{s % teams:03d}",
                escalation_policy_id=f"EP{s % teams:03d}",
                created_at=NOW - timedelta(hours=1 + (s * 7) % 160),
                assignees=[members[s % teams][s % len(members[s % teams])]],
            )
            for s in range(services)
        ],
    )
    slos = SLOFacts(
        slos=[
            SLO(
                name=f"svc-{s:04d}-availability",
                service=f"svc-{s:04d}",
                objective=99.9,
                format="sloth",
                page_alert=f"Svc{s:04d}Down" if s % 2 else None,
            )
            for s in range(services)
        ]
    )
    signals = SignalsFacts(
        queue_lag=[
            QueueLag(
                queue=f"q-{s:04d}", kind="kafka", value=float(s), metric="kafka_consumergroup_lag", query_name="kafka"
            )
            for s in range(services)
        ]
    )
    pg = PostgresFacts(
        statements=[
            SlowQuery(
                database=f"db-{s:04d}",
                queryid=str(s),
                query="SELECT 1",
                calls=1000,
                total_exec_time_ms=1000.0 * s,
                mean_exec_time_ms=600.0,
            )
            for s in range(services)
        ]
    )

    def ok(name: str, kind: str, facts: object) -> SourceResult:
        st = SourceStatus(name=name, kind=kind, ok=True, collected_at=NOW, last_success_at=NOW, duration_s=0.5)
        return SourceResult(status=st, facts=facts)  # type: ignore[arg-type]

    return Snapshot(
        id=7,
        taken_at=NOW,
        now=NOW,
        sources=[
            ok("catalog", "catalog", CatalogFacts(services=svcs, teams=cat_teams, people=people)),
            ok("prom", "prometheus", PrometheusFacts(rules=rules)),
            ok("am", "alertmanager", AlertmanagerFacts(route=route, receivers=receivers)),
            ok("pagerduty", "pagerduty", pd),
            ok("slos", "slo", slos),
            ok("signals", "prometheus_signals", signals),
            ok("db", "postgres", pg),
        ],
    )
