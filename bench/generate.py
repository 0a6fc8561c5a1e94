"""A generated organisation of a given size, written as files for every source (deterministic, seeded).

`python -m bench.generate --size L [--out DIR]` writes catalog.yaml, rule files (about 100 rules a file,
plain alerts and Sloth-generated SLO rules), prometheus.yml, alertmanager.yml (a routing tree of about
2,000 routes for L), a PagerDuty export folder, Sloth SLO specs, recorded signals, a
pg_stat_statements recording and ownership.yaml into a cache folder outside the repository
(`$TMPDIR/ownership-bench/<size>` by default). Generated data is never committed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
SEED = 20261116
FORMAT_VERSION = "1"  # bump when the generated files change shape: cached folders are regenerated


@dataclass(frozen=True)
class Size:
    name: str
    services: int
    teams: int
    engineers: int
    pd_services: int
    schedules: int
    alerting_rules: int
    incidents: int
    slo_every: int = 4  # one SLO spec per this many services
    rules_per_file: int = 100


SIZES = {
    "S": Size(
        "S", services=100, teams=8, engineers=60, pd_services=30, schedules=16, alerting_rules=1000, incidents=4000
    ),
    "M": Size(
        "M",
        services=1000,
        teams=80,
        engineers=600,
        pd_services=300,
        schedules=160,
        alerting_rules=10000,
        incidents=40000,
    ),
    "L": Size(
        "L",
        services=5000,
        teams=400,
        engineers=3000,
        pd_services=1500,
        schedules=800,
        alerting_rules=50000,
        incidents=200000,
    ),
}

QUEUE_KINDS = ("kafka", "rabbitmq", "sqs", "celery")
QUEUE_QUERY = {
    "kafka": ("sum by (consumergroup, topic) (kafka_consumergroup_lag)", "topic"),
    "rabbitmq": ("sum by (queue, vhost) (rabbitmq_queue_messages_ready)", "queue"),
    "sqs": ("max by (queue_name) (aws_sqs_approximate_age_of_oldest_message_maximum)", "queue_name"),
    "celery": ("sum by (queue_name) (celery_queue_length)", "queue_name"),
}
QUEUE_METRIC = {
    "kafka": "kafka_consumergroup_lag",
    "rabbitmq": "rabbitmq_queue_messages_ready",
    "sqs": "aws_sqs_approximate_age_of_oldest_message_maximum",
    "celery": "celery_queue_length",
}
TIMEZONES = ("Europe/Berlin", "America/New_York", "Europe/London", "Asia/Tokyo", "America/Los_Angeles", "UTC")


def default_dir(size: str) -> Path:
    return Path(os.environ.get("OWNERSHIP_BENCH_DIR") or Path(tempfile.gettempdir()) / "ownership-bench") / size


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def q(s: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(s)


def pd_id(prefix: str, n: int) -> str:
    return f"{prefix}{n:06d}"


def key_of(name: str) -> str:
    return "bench" + hashlib.sha256(name.encode()).hexdigest()[:28]


# ---------------------------------------------------------------------------------------------- model


class Org:
    """The organisation as plain data; every file is written from it."""

    def __init__(self, size: Size):
        self.size = size
        rnd = random.Random(SEED)
        self.rnd = rnd
        z = size
        self.teams = [f"team-{t:03d}" for t in range(z.teams)]
        self.team_tz = {t: TIMEZONES[i % len(TIMEZONES)] for i, t in enumerate(self.teams)}
        self.users = [pd_id("PU", u) for u in range(z.engineers)]
        self.members: dict[str, list[int]] = {t: [] for t in self.teams}
        for u in range(z.engineers):
            self.members[self.teams[u % z.teams]].append(u)
        self.services = [f"svc-{s:05d}" for s in range(z.services)]
        # every 97th service has no owning team (OWN001)
        self.svc_team = {s: (None if i % 97 == 96 else self.teams[i % z.teams]) for i, s in enumerate(self.services)}
        self.owner_team = {s: self.teams[i % z.teams] for i, s in enumerate(self.services)}  # routing team label
        # PagerDuty services, spread over teams; each catalog service pages through one of its team's
        self.pd_services = [pd_id("PS", p) for p in range(z.pd_services)]
        self.pd_team = {p: self.teams[i % z.teams] for i, p in enumerate(self.pd_services)}
        by_team: dict[str, list[str]] = {t: [] for t in self.teams}
        for p in self.pd_services:
            by_team[self.pd_team[p]].append(p)
        self.team_pd = by_team
        self.svc_pd: dict[str, str] = {}
        per_team_count: dict[str, int] = {}
        for s in self.services:
            t = self.owner_team[s]
            k = per_team_count.get(t, 0)
            per_team_count[t] = k + 1
            self.svc_pd[s] = by_team[t][k % len(by_team[t])]
        self.pd_svcs: dict[str, list[str]] = {p: [] for p in self.pd_services}
        for s, p in self.svc_pd.items():
            self.pd_svcs[p].append(s)
        # schedules: schedules/teams per team (primary, secondary, ...)
        self.schedules = [pd_id("SC", c) for c in range(z.schedules)]
        self.team_sched: dict[str, list[str]] = {t: [] for t in self.teams}
        for i, c in enumerate(self.schedules):
            self.team_sched[self.teams[i % z.teams]].append(c)
        self.policies = {t: pd_id("EP", i) for i, t in enumerate(self.teams)}
        self.pd_team_ids = {t: pd_id("PT", i) for i, t in enumerate(self.teams)}
        # queues and databases
        self.svc_queue: dict[str, tuple[str, str]] = {}
        self.svc_db: dict[str, str] = {}
        for i, s in enumerate(self.services):
            if i % 3 == 0:
                kind = QUEUE_KINDS[(i // 3) % len(QUEUE_KINDS)]
                self.svc_queue[s] = (f"{s}.{'events' if kind == 'kafka' else 'jobs'}", kind)
            if i % 2 == 0:
                self.svc_db[s] = f"db_{s.replace('-', '_')}"
        self.slo_services = [s for i, s in enumerate(self.services) if i % z.slo_every == 1]
        self.metrics: set[str] = set()


# ---------------------------------------------------------------------------------------------- rules


def _alerts_for(org: Org, i: int, s: str, count: int) -> list[dict[str, Any]]:
    job = f'job="{s}"'
    team = org.owner_team[s]
    metric = f"{s.replace('-', '_')}_jobs_failed_total"
    base = {"team": team, "service": s}
    camel = "Svc" + s.split("-")[1]
    rb = f"https://runbooks.example.com/{s}"
    out = [
        dict(
            alert=f"{camel}HighErrorRate",
            expr=f'sum(rate(http_requests_total{{{job},code=~"5.."}}[5m])) / sum(rate(http_requests_total{{{job}}}[5m])) > 0.05',
            for_="5m",
            sev="critical",
            runbook=True,
        ),
        dict(
            alert=f"{camel}HighLatency",
            expr=f"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{job}}}[5m]))) > 0.5",
            for_="10m",
            sev="critical",
            runbook=i % 7 != 0,
        ),
        dict(alert=f"{camel}Down", expr=f"up{{{job}}} == 0", for_="2m", sev="critical", runbook=True),
        dict(
            alert=f"{camel}PodsNotReady",
            expr=f'kube_deployment_status_replicas_available{{deployment="{s}"}} < kube_deployment_spec_replicas{{deployment="{s}"}}',
            for_="15m",
            sev="warning",
            runbook=True,
        ),
        dict(
            alert=f"{camel}CPUThrottling",
            expr=f'sum(rate(container_cpu_cfs_throttled_periods_total{{container="{s}"}}[5m])) / sum(rate(container_cpu_cfs_periods_total{{container="{s}"}}[5m])) > 0.25',
            for_="15m",
            sev="warning",
            runbook=False,
        ),
        dict(
            alert=f"{camel}MemoryHigh",
            expr=f'max by (pod) (container_memory_working_set_bytes{{container="{s}"}} / container_spec_memory_limit_bytes{{container="{s}"}}) > 0.9',
            for_="10m",
            sev="warning",
            runbook=True,
        ),
        dict(
            alert=f"{camel}Restarting",
            expr=f'increase(kube_pod_container_status_restarts_total{{container="{s}"}}[1h]) > 3',
            for_="",
            sev="warning",
            runbook=True,
        ),
        dict(
            alert=f"{camel}JobsFailing",
            expr=f"sum(rate({metric}[10m])) > 1",
            for_="" if i % 11 == 0 else "5m",  # no for: on a paging alert (OWN011)
            sev="critical",
            runbook=i % 5 != 0,
        ),
    ]
    org.metrics.update(
        {
            "http_requests_total",
            "http_request_duration_seconds_bucket",
            "up",
            "kube_deployment_status_replicas_available",
            "kube_deployment_spec_replicas",
            "container_cpu_cfs_throttled_periods_total",
            "container_cpu_cfs_periods_total",
            "container_memory_working_set_bytes",
            "container_spec_memory_limit_bytes",
            "kube_pod_container_status_restarts_total",
        }
    )
    if i % 13 != 0:  # every 13th service's business metric has no series (OWN007)
        org.metrics.add(metric)
    if s in org.svc_queue and i % 6 == 0:  # half the queues are watched (OWN009 on the others)
        qname, kind = org.svc_queue[s]
        lbl = QUEUE_QUERY[kind][1]
        out.append(
            dict(
                alert=f"{camel}QueueBacklog",
                expr=f'sum by ({lbl}) ({QUEUE_METRIC[kind]}{{{lbl}="{qname}"}}) > 10000',
                for_="10m",
                sev="critical",
                runbook=True,
            )
        )
    if s in org.svc_db:
        db = org.svc_db[s]
        out.append(
            dict(
                alert=f"{camel}DbConnectionsHigh",
                expr=f'sum by (datname) (pg_stat_activity_count{{datname="{db}"}}) > 180',
                for_="10m",
                sev="warning",
                runbook=True,
            )
        )
        org.metrics.add("pg_stat_activity_count")
    extra = 0
    while len(out) < count:
        extra += 1
        out.append(
            dict(
                alert=f"{camel}Custom{extra}",
                expr=f'sum(rate(http_requests_total{{{job},handler="/api/v{extra}"}}[5m])) < 1',
                for_="30m",
                sev="warning",
                runbook=True,
            )
        )
    out = out[:count]
    for a in out:
        a["labels"] = {**base, "severity": a.pop("sev")}
        a["annotations"] = {"summary": f"{a['alert']} on {s}"}
        if a.pop("runbook"):
            a["annotations"]["runbook_url"] = f"{rb}/{a['alert'].lower()}"
    return out


def _rule_yaml(r: dict[str, Any], ind: str = "  ") -> list[str]:
    kind = "alert" if "alert" in r else "record"
    lines = [f"{ind}- {kind}: {r[kind]}", f"{ind}  expr: {q(r['expr'])}"]
    if r.get("for_"):
        lines.append(f"{ind}  for: {r['for_']}")
    for k in ("labels", "annotations"):
        if r.get(k):
            lines.append(f"{ind}  {k}:")
            lines.extend(f"{ind}    {lk}: {q(lv)}" for lk, lv in r[k].items())
    return lines


def _groups_yaml(groups: list[tuple[str, list[dict[str, Any]]]], header: str) -> str:
    lines = [header, "groups:"]
    for name, rules in groups:
        lines.append(f"- name: {q(name)}")
        lines.append("  rules:")
        for r in rules:
            lines.extend(_rule_yaml(r))
    return "\n".join(lines) + "\n"


def _sloth_groups(org: Org, s: str, idx: int) -> list[tuple[str, list[dict[str, Any]]]]:
    """Sloth-generated rules for one SLO (recordings, meta, burn-rate page and ticket alerts)."""
    from collectors.facts import SLO
    from rules.fixes import slo_rules

    slo = _slo_fact(org, s)
    doc = slo_rules(
        slo,
        alert_name=_slo_alert(s),
        page_labels={"severity": "critical"},
        ticket_labels={"severity": "warning"},
        runbook_url=f"https://runbooks.example.com/{s}/slo-availability" if idx % 4 else None,
        page=idx % 9 != 0,  # every 9th generated SLO has only a ticket alert (OWN002)
    )
    assert isinstance(slo, SLO)
    out = []
    for g in doc["groups"]:
        rules = []
        for r in g["rules"]:
            d = dict(r)
            d["for_"] = d.pop("for", "")
            if "alert" in d:
                d["labels"] = {"team": org.owner_team[s], "service": s, **(d.get("labels") or {})}
            rules.append(d)
        out.append((g["name"], rules))
    return out


def _slo_alert(s: str) -> str:
    return "Svc" + s.split("-")[1] + "AvailabilityBurnRate"


def _slo_fact(org: Org, s: str) -> Any:
    from collectors.facts import SLO

    return SLO(
        name="requests-availability",
        service=s,
        objective=99.9,
        error_query=f'sum(rate(http_requests_total{{job="{s}",code=~"5.."}}[{{{{.window}}}}]))',
        total_query=f'sum(rate(http_requests_total{{job="{s}"}}[{{{{.window}}}}]))',
        format="sloth",
        page_alert=_slo_alert(s),
        ticket_alert=_slo_alert(s),
        labels={"team": org.owner_team[s], "service": s},
    )


def write_rules(org: Org, out: Path) -> tuple[int, int, int]:
    """Plain alert files (per team folder) and Sloth-generated files; returns (files, alerts, recordings)."""
    z = org.size
    rules_dir = out / "prometheus" / "rules"
    generated = [s for k, s in enumerate(org.slo_services) if k % 5 != 4]  # 1 in 5 SLOs has no generated rules
    sloth: list[tuple[str, list[tuple[str, list[dict]]]]] = [
        (s, _sloth_groups(org, s, k)) for k, s in enumerate(generated)
    ]
    sloth_alerts = sum(1 for _, gs in sloth for _, rs in gs for r in rs if "alert" in r)
    plain_total = z.alerting_rules - sloth_alerts
    n = len(org.services)
    base, rest = divmod(plain_total, n)
    files = alerts = recs = 0
    batch: list[tuple[str, list[dict]]] = []
    batch_rules = 0

    def flush() -> None:
        nonlocal batch, batch_rules, files
        if batch:
            team = batch[0][1][0]["labels"]["team"]
            p = rules_dir / team / f"alerts-{files:05d}.yml"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(_groups_yaml(batch, f"# generated by bench/generate.py (size {z.name})"), encoding="utf-8")
            files += 1
        batch, batch_rules = [], 0

    order = sorted(range(n), key=lambda i: (org.owner_team[org.services[i]], i))  # a team's files together
    for i in order:
        s = org.services[i]
        rs = _alerts_for(org, i, s, base + (1 if i < rest else 0))
        if batch and (
            batch_rules + len(rs) > z.rules_per_file or batch[0][1][0]["labels"]["team"] != org.owner_team[s]
        ):
            flush()
        batch.append((s, rs))
        batch_rules += len(rs)
        alerts += len(rs)
    flush()
    # Sloth files: as many SLOs per file as make ~100 rules
    per_slo = sum(len(rs) for _, rs in sloth[0][1]) if sloth else 1
    per_file = max(1, z.rules_per_file // per_slo)
    for k in range(0, len(sloth), per_file):
        chunk = sloth[k : k + per_file]
        groups = [g for _, gs in chunk for g in gs]
        p = rules_dir / "slo" / f"sloth-{k // per_file:05d}.yml"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(_groups_yaml(groups, "# Code generated by Sloth (bench); DO NOT EDIT."), encoding="utf-8")
        files += 1
        for _, rs in groups:
            for r in rs:
                if "alert" in r:
                    alerts += 1
                else:
                    recs += 1
    return files, alerts, recs


# ---------------------------------------------------------------------------------------------- other files


def write_catalog(org: Org, out: Path) -> None:
    lines = ["apiVersion: ownership-agent/v1", "kind: Catalog", "teams:"]
    for t in org.teams:
        lines += [
            f"- name: {t}",
            f"  timezone: {org.team_tz[t]}",
            "  pagerduty:",
            f"    team_id: {org.pd_team_ids[t]}",
            f"    escalation_policies: [{org.policies[t]}]",
            f"    schedules: [{', '.join(org.team_sched[t])}]",
        ]
    lines.append("people:")
    for u, uid in enumerate(org.users):
        t = org.teams[u % org.size.teams]
        lines += [
            f"- id: eng-{u:05d}",
            f"  name: Engineer {u}",
            f"  email: eng{u}@example.com",
            f"  teams: [{t}]",
            f"  pagerduty_user_id: {uid}",
        ]
    lines.append("services:")
    for i, s in enumerate(org.services):
        lines.append(f"- name: {s}")
        if org.svc_team[s]:
            lines.append(f"  team: {org.svc_team[s]}")
        lines += [
            f"  tier: {1 + i % 3}",
            f"  system: system-{i % 50:02d}",
            "  alerts:",
            f"  - service: {s}",
            "  pagerduty:",
            f"    service_ids: [{org.svc_pd[s]}]",
        ]
        if s in org.svc_db:
            lines.append(f"  databases: [{org.svc_db[s]}]")
        if s in org.svc_queue:
            qn, kind = org.svc_queue[s]
            lines += ["  queues:", f"  - name: {qn}", f"    kind: {kind}"]
            if kind == "kafka":
                lines.append(f"    consumer_group: {s}-worker")
        lines.append(f"  runbook_base_url: https://runbooks.example.com/{s}")
    (out / "catalog.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_prometheus(org: Org, out: Path) -> None:
    text = """global:
  scrape_interval: 30s
  evaluation_interval: 1m
  external_labels:
    cluster: bench-1
    region: eu
    prometheus_replica: prom-0
alerting:
  alert_relabel_configs:
  - action: labeldrop
    regex: prometheus_replica
  alertmanagers:
  - static_configs:
    - targets: ['alertmanager.monitoring.svc:9093']
rule_files: [rules/*/*.yml]
scrape_configs:
- job_name: services
  file_sd_configs:
  - files: [targets/services-*.json]
"""
    p = out / "prometheus" / "prometheus.yml"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")


def write_alertmanager(org: Org, out: Path) -> int:
    """The routing tree: mirrors, then one route per team with a child per PagerDuty service."""
    L = [
        "global:",
        "  resolve_timeout: 5m",
        "route:",
        "  receiver: slack-unrouted",
        "  group_by: [alertname, service]",
        "  group_wait: 30s",
        "  group_interval: 5m",
        "  repeat_interval: 4h",
        "  routes:",
        "  - receiver: slack-incidents",
        "    matchers: ['severity=\"critical\"']",
        "    continue: true",
        "  - receiver: ticketing-webhook",
        "    matchers: ['sloth_severity=\"ticket\"']",
        "    continue: true",
    ]
    routes = 2
    for k, t in enumerate(org.teams):
        if k % 37 == 36:  # a team whose alerts fall to the default route (OWN003)
            continue
        L += [f"  - receiver: slack-{t}", f"    matchers: ['team=\"{t}\"']", "    routes:"]
        routes += 1
        if k % 10 == 0:
            L += ["    - receiver: blackhole", "      matchers: ['alertname=~\"Svc.*Custom1\"']"]
            routes += 1
        if k % 8 == 0:
            L += ["    - receiver: blackhole", "      matchers: ['env=\"staging\"']"]
            routes += 1
        for p in org.team_pd[t]:
            svcs = org.pd_svcs[p]
            if not svcs:
                continue
            rx = "|".join(svcs)
            L += [
                f"    - receiver: pd-{p}",
                f"      matchers: ['service=~\"{rx}\"', 'severity=\"critical\"']",
            ]
            routes += 1
    L += [
        "receivers:",
        "- name: slack-unrouted",
        "  slack_configs:",
        "  - api_url: https://hooks.slack.com/services/BENCH/UNROUTED/X",
        "    channel: '#alerts-unrouted'",
        "- name: slack-incidents",
        "  slack_configs:",
        "  - api_url: https://hooks.slack.com/services/BENCH/INCIDENTS/X",
        "    channel: '#incidents'",
        "- name: ticketing-webhook",
        "  webhook_configs:",
        "  - url: http://ticket-bridge.tools.svc:8080/alertmanager",
        "- name: blackhole",
    ]
    for t in org.teams:
        L += [
            f"- name: slack-{t}",
            "  slack_configs:",
            f"  - api_url: https://hooks.slack.com/services/BENCH/{t.upper()}/X",
            f"    channel: '#{t}-alerts'",
        ]
    for p in org.pd_services:
        L += [f"- name: pd-{p}", "  pagerduty_configs:", f"  - routing_key: {key_of(p)}"]
    L += [
        "inhibit_rules:",
        "- source_matchers: ['severity=\"critical\"']",
        "  target_matchers: ['severity=\"warning\"']",
        "  equal: [alertname, service]",
    ]
    d = out / "alertmanager"
    d.mkdir(parents=True, exist_ok=True)
    (d / "alertmanager.yml").write_text("\n".join(L) + "\n", encoding="utf-8")
    silences = []
    for k, s in enumerate(org.services[:: max(1, len(org.services) // 20)]):
        start = NOW - timedelta(days=2 + k % 20)
        silences.append(
            {
                "id": f"00000000-0000-4000-8000-{k:012d}",
                "status": {"state": "active"},
                "updatedAt": iso(start),
                "comment": "bench silence",
                "createdBy": "bench",
                "startsAt": iso(start),
                "endsAt": iso(NOW + timedelta(days=1 + k % 10)),
                "matchers": [
                    {
                        "name": "alertname",
                        "value": "Svc" + s.split("-")[1] + "HighErrorRate",
                        "isRegex": False,
                        "isEqual": True,
                    },
                    {"name": "service", "value": s, "isRegex": False, "isEqual": True},
                ],
            }
        )
    (d / "silences.json").write_text(json.dumps(silences, indent=1), encoding="utf-8")
    return routes


def _ref(kind: str, i: str) -> dict[str, str]:
    return {"id": i, "type": f"{kind}_reference"}


def _body(name: str, items: list) -> dict[str, Any]:
    return {name: items, "limit": len(items), "offset": 0, "more": False, "total": len(items)}


def write_pagerduty(org: Org, out: Path) -> dict[str, int]:
    z = org.size
    rnd = random.Random(SEED + 1)
    d = out / "pagerduty"
    d.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}

    def dump(name: str, items: list) -> None:
        counts[name] = len(items)
        with (d / f"{name}.json").open("w", encoding="utf-8") as f:
            json.dump(_body(name, items), f, separators=(",", ":"))

    dump("teams", [{"id": org.pd_team_ids[t], "type": "team", "name": t} for t in org.teams])
    dump(
        "users",
        [
            {
                "id": uid,
                "type": "user",
                "name": f"Engineer {u}",
                "email": f"eng{u}@example.com",
                "time_zone": org.team_tz[org.teams[u % z.teams]],
                "teams": [_ref("team", org.pd_team_ids[org.teams[u % z.teams]])],
            }
            for u, uid in enumerate(org.users)
        ],
    )
    week = 7 * 86400
    layer_start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    schedules = []
    sched_users: dict[str, list[str]] = {}
    for t in org.teams:
        mem = [org.users[u] for u in org.members[t]]
        for k, c in enumerate(org.team_sched[t]):
            users = mem[k::2] if len(mem) >= 4 else mem  # primary and secondary rotate disjoint halves
            sched_users[c] = users
            schedules.append(
                {
                    "id": c,
                    "type": "schedule",
                    "name": f"{t} {'primary' if k == 0 else 'secondary' if k == 1 else f'extra {k}'}",
                    "time_zone": org.team_tz[t],
                    "users": [_ref("user", x) for x in users],
                    "teams": [_ref("team", org.pd_team_ids[t])],
                    "escalation_policies": [_ref("escalation_policy", org.policies[t])],
                    "schedule_layers": [
                        {
                            "name": "Layer 1",
                            "start": iso(layer_start),
                            "end": None,
                            "rotation_virtual_start": iso(layer_start),
                            "rotation_turn_length_seconds": week,
                            "users": [{"user": _ref("user", x)} for x in users],
                            "restrictions": [],
                        }
                    ],
                }
            )
    dump("schedules", schedules)
    policies = []
    oncalls = []
    window = (NOW - timedelta(days=30), NOW + timedelta(days=14))
    for k, t in enumerate(org.teams):
        mem = [org.users[u] for u in org.members[t]]
        levels: list[tuple[str, str]] = [("schedule", c) for c in org.team_sched[t][:2]]
        if k % 20 == 7:
            levels = [("user", mem[0])]  # one person behind the whole policy (OWN006)
        else:
            levels.append(("user", mem[-1]))
        policies.append(
            {
                "id": org.policies[t],
                "type": "escalation_policy",
                "name": t,
                "num_loops": 1,
                "escalation_rules": [
                    {"escalation_delay_in_minutes": 15 if n < len(levels) - 1 else 30, "targets": [_ref(kind, tid)]}
                    for n, (kind, tid) in enumerate(levels)
                ],
                "teams": [_ref("team", org.pd_team_ids[t])],
            }
        )
        for n, (kind, tid) in enumerate(levels, start=1):
            if kind == "user":
                oncalls.append(
                    {
                        "escalation_policy": _ref("escalation_policy", org.policies[t]),
                        "escalation_level": n,
                        "schedule": None,
                        "user": _ref("user", tid),
                        "start": None,
                        "end": None,
                    }
                )
                continue
            users = sched_users[tid]
            t0 = layer_start
            while t0 < window[1]:
                t1 = t0 + timedelta(seconds=week)
                if t1 > window[0] and not (k % 23 == 5 and n == 1 and t0 > NOW):  # a future hole (OWN005)
                    turn = int((t0 - layer_start).total_seconds() // week)
                    oncalls.append(
                        {
                            "escalation_policy": _ref("escalation_policy", org.policies[t]),
                            "escalation_level": n,
                            "schedule": _ref("schedule", tid),
                            "user": _ref("user", users[turn % len(users)]),
                            "start": iso(max(t0, window[0])),
                            "end": iso(min(t1, window[1])),
                        }
                    )
                t0 = t1
    dump("escalation_policies", policies)
    dump("oncalls", oncalls)
    services = []
    for k, p in enumerate(org.pd_services):
        t = org.pd_team[p]
        svc: dict[str, Any] = {
            "id": p,
            "type": "service",
            "name": f"{t}-{k:05d}",
            "status": "disabled" if k % 151 == 150 else "active",
            "escalation_policy": _ref("escalation_policy", org.policies[t]),
            "teams": [_ref("team", org.pd_team_ids[t])],
            "acknowledgement_timeout": 1800,
            "auto_resolve_timeout": 14400,
            "integrations": [
                {
                    "id": pd_id("PI", k),
                    "type": "events_api_v2_inbound_integration",
                    "name": "Alertmanager",
                    "integration_key": key_of(p),
                }
            ],
            "incident_urgency_rule": {"type": "constant", "urgency": "high"},
        }
        if k % 17 == 3:
            svc["incident_urgency_rule"] = {
                "type": "use_support_hours",
                "during_support_hours": {"type": "constant", "urgency": "high"},
                "outside_support_hours": {"type": "constant", "urgency": "low"},
            }
            svc["support_hours"] = {
                "type": "fixed_time_per_day",
                "time_zone": org.team_tz[t],
                "days_of_week": [1, 2, 3, 4, 5],
                "start_time": "09:00:00",
                "end_time": "17:00:00",
            }
        services.append(svc)
    dump("services", services)
    # incidents over 90 days; log entries (trigger, acknowledge, resolve) for the last 14 days
    incidents = []
    log_entries = []
    span = 90 * 86400
    svc_alerts = {p: org.pd_svcs[p] or [None] for p in org.pd_services}
    for n in range(z.incidents):
        p = org.pd_services[rnd.randrange(len(org.pd_services))]
        t = org.pd_team[p]
        created = NOW - timedelta(seconds=rnd.randrange(span))
        s = rnd.choice(svc_alerts[p])
        title = f"[FIRING:1] Svc{s.split('-')[1] if s else '00000'}HighErrorRate {s or ''}"
        open_ = created > NOW - timedelta(hours=6) and n % 5 == 0
        ack = created + timedelta(seconds=60 + rnd.randrange(900))
        res = ack + timedelta(seconds=60 + rnd.randrange(3600))
        if res > NOW:
            open_ = True
        mem = org.members[t]
        assignee = org.users[mem[n % len(mem)]]
        inc = {
            "id": pd_id("Q", n),
            "incident_number": n + 1,
            "title": title,
            "status": ("acknowledged" if ack < NOW else "triggered") if open_ else "resolved",
            "urgency": "high",
            "service": _ref("service", p),
            "escalation_policy": _ref("escalation_policy", org.policies[t]),
            "created_at": iso(created),
            "last_status_change_at": iso(min(res, NOW) if not open_ else min(ack, NOW)),
            "resolved_at": None if open_ else iso(res),
            "assignments": [{"assignee": _ref("user", assignee)}],
        }
        incidents.append(inc)
        if created > NOW - timedelta(days=14):
            iid = inc["id"]
            log_entries.append(
                {
                    "id": f"LT{n:08d}",
                    "type": "trigger_log_entry",
                    "created_at": iso(created),
                    "incident": _ref("incident", iid),
                    "service": _ref("service", p),
                    "agent": _ref("service", p),
                }
            )
            if ack < NOW:
                log_entries.append(
                    {
                        "id": f"LA{n:08d}",
                        "type": "acknowledge_log_entry",
                        "created_at": iso(ack),
                        "incident": _ref("incident", iid),
                        "service": _ref("service", p),
                        "agent": _ref("user", assignee),
                    }
                )
            if not open_:
                log_entries.append(
                    {
                        "id": f"LR{n:08d}",
                        "type": "resolve_log_entry",
                        "created_at": iso(res),
                        "incident": _ref("incident", iid),
                        "service": _ref("service", p),
                        "agent": _ref("user", assignee),
                    }
                )
    incidents.sort(key=lambda i: i["created_at"])
    dump("incidents", incidents)
    dump("log_entries", log_entries)
    mws = [
        {
            "id": pd_id("MW", k),
            "type": "maintenance_window",
            "start_time": iso(NOW - timedelta(hours=1)),
            "end_time": iso(NOW + timedelta(hours=2)),
            "description": "bench maintenance",
            "services": [_ref("service", p)],
        }
        for k, p in enumerate(org.pd_services[5 :: max(1, len(org.pd_services) // 10)])
    ]
    dump("maintenance_windows", mws)
    return counts


def write_slos(org: Org, out: Path) -> int:
    d = out / "slos"
    d.mkdir(parents=True, exist_ok=True)
    for s in org.slo_services:
        t = org.owner_team[s]
        text = f"""version: prometheus/v1
service: {s}
labels:
  team: {t}
  service: {s}
slos:
- name: requests-availability
  objective: 99.9
  description: {s} requests succeed.
  sli:
    events:
      error_query: {q(f'sum(rate(http_requests_total{{job="{s}",code=~"5.."}}[{{{{.window}}}}]))')}
      total_query: {q(f'sum(rate(http_requests_total{{job="{s}"}}[{{{{.window}}}}]))')}
  alerting:
    name: {_slo_alert(s)}
    labels:
      team: {t}
      service: {s}
    annotations:
      summary: {s} is burning its error budget too fast
    page_alert:
      labels:
        severity: critical
    ticket_alert:
      labels:
        severity: warning
"""
        (d / f"{s}.yaml").write_text(text, encoding="utf-8")
    return len(org.slo_services)


def write_signals(org: Org, out: Path) -> None:
    rnd = random.Random(SEED + 2)
    d = out / "signals"
    d.mkdir(parents=True, exist_ok=True)
    t_now = int(NOW.timestamp())
    queries: dict[str, Any] = {}
    for kind in QUEUE_KINDS:
        query, lbl = QUEUE_QUERY[kind]
        result = []
        for s, (qn, k) in org.svc_queue.items():
            if k != kind:
                continue
            metric = {lbl: qn}
            if kind == "kafka":
                metric["consumergroup"] = f"{s}-worker"
            result.append({"metric": metric, "value": [t_now, str(rnd.randrange(0, 50000))]})
        queries[f"queue_lag:{kind}"] = {"query": query, "data": {"resultType": "vector", "result": result}}
        org.metrics.add(QUEUE_METRIC[kind])
    # ALERTS history: a few episodes for 2 % of the alerts (first alert of every 5th service)
    step = 300
    start = t_now - 30 * 86400
    series = []
    for i, s in enumerate(org.services):
        if i % 5:
            continue
        values = []
        for _ in range(1 + i % 7):
            t0 = start + rnd.randrange(0, 30 * 86400 - 7200) // step * step
            for k in range(1 + rnd.randrange(6)):
                values.append([t0 + k * step, "1"])
        series.append(
            {
                "metric": {
                    "__name__": "ALERTS",
                    "alertname": "Svc" + s.split("-")[1] + "HighErrorRate",
                    "alertstate": "firing",
                    "service": s,
                    "team": org.owner_team[s],
                    "severity": "critical",
                },
                "values": sorted(values),
            }
        )
    queries["alert_history"] = {
        "query": 'ALERTS{alertstate="firing"}',
        "start": (NOW - timedelta(days=30)).isoformat(),
        "end": NOW.isoformat(),
        "step": f"{step}s",
        "data": {"resultType": "matrix", "result": series},
    }
    queries["metric_names"] = {"endpoint": "/api/v1/label/__name__/values", "data": sorted(org.metrics | {"ALERTS"})}
    body = {
        "apiVersion": "ownership-agent/v1",
        "kind": "RecordedSignals",
        "recorded_at": NOW.isoformat(),
        "queries": queries,
    }
    (d / "prometheus.json").write_text(json.dumps(body, separators=(",", ":")), encoding="utf-8")
    dbs: dict[str, list] = {}
    for i, db in enumerate(org.svc_db.values()):
        rows = []
        for k in range(6):
            calls = rnd.randrange(1000, 2_000_000)
            mean = round(rnd.uniform(0.05, 3.0) if (i + k) % 17 else rnd.uniform(300, 2500), 3)
            rows.append(
                {
                    "queryid": str(int(hashlib.sha256(f"{db}{k}".encode()).hexdigest()[:15], 16)),
                    "query": f"SELECT * FROM t{k} WHERE id = $1",
                    "calls": calls,
                    "total_exec_time": round(calls * mean, 2),
                    "mean_exec_time": mean,
                    "rows": calls,
                }
            )
        dbs[db] = rows
    body = {
        "apiVersion": "ownership-agent/v1",
        "kind": "RecordedStatements",
        "recorded_at": NOW.isoformat(),
        "databases": dbs,
    }
    (d / "postgres.json").write_text(json.dumps(body, separators=(",", ":")), encoding="utf-8")


def write_config(out: Path) -> None:
    text = f"""# generated by bench/generate.py; paths are relative to this file
apiVersion: ownership-agent/v1
kind: Config
now: '{NOW.isoformat()}'
store:
  url: sqlite:///store/bench.db
sources:
- name: catalog
  kind: catalog
  timeout_s: 600
  files: [catalog.yaml]
- name: prom
  kind: prometheus
  timeout_s: 600
  config_file: prometheus/prometheus.yml
- name: am
  kind: alertmanager
  timeout_s: 600
  config_file: alertmanager/alertmanager.yml
  silences_file: alertmanager/silences.json
- name: pagerduty
  kind: pagerduty
  timeout_s: 600
  export_dir: pagerduty/
- name: slos
  kind: slo
  timeout_s: 600
  files: [slos/*.yaml]
- name: signals
  kind: prometheus_signals
  timeout_s: 600
  recording: signals/prometheus.json
- name: db
  kind: postgres
  timeout_s: 600
  recording: signals/postgres.json
"""
    (out / "ownership.yaml").write_text(text, encoding="utf-8")


def generate(size: str, out: Path | None = None, force: bool = False) -> Path:
    """Write the organisation of `size` into `out` (default: the cache folder); reuse it when complete."""
    z = SIZES[size]
    out = out or default_dir(size)
    stamp = out / ".complete"
    want = f"{FORMAT_VERSION} {z}"
    if not force and stamp.exists() and stamp.read_text() == want:
        write_config(out)
        return out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    org = Org(z)
    files, alerts, recs = write_rules(org, out)
    write_catalog(org, out)
    write_prometheus(org, out)
    routes = write_alertmanager(org, out)
    pd = write_pagerduty(org, out)
    slos = write_slos(org, out)
    write_signals(org, out)
    write_config(out)
    (out / "store").mkdir(exist_ok=True)
    info = {
        "size": z.name,
        "services": z.services,
        "teams": z.teams,
        "engineers": z.engineers,
        "rule_files": files,
        "alerting_rules": alerts,
        "recording_rules": recs,
        "routes": routes,
        "slos": slos,
        **{f"pagerduty_{k}": v for k, v in pd.items()},
    }
    (out / "org.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    stamp.write_text(want)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__)
    ap.add_argument("--size", choices=sorted(SIZES), default="S")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--force", action="store_true", help="regenerate even when the folder is complete")
    a = ap.parse_args(argv)
    out = generate(a.size, a.out, a.force)
    print(out)  # noqa: T201
    print((out / "org.json").read_text())  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
