"""Generate the bundled demo organisation under ``agent/demo/org/``.

    python -m agent.demo.generate            # write the organisation (overwrites)
    python -m agent.demo.generate --tools    # also run promtool / amtool on the result

Deterministic: one ``random.Random(42)``, no wall clock. Every instant derives
from ``NOW`` (2026-11-16T09:30:00+00:00, a Monday). The outputs are committed,
so they are kept human-readable: YAML with a stable key order, JSON indented
with one space.

The planted findings (one clear case per check OWN000..OWN013) are written by
hand in ``EXPECTED_FINDINGS`` below, not computed; ``self_check()`` asserts
reference integrity of everything written and a few invariants that keep the
rest of the organisation clean of findings.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

UTC = timezone.utc  # noqa: UP017
NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
HISTORY_START = NOW - timedelta(days=30)  # alert_history, oncalls
INCIDENT_START = NOW - timedelta(days=90)
ONCALL_END = NOW + timedelta(days=14)
STEP = 300

ORG = Path(__file__).resolve().parent / "org"
PD_API = "https://api.pagerduty.com"
PD_WEB = "https://example-demo.pagerduty.com"
RUNBOOKS = "https://runbooks.example.com"

rng = random.Random(42)

# --------------------------------------------------------------------------- helpers


def iso(dt: datetime) -> str:
    """UTC instant as PagerDuty writes it: 2026-11-16T09:30:00Z."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_local(dt: datetime) -> str:
    return dt.isoformat()


def ts(dt: datetime) -> int:
    return int(dt.timestamp())


_used_ids: set[str] = set()
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def pd_id(prefix: str = "P", length: int = 6) -> str:
    while True:
        value = prefix + "".join(rng.choice(_ALNUM) for _ in range(length))
        if value not in _used_ids:
            _used_ids.add(value)
            return value


def fake_key() -> str:
    """A 32-character fake integration / routing key (clearly a demo value)."""
    return "demo" + "".join(rng.choice("0123456789abcdef") for _ in range(28))


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", data):  # times of day: always quoted
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


def _list_representer(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    short = all(isinstance(x, (str, int, float)) and "\n" not in str(x) for x in data) and len(str(data)) < 80
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=short)


_Dumper.add_representer(str, _str_representer)
_Dumper.add_representer(list, _list_representer)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False)


def write(rel: str, text: str) -> None:
    path = ORG / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_json(rel: str, data: Any) -> None:
    write(rel, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def write_yaml(rel: str, data: Any, header: str = "") -> None:
    write(rel, header + dump_yaml(data))


# --------------------------------------------------------------------------- the organisation

TEAMS = [
    # name, display, time zone, working hours, description
    ("payments", "Payments", "Europe/Berlin", ("09:00", "18:00"), "Checkout, payment providers and the ledger."),
    ("storefront", "Storefront", "America/New_York", ("08:30", "17:30"), "The web shop, product catalog and search."),
    ("platform", "Platform", "Europe/Berlin", ("09:00", "18:00"), "API gateway, identity and notifications."),
    ("data", "Data", "America/New_York", ("09:00", "18:00"), "Event pipeline, reporting and ML features."),
]

PEOPLE = [
    # handle, name, team, job title
    ("anna", "Anna Becker", "payments", "Senior Engineer"),
    ("ben", "Ben Okafor", "payments", "Engineer"),
    ("clara", "Clara Jansen", "payments", "Senior Engineer"),
    ("david", "David Morales", "payments", "Engineer"),
    ("elif", "Elif Yilmaz", "payments", "Staff Engineer"),
    ("felix", "Felix Wagner", "payments", "Senior Engineer"),
    ("greta", "Greta Lindqvist", "payments", "Engineering Manager"),
    ("hannah", "Hannah Cohen", "storefront", "Senior Engineer"),
    ("ivan", "Ivan Petrov", "storefront", "Engineer"),
    ("jamal", "Jamal Carter", "storefront", "Engineer"),
    ("kate", "Kate Sullivan", "storefront", "Search Engineer"),
    ("liam", "Liam O'Brien", "storefront", "Engineer"),
    ("maya", "Maya Patel", "storefront", "Tech Lead"),
    ("nico", "Nico Rossi", "platform", "Senior SRE"),
    ("olga", "Olga Nowak", "platform", "SRE"),
    ("pavel", "Pavel Dvorak", "platform", "SRE"),
    ("quinn", "Quinn Harper", "platform", "Senior SRE"),
    ("rosa", "Rosa Fernandez", "platform", "Staff SRE"),
    ("sven", "Sven Holm", "platform", "Engineering Manager"),
    ("tara", "Tara Singh", "data", "Data Engineer"),
    ("umar", "Umar Farouk", "data", "Data Engineer"),
    ("vera", "Vera Kuznetsova", "data", "Senior Data Engineer"),
    ("will", "Will Turner", "data", "Data Engineer"),
    ("xena", "Xena Park", "data", "ML Engineer"),
    ("yusuf", "Yusuf Demir", "data", "Senior ML Engineer"),
]

# Catalog services (catalog.yaml); feature-store comes from the Backstage file.
SERVICES = [
    dict(
        name="checkout",
        team="payments",
        tier=1,
        system="shop",
        description="Takes orders and payments from the web shop.",
        databases=["orders"],
        queues=[dict(name="orders.created", kind="kafka", consumer_group="checkout-worker")],
    ),
    dict(
        name="payments-api",
        team="payments",
        tier=1,
        system="shop",
        description="Talks to the payment providers; settles captured payments.",
        databases=["payments"],
        queues=[dict(name="payments.settlement", kind="rabbitmq")],
    ),
    dict(
        name="ledger",
        team="payments",
        tier=1,
        system="finance",
        description="Double-entry ledger of every money movement.",
        databases=["ledger"],
        queues=[dict(name="ledger.events", kind="kafka", consumer_group="ledger-writer")],
    ),
    dict(
        name="storefront-web",
        team="storefront",
        tier=1,
        system="shop",
        description="Server-rendered web shop.",
        databases=[],
        queues=[],
    ),
    dict(
        name="catalog-api",
        team="storefront",
        tier=2,
        system="shop",
        description="Products, prices and stock for the shop.",
        databases=[],
        queues=[],
    ),
    dict(
        name="search",
        team="storefront",
        tier=2,
        system="shop",
        description="Product search on Elasticsearch.",
        databases=[],
        queues=[dict(name="search-indexing", kind="celery")],
    ),
    dict(
        name="api-gateway",
        team="platform",
        tier=1,
        system="edge",
        description="Public API gateway (Envoy) in front of every service.",
        databases=[],
        queues=[],
    ),
    dict(
        name="auth",
        team="platform",
        tier=1,
        system="edge",
        description="Login, sessions and token issuing.",
        databases=[],
        queues=[],
    ),
    dict(
        name="notifications",
        team="platform",
        tier=2,
        system="messaging",
        description="Sends e-mail and SMS to customers.",
        databases=[],
        queues=[dict(name="notifications.email", kind="rabbitmq"), dict(name="notifications-sms", kind="sqs")],
    ),
    dict(
        name="analytics-pipeline",
        team="data",
        tier=3,
        system="analytics",
        description="Ingests raw shop events into the warehouse.",
        databases=["analytics"],
        queues=[dict(name="events.raw", kind="kafka", consumer_group="analytics-ingest")],
    ),
    dict(
        name="reporting",
        team="data",
        tier=3,
        system="analytics",
        description="Scheduled finance and merchant reports.",
        databases=["reporting"],
        queues=[dict(name="reports", kind="celery")],
    ),
    # Planted OWN001: no team.
    dict(
        name="legacy-cron",
        team=None,
        tier=3,
        system="shop",
        description="Nightly cron box left over from the monolith (clean-up jobs).",
        databases=[],
        queues=[],
    ),
]
BACKSTAGE_SERVICES = ["feature-store"]

# Schedules: key, name, team, time zone, users, turn (s), virtual start (local wall clock), restriction
SCHEDULES = [
    dict(
        key="payments-primary",
        name="Payments Primary",
        team="payments",
        tz="Europe/Berlin",
        users=["anna", "ben", "clara", "david"],
        turn=7 * 86400,
        vstart=(2026, 1, 5, 10, 0),
    ),
    dict(
        key="payments-secondary",
        name="Payments Secondary",
        team="payments",
        tz="Europe/Berlin",
        users=["elif", "felix"],
        turn=7 * 86400,
        vstart=(2026, 1, 5, 10, 0),
    ),
    dict(
        key="storefront-primary",
        name="Storefront Primary",
        team="storefront",
        tz="America/New_York",
        users=["hannah", "ivan", "jamal", "kate"],
        turn=7 * 86400,
        vstart=(2026, 1, 5, 11, 0),
    ),
    dict(
        key="platform-primary",
        name="Platform Primary (daily)",
        team="platform",
        tz="Europe/Berlin",
        users=["nico", "olga", "pavel", "quinn"],
        turn=86400,
        vstart=(2026, 1, 5, 9, 0),
    ),
    dict(
        key="platform-secondary",
        name="Platform Secondary",
        team="platform",
        tz="Europe/Berlin",
        users=["rosa", "sven"],
        turn=7 * 86400,
        vstart=(2026, 1, 5, 9, 0),
    ),
    dict(
        key="data-primary",
        name="Data Primary",
        team="data",
        tz="America/New_York",
        users=["tara", "umar", "vera", "will"],
        turn=7 * 86400,
        vstart=(2026, 1, 5, 10, 0),
    ),
    dict(
        key="data-secondary",
        name="Data Secondary",
        team="data",
        tz="America/New_York",
        users=["xena", "yusuf"],
        turn=7 * 86400,
        vstart=(2026, 1, 5, 10, 0),
    ),
    # Planted OWN005: business-days only (Mon 00:00 .. Sat 00:00 New York), nobody at weekends.
    dict(
        key="data-batch-primary",
        name="Data Batch Primary (business days)",
        team="data",
        tz="America/New_York",
        users=["vera", "will"],
        turn=7 * 86400,
        vstart=(2026, 1, 5, 0, 0),
        weekdays_only=True,
    ),
    dict(
        key="data-batch-secondary",
        name="Data Batch Secondary (business days)",
        team="data",
        tz="America/New_York",
        users=["xena", "yusuf"],
        turn=7 * 86400,
        vstart=(2026, 1, 5, 0, 0),
        weekdays_only=True,
    ),
]

# The one override: Liam covers Storefront Primary for 12 hours (Wed evening to Thu morning, New York).
OVERRIDE = dict(
    schedule="storefront-primary",
    user="liam",
    start=datetime(2026, 11, 18, 20, 0, tzinfo=ZoneInfo("America/New_York")),
    end=datetime(2026, 11, 19, 8, 0, tzinfo=ZoneInfo("America/New_York")),
)

ESCALATION_POLICIES = [
    dict(
        key="payments",
        name="Payments",
        team="payments",
        num_loops=1,
        levels=[
            (15, [("schedule", "payments-primary")]),
            (15, [("schedule", "payments-secondary")]),
            (30, [("user", "greta")]),
        ],
    ),
    dict(
        key="storefront",
        name="Storefront",
        team="storefront",
        num_loops=0,
        levels=[(10, [("schedule", "storefront-primary")]), (20, [("user", "maya")])],
    ),
    # Planted OWN006: one level, one person.
    dict(
        key="search", name="Search (single engineer)", team="storefront", num_loops=0, levels=[(30, [("user", "kate")])]
    ),
    dict(
        key="platform",
        name="Platform",
        team="platform",
        num_loops=1,
        levels=[(10, [("schedule", "platform-primary")]), (15, [("schedule", "platform-secondary")])],
    ),
    dict(
        key="data",
        name="Data",
        team="data",
        num_loops=0,
        levels=[(15, [("schedule", "data-primary")]), (20, [("schedule", "data-secondary")])],
    ),
    # Planted OWN005: both levels are business-days-only schedules.
    dict(
        key="data-reporting",
        name="Data Reporting (business days)",
        team="data",
        num_loops=0,
        levels=[(15, [("schedule", "data-batch-primary")]), (30, [("schedule", "data-batch-secondary")])],
    ),
]

SUPPORT_HOURS_SERVICE = "notifications"
MAINTENANCE_SERVICE = "catalog-api"
MAINTENANCE = (datetime(2026, 11, 16, 8, 0, tzinfo=UTC), datetime(2026, 11, 16, 12, 0, tzinfo=UTC))

# PagerDuty services: key (= catalog service name), escalation policy, how Alertmanager sends to it
PD_SERVICES = [
    ("checkout", "payments", "routing_key"),
    ("payments-api", "payments", "routing_key"),
    ("ledger", "payments", "routing_key"),
    ("storefront-web", "storefront", "routing_key"),
    ("catalog-api", "storefront", "routing_key"),
    ("search", "search", "routing_key"),
    ("api-gateway", "platform", "routing_key"),
    ("auth", "platform", "service_key"),
    ("notifications", "platform", "routing_key_file"),
    ("analytics-pipeline", "data", "routing_key"),
    ("reporting", "data-reporting", "routing_key"),
    ("feature-store", "data", "routing_key"),
    ("storefront-legacy", "storefront", None),  # disabled, not routed to
]
TEAM_OF_SERVICE = {s["name"]: s["team"] for s in SERVICES} | {
    "feature-store": "data",
    "storefront-legacy": "storefront",
}

# --------------------------------------------------------------------------- alert rules


def rb(service: str, slug: str) -> str:
    return f"{RUNBOOKS}/{service}/{slug}"


class A:
    """One hand-written alerting rule (and what its firing series look like)."""

    def __init__(
        self,
        name: str,
        expr: str,
        for_: str | None,
        severity: str,
        service: str,
        summary: str,
        runbook: str | None = "auto",
        out: dict[str, str] | None = None,
        extra: dict[str, str] | None = None,
        description: str | None = None,
    ):
        self.name = name
        self.expr = expr
        self.for_ = for_
        self.severity = severity
        self.service = service
        self.team = TEAM_OF_SERVICE[service]
        self.summary = summary
        self.description = description
        slug = re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()
        self.runbook = rb(service, slug) if runbook == "auto" else runbook
        self.out = out or {}
        self.extra = extra or {}
        self.sloth: dict[str, str] | None = None  # sloth labels carried by the series (generated rules)
        self.sloth_severity: str | None = None

    @property
    def labels(self) -> dict[str, str]:
        labels = {"severity": self.severity, "team": self.team, "service": self.service}
        labels.update(self.extra)
        return labels

    @property
    def effective_severity(self) -> str:
        """Severity as Alertmanager sees it, after prometheus.yml's alert_relabel_configs."""
        return "critical" if self.severity == "page" else self.severity

    def rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_:
            rule["for"] = self.for_
        rule["labels"] = self.labels
        annotations = {"summary": self.summary}
        if self.description:
            annotations["description"] = self.description
        if self.runbook:
            annotations["runbook_url"] = self.runbook
        rule["annotations"] = annotations
        return rule

    def series_labels(self) -> dict[str, str]:
        """Labels of its ALERTS series (rule labels + what the expr keeps)."""
        labels = dict(self.out)
        if self.sloth:
            labels.update(self.sloth)
        labels.update(self.labels)
        return labels


def err_ratio(job: str, threshold: str) -> str:
    return (
        f'sum by (job) (rate(http_requests_total{{job="{job}",code=~"5.."}}[5m]))\n'
        f'/\nsum by (job) (rate(http_requests_total{{job="{job}"}}[5m])) > {threshold}'
    )


def p99(job: str, threshold: str) -> str:
    return (
        f'histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket{{job="{job}"}}[5m])))'
        f" > {threshold}"
    )


def down(job: str) -> str:
    return f'sum by (job) (up{{job="{job}"}}) == 0'


J = lambda job: {"job": job}  # noqa: E731

PAYMENTS_ALERTS = [
    A(
        "CheckoutHighErrorRate",
        err_ratio("checkout", "0.05"),
        "5m",
        "critical",
        "checkout",
        "More than 5% of checkout requests fail",
        out=J("checkout"),
    ),
    # Planted OWN004: paging, no runbook_url.
    A(
        "CheckoutPaymentProviderErrors",
        'sum by (provider) (rate(checkout_payment_provider_errors_total{job="checkout"}[5m])) > 1',
        "5m",
        "critical",
        "checkout",
        "Payment provider {{ $labels.provider }} returns errors",
        runbook=None,
        out={"provider": "adyen"},
    ),
    A(
        "CheckoutConsumerLagHigh",
        'sum by (consumergroup, topic) (kafka_consumergroup_lag{consumergroup="checkout-worker",topic="orders.created"}) > 10000',
        "10m",
        "critical",
        "checkout",
        "checkout-worker is {{ $value }} messages behind on orders.created",
        out={"consumergroup": "checkout-worker", "topic": "orders.created"},
    ),
    A(
        "CheckoutPodsNotReady",
        'kube_deployment_status_replicas_available{namespace="shop",deployment="checkout"}\n'
        '< kube_deployment_spec_replicas{namespace="shop",deployment="checkout"}',
        "15m",
        "warning",
        "checkout",
        "Some checkout pods are not ready",
        out={"namespace": "shop", "deployment": "checkout"},
    ),
    A(
        "CheckoutOrdersDbConnectionsHigh",
        'sum by (datname) (pg_stat_activity_count{datname="orders"}) > 180',
        "10m",
        "warning",
        "checkout",
        "orders database is close to max_connections",
        out={"datname": "orders"},
    ),
    # Planted OWN011: paging, no `for:`.
    A(
        "PaymentsApiDown",
        'up{job="payments-api"} == 0',
        None,
        "critical",
        "payments-api",
        "payments-api instance {{ $labels.instance }} is down",
        out={"job": "payments-api", "instance": "10.20.3.17:8080"},
    ),
    A(
        "PaymentsApiHighLatency",
        p99("payments-api", "1"),
        "10m",
        "critical",
        "payments-api",
        "payments-api p99 latency above 1s",
        out=J("payments-api"),
    ),
    A(
        "PaymentsSettlementBacklog",
        'sum by (queue, vhost) (rabbitmq_queue_messages_ready{queue="payments.settlement"}) > 2000',
        "15m",
        "critical",
        "payments-api",
        "{{ $value }} settlements waiting in payments.settlement",
        out={"queue": "payments.settlement", "vhost": "/payments"},
    ),
    A(
        "PaymentsApiHighErrorRate",
        err_ratio("payments-api", "0.02"),
        "10m",
        "warning",
        "payments-api",
        "More than 2% of payments-api requests fail",
        out=J("payments-api"),
    ),
    A(
        "PaymentsWebhookDeliveryFailures",
        "sum(rate(payments_webhook_delivery_failures_total[15m])) > 0.5",
        "30m",
        "warning",
        "payments-api",
        "Merchant webhooks are failing",
        runbook=None,
    ),
    A("LedgerDown", down("ledger"), "5m", "critical", "ledger", "No ledger instance is up", out=J("ledger")),
    # severity "page" is rewritten to "critical" by prometheus.yml's alert_relabel_configs.
    A(
        "LedgerBalanceMismatch",
        'max by (job) (ledger_balance_mismatch_accounts{job="ledger"}) > 0',
        "15m",
        "page",
        "ledger",
        "{{ $value }} ledger accounts do not balance",
        out=J("ledger"),
    ),
    A(
        "LedgerConsumerLagHigh",
        'sum by (consumergroup, topic) (kafka_consumergroup_lag{consumergroup="ledger-writer",topic="ledger.events"}) > 5000',
        "10m",
        "critical",
        "ledger",
        "ledger-writer is {{ $value }} messages behind on ledger.events",
        out={"consumergroup": "ledger-writer", "topic": "ledger.events"},
    ),
    # Planted OWN003: routed to the blackhole receiver.
    A(
        "LedgerNightlyExportFailed",
        "time() - max(ledger_export_last_success_timestamp_seconds) > 93600",
        "5m",
        "warning",
        "ledger",
        "The nightly ledger export to finance has not succeeded for 26 hours",
    ),
    A(
        "LedgerDbConnectionsHigh",
        'sum by (datname) (pg_stat_activity_count{datname="ledger"}) > 150',
        "10m",
        "warning",
        "ledger",
        "ledger database is close to max_connections",
        out={"datname": "ledger"},
    ),
]

STOREFRONT_ALERTS = [
    # Planted OWN008: pages often, resolves within minutes.
    A(
        "StorefrontWebHighLatency",
        p99("storefront-web", "2"),
        "2m",
        "critical",
        "storefront-web",
        "storefront-web p99 latency above 2s",
        out=J("storefront-web"),
    ),
    A(
        "StorefrontWebHigh5xxRate",
        err_ratio("storefront-web", "0.05"),
        "5m",
        "critical",
        "storefront-web",
        "More than 5% of storefront pages fail",
        out=J("storefront-web"),
    ),
    A(
        "StorefrontWebDown",
        down("storefront-web"),
        "3m",
        "critical",
        "storefront-web",
        "No storefront-web instance is up",
        out=J("storefront-web"),
    ),
    A(
        "StorefrontWebCdnErrors",
        'sum(rate(cdn_edge_responses_total{zone="shop",status_class="5xx"}[5m])) > 5',
        "15m",
        "warning",
        "storefront-web",
        "CDN edge returns 5xx for the shop zone",
    ),
    A(
        "CatalogApiHighErrorRate",
        err_ratio("catalog-api", "0.05"),
        "5m",
        "critical",
        "catalog-api",
        "More than 5% of catalog-api requests fail",
        out=J("catalog-api"),
    ),
    A(
        "CatalogApiHighLatency",
        p99("catalog-api", "0.8"),
        "10m",
        "critical",
        "catalog-api",
        "catalog-api p99 latency above 800ms",
        out=J("catalog-api"),
    ),
    A(
        "CatalogApiCacheHitRateLow",
        'sum(rate(redis_keyspace_hits_total{instance="catalog-cache:6379"}[10m]))\n/\n'
        '(sum(rate(redis_keyspace_hits_total{instance="catalog-cache:6379"}[10m])) + sum(rate(redis_keyspace_misses_total{instance="catalog-cache:6379"}[10m]))) < 0.8',
        "30m",
        "warning",
        "catalog-api",
        "catalog cache hit rate below 80%",
    ),
    A("SearchDown", down("search"), "5m", "critical", "search", "No search API instance is up", out=J("search")),
    A(
        "SearchIndexingBacklog",
        'sum by (queue_name) (celery_queue_length{queue_name="search-indexing"}) > 5000',
        "15m",
        "critical",
        "search",
        "{{ $value }} indexing tasks waiting",
        out={"queue_name": "search-indexing"},
    ),
    A(
        "SearchElasticsearchClusterRed",
        'max by (cluster) (elasticsearch_cluster_health_status{cluster="search",color="red"}) == 1',
        "5m",
        "critical",
        "search",
        "Elasticsearch cluster search is red",
        out={"cluster": "search"},
    ),
    A(
        "SearchSlowQueries",
        p99("search", "1.5"),
        "10m",
        "warning",
        "search",
        "search p99 latency above 1.5s",
        out=J("search"),
    ),
]

STOREFRONT_K8S_ALERTS = [
    A(
        "StorefrontWebNoReadyPods",
        'sum by (deployment) (kube_deployment_status_replicas_available{namespace="storefront",deployment="storefront-web"}) == 0',
        "5m",
        "critical",
        "storefront-web",
        "storefront-web has no ready pods",
        out={"deployment": "storefront-web"},
    ),
    A(
        "StorefrontWebHpaMaxedOut",
        'kube_horizontalpodautoscaler_status_current_replicas{namespace="storefront",horizontalpodautoscaler="storefront-web"}\n'
        '>= kube_horizontalpodautoscaler_spec_max_replicas{namespace="storefront",horizontalpodautoscaler="storefront-web"}',
        "30m",
        "warning",
        "storefront-web",
        "storefront-web runs at its HPA maximum",
        out={"namespace": "storefront", "horizontalpodautoscaler": "storefront-web"},
    ),
    A(
        "CatalogApiPodCrashLooping",
        'max by (pod) (max_over_time(kube_pod_container_status_waiting_reason{namespace="storefront",container="catalog-api",reason="CrashLoopBackOff"}[5m])) >= 1',
        "15m",
        "warning",
        "catalog-api",
        "catalog-api pod {{ $labels.pod }} is crash looping",
    ),
    A(
        "SearchPodCrashLooping",
        'max by (pod) (max_over_time(kube_pod_container_status_waiting_reason{namespace="storefront",container="search",reason="CrashLoopBackOff"}[5m])) >= 1',
        "15m",
        "warning",
        "search",
        "search pod {{ $labels.pod }} is crash looping",
    ),
    A(
        "StorefrontWebOOMKilled",
        'increase(kube_pod_container_status_restarts_total{namespace="storefront",container="storefront-web"}[30m]) > 3\n'
        'and on (pod, container)\nkube_pod_container_status_last_terminated_reason{namespace="storefront",container="storefront-web",reason="OOMKilled"} == 1',
        None,
        "warning",
        "storefront-web",
        "storefront-web containers are OOM killed",
    ),
]

PLANTED_ABSENT_METRIC = "gateway_ratelimit_rejected_requests_total"
PLANTED_QUERYID = "-4719263187501266313"

PLATFORM_ALERTS = [
    A(
        "GatewayDown",
        down("api-gateway"),
        "2m",
        "critical",
        "api-gateway",
        "No api-gateway instance is up",
        out=J("api-gateway"),
    ),
    A(
        "GatewayHigh5xxRate",
        err_ratio("api-gateway", "0.02"),
        "5m",
        "critical",
        "api-gateway",
        "More than 2% of API requests fail at the gateway",
        out=J("api-gateway"),
    ),
    A(
        "GatewayHighLatency",
        p99("api-gateway", "1"),
        "10m",
        "critical",
        "api-gateway",
        "Gateway p99 latency above 1s",
        out=J("api-gateway"),
    ),
    # Planted OWN012: attributed to auth, but the Gateway.+ route sends it to api-gateway's PagerDuty service.
    A(
        "GatewayUpstreamAuthErrors",
        'sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_xx{envoy_cluster_name="auth",envoy_response_code_class="5"}[5m])) > 5',
        "5m",
        "critical",
        "auth",
        "The gateway gets 5xx from the auth upstream",
        out={"envoy_cluster_name": "auth"},
    ),
    # Planted OWN007: the metric was renamed to gateway_ratelimit_rejections_total in gateway v2.
    A(
        "ApiGatewayRateLimitSaturated",
        f'sum(rate({PLANTED_ABSENT_METRIC}{{job="api-gateway"}}[5m])) > 50',
        "10m",
        "critical",
        "api-gateway",
        "The gateway rejects more than 50 requests/s on rate limits",
    ),
    A(
        "ApiGatewayCertificateExpiringSoon",
        'probe_ssl_earliest_cert_expiry{job="blackbox",instance="https://api.example.com"} - time() < 86400 * 14',
        "1h",
        "warning",
        "api-gateway",
        "The public API certificate expires in less than 14 days",
        out={"job": "blackbox", "instance": "https://api.example.com"},
    ),
    A("AuthDown", down("auth"), "3m", "critical", "auth", "No auth instance is up", out=J("auth")),
    # Planted OWN013: silenced for 21 days (alertmanager/silences.json).
    A(
        "AuthHighLoginFailureRate",
        'sum(rate(auth_login_attempts_total{job="auth",result="failure"}[10m]))\n/\nsum(rate(auth_login_attempts_total{job="auth"}[10m])) > 0.3',
        "10m",
        "critical",
        "auth",
        "More than 30% of logins fail",
    ),
    A(
        "AuthTokenIssueSlow",
        p99("auth", "0.5"),
        "10m",
        "warning",
        "auth",
        "Token issuing p99 above 500ms",
        out=J("auth"),
    ),
    A(
        "AuthJwksRefreshFailing",
        'increase(auth_jwks_refresh_failures_total{job="auth"}[30m]) > 3',
        "15m",
        "warning",
        "auth",
        "auth cannot refresh its signing keys",
        out=J("auth"),
        runbook=None,
    ),
    A(
        "NotificationsDown",
        down("notifications"),
        "5m",
        "critical",
        "notifications",
        "No notifications instance is up",
        out=J("notifications"),
    ),
    A(
        "NotificationsEmailQueueBacklog",
        'sum by (queue, vhost) (rabbitmq_queue_messages_ready{queue="notifications.email"}) > 10000',
        "15m",
        "critical",
        "notifications",
        "{{ $value }} e-mails waiting in notifications.email",
        out={"queue": "notifications.email", "vhost": "/notifications"},
    ),
    A(
        "NotificationsEmailBounceRateHigh",
        "sum(rate(notifications_email_bounces_total[1h])) / sum(rate(notifications_emails_sent_total[1h])) > 0.05",
        "30m",
        "warning",
        "notifications",
        "More than 5% of e-mails bounce",
    ),
    # The SMS provider alert watches errors, not the notifications-sms queue (planted OWN009).
    A(
        "NotificationsSmsProviderErrors",
        "sum(rate(notifications_sms_provider_errors_total[5m])) > 0.2",
        "10m",
        "warning",
        "notifications",
        "The SMS provider rejects messages",
    ),
]

DATA_ALERTS = [
    A(
        "AnalyticsIngestLagHigh",
        'sum by (consumergroup, topic) (kafka_consumergroup_lag{consumergroup="analytics-ingest",topic="events.raw"}) > 1000000',
        "15m",
        "critical",
        "analytics-pipeline",
        "analytics-ingest is {{ $value }} events behind",
        out={"consumergroup": "analytics-ingest", "topic": "events.raw"},
    ),
    A(
        "AnalyticsPipelineDown",
        down("analytics-pipeline"),
        "5m",
        "critical",
        "analytics-pipeline",
        "No analytics-pipeline worker is up",
        out=J("analytics-pipeline"),
    ),
    A(
        "AnalyticsPipelineJobFailed",
        "sum by (job_name) (increase(analytics_job_failures_total[1h])) > 0",
        "5m",
        "warning",
        "analytics-pipeline",
        "Pipeline job {{ $labels.job_name }} failed",
        out={"job_name": "sessionize"},
    ),
    A(
        "AnalyticsWarehouseLoadSlow",
        "max(analytics_warehouse_load_duration_seconds) > 3600",
        "30m",
        "warning",
        "analytics-pipeline",
        "Warehouse loads take more than an hour",
    ),
    A(
        "ReportingDown",
        down("reporting"),
        "5m",
        "critical",
        "reporting",
        "No reporting instance is up",
        out=J("reporting"),
    ),
    A(
        "ReportingQueueBacklog",
        'sum by (queue_name) (celery_queue_length{queue_name="reports"}) > 500',
        "30m",
        "critical",
        "reporting",
        "{{ $value }} reports waiting",
        out={"queue_name": "reports"},
    ),
    A(
        "ReportingHighErrorRate",
        err_ratio("reporting", "0.1"),
        "10m",
        "critical",
        "reporting",
        "More than 10% of reporting requests fail",
        out=J("reporting"),
    ),
    A(
        "ReportingScheduledReportsLate",
        "max(time() - reporting_schedule_last_run_timestamp_seconds) > 7200",
        "30m",
        "warning",
        "reporting",
        "Scheduled reports are more than two hours late",
    ),
    A(
        "FeatureStoreOnlineHighLatency",
        p99("feature-store", "0.1"),
        "10m",
        "critical",
        "feature-store",
        "feature-store online p99 latency above 100ms",
        out=J("feature-store"),
    ),
    A(
        "FeatureStoreMaterializationStale",
        "time() - max(feast_materialization_last_success_timestamp_seconds) > 21600",
        "30m",
        "warning",
        "feature-store",
        "Features were not materialized for 6 hours",
    ),
]

RECORDING_RULES = {
    "payments": [
        {
            "record": "job:http_requests:rate5m",
            "expr": 'sum by (job, code) (rate(http_requests_total{job=~"checkout|payments-api|ledger"}[5m]))',
        },
        {
            "record": "job:http_request_duration_seconds:p99_5m",
            "expr": 'histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket{job=~"checkout|payments-api|ledger"}[5m])))',
        },
    ],
    "platform": [
        {
            "record": "envoy_cluster:upstream_rq_5xx:rate5m",
            "expr": 'sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_xx{envoy_response_code_class="5"}[5m]))',
        },
        {
            "record": "queue:rabbitmq_messages_ready:sum",
            "expr": "sum by (queue, vhost) (rabbitmq_queue_messages_ready)",
        },
    ],
}

# --------------------------------------------------------------------------- SLOs (Sloth style)

SLOS = [
    dict(
        service="checkout",
        team="payments",
        format="sloth",
        file="slos/checkout.yaml",
        name="requests-availability",
        objective=99.9,
        description="Checkout requests succeed.",
        error='sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))',
        total='sum(rate(http_requests_total{job="checkout"}[{{.window}}]))',
        alert="CheckoutAvailabilityBurnRate",
        category="availability",
        page=True,
    ),
    dict(
        service="checkout",
        team="payments",
        format="sloth",
        file="slos/checkout.yaml",
        name="requests-latency",
        objective=99.0,
        description="Checkout requests are served within 500ms.",
        error='(sum(rate(http_request_duration_seconds_count{job="checkout"}[{{.window}}])) - sum(rate(http_request_duration_seconds_bucket{job="checkout",le="0.5"}[{{.window}}])))',
        total='sum(rate(http_request_duration_seconds_count{job="checkout"}[{{.window}}]))',
        alert="CheckoutLatencyBurnRate",
        category="latency",
        page=True,
    ),
    dict(
        service="payments-api",
        team="payments",
        format="sloth",
        file="slos/payments-api.yaml",
        name="requests-availability",
        objective=99.95,
        description="payments-api requests succeed.",
        error='sum(rate(http_requests_total{job="payments-api",code=~"5.."}[{{.window}}]))',
        total='sum(rate(http_requests_total{job="payments-api"}[{{.window}}]))',
        alert="PaymentsApiAvailabilityBurnRate",
        category="availability",
        page=True,
    ),
    dict(
        service="storefront-web",
        team="storefront",
        format="sloth-k8s",
        file="slos/storefront-web.yaml",
        name="requests-availability",
        objective=99.5,
        description="Shop pages render without a server error.",
        error='sum(rate(http_requests_total{job="storefront-web",code=~"5.."}[{{.window}}]))',
        total='sum(rate(http_requests_total{job="storefront-web"}[{{.window}}]))',
        alert="StorefrontWebAvailabilityBurnRate",
        category="availability",
        page=True,
    ),
    dict(
        service="api-gateway",
        team="platform",
        format="openslo",
        file="slos/api-gateway.yaml",
        name="api-availability",
        objective=99.95,
        description="Public API requests succeed at the gateway.",
        good='sum(rate(http_requests_total{job="api-gateway",code!~"5.."}[{{.window}}]))',
        total='sum(rate(http_requests_total{job="api-gateway"}[{{.window}}]))',
        error='(sum(rate(http_requests_total{job="api-gateway"}[{{.window}}])) - sum(rate(http_requests_total{job="api-gateway",code!~"5.."}[{{.window}}])))',
        alert="ApiGatewayAvailabilityBurnRate",
        category="availability",
        page=True,
    ),
    # Planted OWN002: the page alert is disabled, only a ticket alert exists.
    dict(
        service="analytics-pipeline",
        team="data",
        format="sloth",
        file="slos/analytics-pipeline.yaml",
        name="events-freshness",
        objective=99.0,
        description="Shop events reach the warehouse within 10 minutes.",
        error="sum(rate(analytics_events_processed_late_total[{{.window}}]))",
        total="sum(rate(analytics_events_processed_total[{{.window}}]))",
        alert="AnalyticsPipelineFreshnessBurnRate",
        category="freshness",
        page=False,
    ),
]

SLOTH_WINDOWS = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
SLOTH_SPEC = {"sloth": "prometheus/v1", "sloth-k8s": "sloth.slok.dev/v1", "openslo": "openslo/v1"}
SLOTH_MODE = {"sloth": "cli-gen-prom", "sloth-k8s": "cli-gen-k8s", "openslo": "cli-gen-openslo"}


def slo_spec_labels(slo: dict) -> dict[str, str]:
    return {"team": slo["team"], "service": slo["service"]}


def slo_alert_labels(slo: dict) -> dict[str, str]:
    return {"category": slo["category"], "team": slo["team"], "service": slo["service"]}


def slo_annotations(slo: dict) -> dict[str, str]:
    return {
        "summary": f"{slo['service']} is burning its {slo['name']} error budget too fast",
        "runbook_url": rb(slo["service"], f"slo-{slo['name']}"),
    }


def sloth_groups(slo: dict) -> tuple[list[dict], list[A]]:
    """The three rule groups Sloth generates for one SLO (copied pattern of sloth/_gen/getting-started.yml)."""
    sid = f"{slo['service']}-{slo['name']}"
    sel = f'sloth_id="{sid}", sloth_service="{slo["service"]}", sloth_slo="{slo["name"]}"'
    base = slo_spec_labels(slo)
    sloth_labels = {"sloth_id": sid, "sloth_service": slo["service"], "sloth_slo": slo["name"]}
    budget = (100 - slo["objective"]) / 100
    ratio = slo["objective"] / 100
    rec = []
    for w in SLOTH_WINDOWS:
        rec.append(
            {
                "record": f"slo:sli_error:ratio_rate{w}",
                "expr": f"({slo['error'].replace('{{.window}}', w)})\n/\n({slo['total'].replace('{{.window}}', w)})\n",
                "labels": base | sloth_labels | {"sloth_window": w},
            }
        )
    rec.append(
        {
            "record": "slo:sli_error:ratio_rate30d",
            "expr": (
                f"sum_over_time(slo:sli_error:ratio_rate5m{{{sel}}}[30d])\n/ ignoring (sloth_window)\n"
                f"count_over_time(slo:sli_error:ratio_rate5m{{{sel}}}[30d])\n"
            ),
            "labels": base | sloth_labels | {"sloth_window": "30d"},
        }
    )
    meta = [
        {"record": "slo:objective:ratio", "expr": f"vector({ratio!r})", "labels": base | sloth_labels},
        {"record": "slo:error_budget:ratio", "expr": f"vector(1-{ratio!r})", "labels": base | sloth_labels},
        {"record": "slo:time_period:days", "expr": "vector(30)", "labels": base | sloth_labels},
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": (
                f"slo:sli_error:ratio_rate5m{{{sel}}}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
                f"slo:error_budget:ratio{{{sel}}}\n"
            ),
            "labels": base | sloth_labels,
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": (
                f"slo:sli_error:ratio_rate30d{{{sel}}}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
                f"slo:error_budget:ratio{{{sel}}}\n"
            ),
            "labels": base | sloth_labels,
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{{{sel}}}",
            "labels": base | sloth_labels,
        },
        {
            "record": "sloth_slo_info",
            "expr": "vector(1)",
            "labels": base
            | sloth_labels
            | {
                "sloth_mode": SLOTH_MODE[slo["format"]],
                "sloth_objective": repr(slo["objective"]),
                "sloth_spec": SLOTH_SPEC[slo["format"]],
                "sloth_version": "v0.11.0",
            },
        },
    ]

    def mwmbr(pairs: list[tuple[str, str, str]]) -> str:
        parts = []
        for short, long, factor in pairs:
            parts.append(
                "(\n"
                f"    max(slo:sli_error:ratio_rate{short}{{{sel}}} > ({factor} * {budget!r})) without (sloth_window)\n"
                "    and\n"
                f"    max(slo:sli_error:ratio_rate{long}{{{sel}}} > ({factor} * {budget!r})) without (sloth_window)\n"
                ")"
            )
        return "\nor\n".join(parts) + "\n"

    alerts_rules = []
    alert_objs = []
    annotations = slo_annotations(slo)
    if slo["page"]:
        # `for: 2m` is added after generation by the organisation's policy that every paging alert has a `for`.
        rule = {
            "alert": slo["alert"],
            "expr": mwmbr([("5m", "1h", "14.4"), ("30m", "6h", "6")]),
            "for": "2m",
            "labels": slo_alert_labels(slo) | {"severity": "critical", "sloth_severity": "page"},
            "annotations": annotations
            | {
                "title": "(page) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is too fast."
            },
        }
        alerts_rules.append(rule)
        a = A(
            slo["alert"],
            rule["expr"],
            "2m",
            "critical",
            slo["service"],
            annotations["summary"],
            runbook=annotations["runbook_url"],
            extra={"category": slo["category"], "sloth_severity": "page"},
        )
        a.sloth = base | sloth_labels
        a.sloth_severity = "page"
        alert_objs.append(a)
    rule = {
        "alert": slo["alert"],
        "expr": mwmbr([("2h", "1d", "3"), ("6h", "3d", "1")]),
        "labels": slo_alert_labels(slo) | {"severity": "warning", "sloth_severity": "ticket"},
        "annotations": annotations
        | {"title": "(ticket) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is too fast."},
    }
    alerts_rules.append(rule)
    a = A(
        slo["alert"],
        rule["expr"],
        None,
        "warning",
        slo["service"],
        annotations["summary"],
        runbook=annotations["runbook_url"],
        extra={"category": slo["category"], "sloth_severity": "ticket"},
    )
    a.sloth = base | sloth_labels
    a.sloth_severity = "ticket"
    alert_objs.append(a)
    groups = [
        {"name": f"sloth-slo-sli-recordings-{sid}", "rules": rec},
        {"name": f"sloth-slo-meta-recordings-{sid}", "rules": meta},
        {"name": f"sloth-slo-alerts-{sid}", "rules": alerts_rules},
    ]
    return groups, alert_objs


# --------------------------------------------------------------------------- PromQL metric names


_PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
    "Inf",
    "NaN",
}


def expr_metrics(expr: str) -> set[str]:
    """Metric names an expression selects (good enough for the demo's own exprs)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", s):
        tok = m.group(0)
        if m.start() > 0 and (s[m.start() - 1].isdigit() or s[m.start() - 1] == "."):
            continue
        if s[m.end() :].lstrip().startswith("("):
            continue
        if tok in _PROMQL_WORDS:
            continue
        names.add(tok)
    return names


# --------------------------------------------------------------------------- generation state

STATE: dict[str, Any] = {}


def ref(kind: str, obj_id: str, summary: str) -> dict[str, str]:
    paths = {
        "user": ("users", "users"),
        "schedule": ("schedules", "schedules"),
        "service": ("services", "service-directory"),
        "escalation_policy": ("escalation_policies", "escalation_policies"),
        "team": ("teams", "teams"),
        "incident": ("incidents", "incidents"),
    }
    api, web = paths[kind]
    return {
        "id": obj_id,
        "type": f"{kind}_reference",
        "summary": summary,
        "self": f"{PD_API}/{api}/{obj_id}",
        "html_url": f"{PD_WEB}/{web}/{obj_id}",
    }


def build_ids() -> None:
    ids: dict[str, dict[str, str]] = {"team": {}, "user": {}, "schedule": {}, "ep": {}, "service": {}}
    for t in TEAMS:
        ids["team"][t[0]] = pd_id()
    for p in PEOPLE:
        ids["user"][p[0]] = pd_id()
    for s in SCHEDULES:
        ids["schedule"][s["key"]] = pd_id()
    for e in ESCALATION_POLICIES:
        ids["ep"][e["key"]] = pd_id()
    for s in PD_SERVICES:
        ids["service"][s[0]] = pd_id()
    STATE["ids"] = ids
    keys = {}
    for name, _ep, kind in PD_SERVICES:
        if kind:
            keys[name] = fake_key()
    STATE["keys"] = keys


def person(handle: str) -> tuple:
    return next(p for p in PEOPLE if p[0] == handle)


def uref(handle: str) -> dict[str, str]:
    return ref("user", STATE["ids"]["user"][handle], person(handle)[1])


def tref(team: str) -> dict[str, str]:
    return ref("team", STATE["ids"]["team"][team], next(t[1] for t in TEAMS if t[0] == team))


def sref(key: str) -> dict[str, str]:
    return ref("schedule", STATE["ids"]["schedule"][key], next(s["name"] for s in SCHEDULES if s["key"] == key))


def epref(key: str) -> dict[str, str]:
    return ref(
        "escalation_policy", STATE["ids"]["ep"][key], next(e["name"] for e in ESCALATION_POLICIES if e["key"] == key)
    )


def svcref(name: str) -> dict[str, str]:
    return ref("service", STATE["ids"]["service"][name], name)


# --------------------------------------------------------------------------- on-call computation


def shifts(sched: dict, start: datetime, end: datetime) -> list[tuple[datetime, datetime, str]]:
    """Rotation shifts (aware datetimes) overlapping [start, end), handoffs at local wall-clock time."""
    tz = ZoneInfo(sched["tz"])
    v = datetime(*sched["vstart"])  # naive local
    turn = timedelta(seconds=sched["turn"])
    out = []
    k = 0
    while True:
        s_local = v + k * turn
        e_local = s_local + (timedelta(days=5) if sched.get("weekdays_only") else turn)
        s, e = s_local.replace(tzinfo=tz), e_local.replace(tzinfo=tz)
        if s >= end:
            break
        if e > start:
            out.append((s, e, sched["users"][k % len(sched["users"])]))
        k += 1
    return out


def schedule_entries(sched: dict, start: datetime, end: datetime) -> list[tuple[datetime, datetime, str]]:
    """Final schedule (layer + the override) as (start, end, user)."""
    entries = shifts(sched, start, end)
    if sched["key"] != OVERRIDE["schedule"]:
        return entries
    out = []
    o_s, o_e = OVERRIDE["start"], OVERRIDE["end"]
    for s, e, u in entries:
        if e <= o_s or s >= o_e:
            out.append((s, e, u))
            continue
        if s < o_s:
            out.append((s, o_s, u))
        out.append((max(s, o_s), min(e, o_e), OVERRIDE["user"]))
        if e > o_e:
            out.append((o_e, e, u))
    return out


def oncall_at(sched_key: str, t: datetime) -> str | None:
    sched = next(s for s in SCHEDULES if s["key"] == sched_key)
    for s, e, u in schedule_entries(sched, t - timedelta(days=8), t + timedelta(days=1)):
        if s <= t < e:
            return u
    return None


def level_holder(ep_key: str, level: int, t: datetime) -> str | None:
    ep = next(e for e in ESCALATION_POLICIES if e["key"] == ep_key)
    kind, target = ep["levels"][level][1][0]
    return target if kind == "user" else oncall_at(target, t)


# --------------------------------------------------------------------------- writers: catalog


def write_catalog() -> None:
    ids = STATE["ids"]
    teams = []
    for name, display, tz, (start, end), desc in TEAMS:
        eps = [e for e in ESCALATION_POLICIES if e["team"] == name]
        scheds = [s for s in SCHEDULES if s["team"] == name]
        teams.append(
            {
                "name": name,
                "display_name": display,
                "description": desc,
                "timezone": tz,
                "working_hours": {"days": ["mon", "tue", "wed", "thu", "fri"], "start": start, "end": end},
                "pagerduty": {
                    "team_id": ids["team"][name],
                    "escalation_policies": [ids["ep"][e["key"]] for e in eps],
                    "schedules": [ids["schedule"][s["key"]] for s in scheds],
                },
            }
        )
    people = [
        {"id": h, "name": n, "email": f"{h}@example.com", "teams": [t], "pagerduty_user_id": ids["user"][h]}
        for h, n, t, _ in PEOPLE
    ]
    services = []
    for s in SERVICES:
        entry: dict[str, Any] = {"name": s["name"]}
        if s["team"]:
            entry["team"] = s["team"]
        entry |= {"tier": s["tier"], "system": s["system"], "description": s["description"]}
        if s["team"]:
            entry["alerts"] = [{"service": s["name"]}]
            entry["pagerduty"] = {"service_ids": [ids["service"][s["name"]]]}
        if s["databases"]:
            entry["databases"] = s["databases"]
        if s["queues"]:
            entry["queues"] = s["queues"]
        entry["runbook_base_url"] = f"{RUNBOOKS}/{s['name']}"
        services.append(entry)
    doc = {
        "apiVersion": "ownership-agent/v1",
        "kind": "Catalog",
        "teams": teams,
        "people": people,
        "services": services,
    }
    write_yaml(
        "catalog.yaml",
        doc,
        "# The demo organisation's catalog: 4 teams, 25 people, 12 services.\n"
        "# feature-store is defined in backstage/catalog-info.yaml.\n",
    )

    fs_key = STATE["keys"]["feature-store"]
    docs = [
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {
                "name": "feature-store",
                "title": "Feature Store",
                "description": "Online and offline features for the recommendation models (Feast).",
                "annotations": {
                    "pagerduty.com/service-id": ids["service"]["feature-store"],
                    "pagerduty.com/integration-key": fs_key,
                    "ownership-agent.io/alert-labels": "service=feature-store",
                    "backstage.io/techdocs-ref": "dir:.",
                },
                "tags": ["python", "feast", "redis"],
                "labels": {"tier": "2"},
            },
            "spec": {"type": "service", "lifecycle": "production", "owner": "group:data", "system": "ml-platform"},
        },
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Group",
            "metadata": {"name": "data", "description": "Event pipeline, reporting and ML features."},
            "spec": {
                "type": "team",
                "profile": {"displayName": "Data", "email": "data@example.com"},
                "children": [],
                "members": [p[0] for p in PEOPLE if p[2] == "data"],
            },
        },
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "User",
            "metadata": {"name": "vera"},
            "spec": {"profile": {"displayName": "Vera Kuznetsova", "email": "vera@example.com"}, "memberOf": ["data"]},
        },
    ]
    text = (
        "# Backstage entities of the demo organisation. The Group and User repeat catalog.yaml's team `data` and\n"
        "# person `vera` (same names, same e-mail); the Component adds a 13th service.\n"
    )
    text += "---\n".join(dump_yaml(d) for d in docs)
    write("backstage/catalog-info.yaml", text)


# --------------------------------------------------------------------------- writers: prometheus


def rule_files() -> dict[str, Any]:
    """All rule files: path -> (document, list of A)."""
    files: dict[str, Any] = {}

    def plain(path: str, groups: list[tuple[str, str, list]], alerts: list[A]) -> None:
        doc = {"groups": []}
        for gname, interval, rules in groups:
            g: dict[str, Any] = {"name": gname}
            if interval:
                g["interval"] = interval
            g["rules"] = rules
            doc["groups"].append(g)
        files[path] = (doc, alerts)

    def alerts_of(alerts: list[A], service_prefix: tuple[str, ...]) -> list[A]:
        return [a for a in alerts if a.service in service_prefix]

    pay = PAYMENTS_ALERTS
    plain(
        "prometheus/rules/payments.yml",
        [
            ("checkout", None, [a.rule() for a in alerts_of(pay, ("checkout",))]),
            ("payments-api", None, [a.rule() for a in alerts_of(pay, ("payments-api",))]),
            ("ledger", "2m", [a.rule() for a in alerts_of(pay, ("ledger",))]),
            ("payments-recordings", None, RECORDING_RULES["payments"]),
        ],
        pay,
    )
    plain(
        "prometheus/rules/storefront.yml",
        [
            ("storefront-web", None, [a.rule() for a in alerts_of(STOREFRONT_ALERTS, ("storefront-web",))]),
            ("catalog-api", None, [a.rule() for a in alerts_of(STOREFRONT_ALERTS, ("catalog-api",))]),
            ("search", None, [a.rule() for a in alerts_of(STOREFRONT_ALERTS, ("search",))]),
        ],
        STOREFRONT_ALERTS,
    )
    plat = PLATFORM_ALERTS
    plain(
        "prometheus/rules/platform.yml",
        [
            ("api-gateway", None, [a.rule() for a in plat if a.name.startswith(("Gateway", "ApiGateway"))]),
            ("auth", None, [a.rule() for a in plat if a.name.startswith("Auth")]),
            ("notifications", None, [a.rule() for a in plat if a.name.startswith("Notifications")]),
            ("platform-recordings", None, RECORDING_RULES["platform"]),
        ],
        plat,
    )
    plain(
        "prometheus/rules/data.yml",
        [
            ("analytics-pipeline", None, [a.rule() for a in DATA_ALERTS if a.service == "analytics-pipeline"]),
            ("reporting", None, [a.rule() for a in DATA_ALERTS if a.service == "reporting"]),
            ("feature-store", None, [a.rule() for a in DATA_ALERTS if a.service == "feature-store"]),
        ],
        DATA_ALERTS,
    )
    k8s_rules = [a.rule() for a in STOREFRONT_K8S_ALERTS]
    files["prometheus/rules/k8s/storefront-kubernetes.yaml"] = (
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {
                "name": "storefront-kubernetes",
                "namespace": "storefront",
                "labels": {"prometheus": "eu-1", "role": "alert-rules", "team": "storefront"},
            },
            "spec": {"groups": [{"name": "storefront.kubernetes", "rules": k8s_rules}]},
        },
        STOREFRONT_K8S_ALERTS,
    )
    by_service: dict[str, list] = {}
    for slo in SLOS:
        groups, alerts = sloth_groups(slo)
        doc, objs = by_service.setdefault(slo["service"], [{"groups": []}, []])
        doc["groups"].extend(groups)
        objs.extend(alerts)
    for service, (doc, objs) in by_service.items():
        files[f"prometheus/rules/slo-{service}.yml"] = (doc, objs)
    return files


def all_alerts() -> list[A]:
    return [a for _doc, alerts in STATE["rule_files"].values() for a in alerts]


def write_prometheus() -> None:
    prom = {
        "global": {
            "scrape_interval": "30s",
            "evaluation_interval": "1m",
            "external_labels": {"cluster": "eu-1", "region": "eu", "prometheus_replica": "prom-eu-0"},
        },
        "alerting": {
            "alert_relabel_configs": [
                {"action": "labeldrop", "regex": "prometheus_replica"},
                {
                    "source_labels": ["severity"],
                    "regex": "page",
                    "target_label": "severity",
                    "replacement": "critical",
                    "action": "replace",
                },
            ],
            "alertmanagers": [{"static_configs": [{"targets": ["alertmanager-eu.monitoring.svc:9093"]}]}],
        },
        "rule_files": ["rules/*.yml"],
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]},
            {
                "job_name": "services",
                "file_sd_configs": [{"files": ["targets/services-*.json"], "refresh_interval": "1m"}],
                "relabel_configs": [
                    {"source_labels": ["service"], "target_label": "job"},
                    {"regex": "service", "action": "labeldrop"},
                ],
            },
            {"job_name": "exporters", "file_sd_configs": [{"files": ["targets/exporters-*.json"]}]},
            {
                "job_name": "blackbox",
                "metrics_path": "/probe",
                "params": {"module": ["http_2xx"]},
                "static_configs": [{"targets": ["https://api.example.com", "https://shop.example.com"]}],
                "relabel_configs": [
                    {"source_labels": ["__address__"], "target_label": "__param_target"},
                    {"source_labels": ["__param_target"], "target_label": "instance"},
                    {"target_label": "__address__", "replacement": "blackbox-exporter.monitoring.svc:9115"},
                ],
            },
        ],
    }
    write_yaml(
        "prometheus/prometheus.yml",
        prom,
        "# Prometheus eu-1 (HA pair; this is replica prom-eu-0).\n"
        "# prometheus_replica is dropped before alerts are sent; legacy severity\n"
        '# "page" is rewritten to "critical".\n',
    )
    for path, (doc, _alerts) in STATE["rule_files"].items():
        header = (
            "# Code generated by Sloth (v0.11.0): https://github.com/slok/sloth.\n# DO NOT EDIT.\n"
            if "/slo-" in path
            else f"# Alerting rules of team {_alerts[0].team}.\n"
        )
        write_yaml(path, doc, header)


# --------------------------------------------------------------------------- writers: SLO specs


def write_slos() -> None:
    by_file: dict[str, list[dict]] = {}
    for slo in SLOS:
        by_file.setdefault(slo["file"], []).append(slo)
    for path, slos in by_file.items():
        fmt = slos[0]["format"]
        first = slos[0]
        if fmt == "sloth":
            spec_slos = []
            for s in slos:
                alerting: dict[str, Any] = {
                    "name": s["alert"],
                    "labels": slo_alert_labels(s),
                    "annotations": slo_annotations(s),
                }
                alerting["page_alert"] = {"labels": {"severity": "critical"}} if s["page"] else {"disable": True}
                alerting["ticket_alert"] = {"labels": {"severity": "warning"}}
                spec_slos.append(
                    {
                        "name": s["name"],
                        "objective": s["objective"],
                        "description": s["description"],
                        "sli": {"events": {"error_query": s["error"], "total_query": s["total"]}},
                        "alerting": alerting,
                    }
                )
            doc = {
                "version": "prometheus/v1",
                "service": first["service"],
                "labels": slo_spec_labels(first),
                "slos": spec_slos,
            }
            write_yaml(
                path,
                doc,
                f"# Sloth SLO spec for {first['service']}; generated rules: "
                f"prometheus/rules/slo-{first['service']}.yml\n",
            )
        elif fmt == "sloth-k8s":
            spec_slos = []
            for s in slos:
                spec_slos.append(
                    {
                        "name": s["name"],
                        "objective": s["objective"],
                        "description": s["description"],
                        "sli": {"events": {"errorQuery": s["error"], "totalQuery": s["total"]}},
                        "alerting": {
                            "name": s["alert"],
                            "labels": slo_alert_labels(s),
                            "annotations": slo_annotations(s),
                            "pageAlert": {"labels": {"severity": "critical"}},
                            "ticketAlert": {"labels": {"severity": "warning"}},
                        },
                    }
                )
            doc = {
                "apiVersion": "sloth.slok.dev/v1",
                "kind": "PrometheusServiceLevel",
                "metadata": {"name": f"{first['service']}-slos", "namespace": "storefront"},
                "spec": {"service": first["service"], "labels": slo_spec_labels(first), "slos": spec_slos},
            }
            write_yaml(
                path,
                doc,
                f"# Sloth Kubernetes SLO spec for {first['service']}; generated rules: "
                f"prometheus/rules/slo-{first['service']}.yml\n",
            )
        elif fmt == "openslo":
            s = first
            docs = [
                {
                    "apiVersion": "openslo/v1",
                    "kind": "Service",
                    "metadata": {"name": s["service"], "displayName": "API Gateway"},
                    "spec": {"description": "Public API gateway (Envoy) in front of every service."},
                },
                {
                    "apiVersion": "openslo/v1",
                    "kind": "SLI",
                    "metadata": {"name": f"{s['service']}-{s['name']}", "displayName": "Gateway request availability"},
                    "spec": {
                        "description": "Share of gateway requests answered without a 5xx.",
                        "ratioMetric": {
                            "counter": True,
                            "good": {"metricSource": {"type": "Prometheus", "spec": {"query": s["good"]}}},
                            "total": {"metricSource": {"type": "Prometheus", "spec": {"query": s["total"]}}},
                        },
                    },
                },
                {
                    "apiVersion": "openslo/v1",
                    "kind": "SLO",
                    "metadata": {"name": s["name"], "displayName": "API availability", "labels": {"team": s["team"]}},
                    "spec": {
                        "description": s["description"],
                        "service": s["service"],
                        "indicatorRef": f"{s['service']}-{s['name']}",
                        "timeWindow": [{"duration": "30d", "isRolling": True}],
                        "budgetingMethod": "Occurrences",
                        "objectives": [{"displayName": "99.95% of requests succeed", "target": s["objective"] / 100}],
                    },
                },
            ]
            text = (
                f"# OpenSLO v1 spec for {s['service']}; generated rules (Sloth style): "
                f"prometheus/rules/slo-{s['service']}.yml\n# Page alert: {s['alert']}.\n"
            )
            text += "---\n".join(dump_yaml(d) for d in docs)
            write(path, text)


# --------------------------------------------------------------------------- writers: alertmanager


def write_alertmanager() -> None:
    k = STATE["keys"]
    text = f"""# Alertmanager eu-1 of the demo organisation.
# The routing and service keys below are fake demo values ("secrets" of the demo);
# pd-notifications reads its key from secrets/notifications.key instead.
global:
  resolve_timeout: 5m
  pagerduty_url: https://events.pagerduty.com/v2/enqueue

route:
  receiver: slack-unrouted
  group_by: [alertname, service]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    # Every critical alert is mirrored to #incidents, then routed on.
    - receiver: slack-incidents
      matchers: ['severity="critical"']
      continue: true
    # SLO ticket alerts (Sloth) open a ticket, then go on to the team's channel.
    - receiver: ticketing-webhook
      matchers: ['sloth_severity="ticket"']
      continue: true

    - receiver: slack-payments
      matchers: ['team="payments"']
      routes:
        # Muted while the export job is rewritten (PAY-1312).
        - receiver: blackhole
          matchers: ['alertname="LedgerNightlyExportFailed"']
        - receiver: pd-checkout
          matchers: ['service="checkout"', 'severity="critical"']
        - receiver: pd-payments-api
          matchers: ['service="payments-api"', 'severity="critical"']
        - receiver: pd-ledger
          matchers: ['service="ledger"', 'severity="critical"']

    - receiver: slack-storefront
      match:
        team: storefront
      routes:
        # Pages are also posted to the team channel during New York business hours.
        - receiver: slack-storefront-oncall
          matchers: ['severity="critical"']
          active_time_intervals: [storefront-business-hours]
          continue: true
        - receiver: pd-storefront-web
          match:
            service: storefront-web
            severity: critical
        - receiver: slack-storefront
          match_re:
            service: catalog-api|search
          routes:
            - receiver: pd-catalog-api
              matchers: ['service="catalog-api"', 'severity="critical"']
            - receiver: pd-search
              matchers: ['service="search"', 'severity="critical"']

    - receiver: slack-platform
      matchers: ['team="platform"']
      routes:
        # Gateway alerts go to the gateway on-call.
        - receiver: pd-api-gateway
          matchers: ['alertname=~"Gateway.+"', 'severity="critical"']
        - receiver: pd-api-gateway
          matchers: ['service="api-gateway"', 'severity="critical"']
        - receiver: pd-auth
          matchers: ['service="auth"', 'severity="critical"']
        - receiver: pd-notifications
          matchers: ['service="notifications"', 'severity="critical"']

    - receiver: slack-data
      matchers: ['team=~"data|ml"']
      routes:
        # Pages are also posted to the team channel, except at weekends.
        - receiver: slack-data-oncall
          matchers: ['severity="critical"']
          mute_time_intervals: [weekends]
          continue: true
        # Staging never pages.
        - receiver: pd-analytics-pipeline
          matchers: ['service="analytics-pipeline"', 'severity="critical"', 'env!="staging"']
        - receiver: pd-reporting
          matchers: ['service="reporting"', 'severity="critical"']
        - receiver: pd-feature-store
          matchers: ['service="feature-store"', 'severity="critical"']

time_intervals:
  - name: storefront-business-hours
    time_intervals:
      - weekdays: ['monday:friday']
        times:
          - start_time: '08:30'
            end_time: '17:30'
        location: America/New_York
  - name: weekends
    time_intervals:
      - weekdays: ['saturday', 'sunday']
        location: America/New_York

inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname, service]
  # When the gateway is down, shop warnings are noise.
  - source_matchers: ['alertname="GatewayDown"']
    target_matchers: ['severity="warning"', 'team=~"storefront|payments"']
    equal: [cluster]

receivers:
  - name: slack-unrouted
    slack_configs:
      - api_url: https://hooks.slack.com/services/DEMO/UNROUTED/DEMO
        channel: '#alerts-unrouted'
        send_resolved: true
  - name: slack-incidents
    slack_configs:
      - api_url: https://hooks.slack.com/services/DEMO/INCIDENTS/DEMO
        channel: '#incidents'
  - name: slack-payments
    slack_configs:
      - api_url: https://hooks.slack.com/services/DEMO/PAYMENTS/DEMO
        channel: '#payments-alerts'
        send_resolved: true
  - name: slack-storefront
    slack_configs:
      - api_url: https://hooks.slack.com/services/DEMO/STOREFRONT/DEMO
        channel: '#storefront-alerts'
        send_resolved: true
  - name: slack-storefront-oncall
    slack_configs:
      - api_url: https://hooks.slack.com/services/DEMO/STOREFRONT/DEMO
        channel: '#storefront-oncall'
  - name: slack-platform
    slack_configs:
      - api_url: https://hooks.slack.com/services/DEMO/PLATFORM/DEMO
        channel: '#platform-alerts'
        send_resolved: true
  - name: slack-data
    slack_configs:
      - api_url: https://hooks.slack.com/services/DEMO/DATA/DEMO
        channel: '#data-alerts'
        send_resolved: true
  - name: slack-data-oncall
    slack_configs:
      - api_url: https://hooks.slack.com/services/DEMO/DATA/DEMO
        channel: '#data-oncall'
  - name: ticketing-webhook
    webhook_configs:
      - url: http://ticket-bridge.tools.svc:8080/alertmanager
        send_resolved: false
  - name: blackhole
  - name: pd-checkout
    pagerduty_configs:
      - routing_key: {k["checkout"]}
  - name: pd-payments-api
    pagerduty_configs:
      - routing_key: {k["payments-api"]}
  - name: pd-ledger
    pagerduty_configs:
      - routing_key: {k["ledger"]}
  - name: pd-storefront-web
    pagerduty_configs:
      - routing_key: {k["storefront-web"]}
  - name: pd-catalog-api
    pagerduty_configs:
      - routing_key: {k["catalog-api"]}
  - name: pd-search
    pagerduty_configs:
      - routing_key: {k["search"]}
  - name: pd-api-gateway
    pagerduty_configs:
      - routing_key: {k["api-gateway"]}
  # auth still uses an Events API v1 integration.
  - name: pd-auth
    pagerduty_configs:
      - service_key: {k["auth"]}
  - name: pd-notifications
    pagerduty_configs:
      - routing_key_file: secrets/notifications.key
  - name: pd-analytics-pipeline
    pagerduty_configs:
      - routing_key: {k["analytics-pipeline"]}
  - name: pd-reporting
    pagerduty_configs:
      - routing_key: {k["reporting"]}
  - name: pd-feature-store
    pagerduty_configs:
      - routing_key: {k["feature-store"]}
"""
    write("alertmanager/alertmanager.yml", text)
    write("alertmanager/secrets/notifications.key", k["notifications"] + "\n")


# Where each (service, severity) goes: the PagerDuty receiver for critical alerts, by the tree above.
def expected_receiver(a: A) -> str:
    """The last (non-continue) receiver Alertmanager picks, mirrored by hand from the tree above."""
    sev = a.effective_severity
    if a.team == "payments":
        if a.name == "LedgerNightlyExportFailed":
            return "blackhole"
        return f"pd-{a.service}" if sev == "critical" else "slack-payments"
    if a.team == "storefront":
        if sev == "critical":
            return f"pd-{a.service}"
        return "slack-storefront"
    if a.team == "platform":
        if sev == "critical":
            return "pd-api-gateway" if re.fullmatch("Gateway.+", a.name) else f"pd-{a.service}"
        return "slack-platform"
    if a.team == "data":
        return f"pd-{a.service}" if sev == "critical" else "slack-data"
    return "slack-unrouted"


# --------------------------------------------------------------------------- episodes, incidents, history


def in_maintenance(service: str, t: datetime) -> bool:
    return service == MAINTENANCE_SERVICE and MAINTENANCE[0] <= t < MAINTENANCE[1]


def support_hours_urgency(service: str, t: datetime) -> str:
    if service != SUPPORT_HOURS_SERVICE:
        return "high"
    local = t.astimezone(ZoneInfo("Europe/Berlin"))
    if local.isoweekday() <= 5 and 8 <= local.hour < 20:
        return "high"
    return "low"


def grid_points(start: datetime, end: datetime) -> list[int]:
    t0 = ts(HISTORY_START)
    first = max(t0, ts(start))
    first = t0 + ((first - t0 + STEP - 1) // STEP) * STEP
    out = []
    t = first
    while t < ts(end) and t <= ts(NOW):
        out.append(t)
        t += STEP
    return out


NOISY = "StorefrontWebHighLatency"
NEVER = "ApiGatewayRateLimitSaturated"
SILENCED = "AuthHighLoginFailureRate"
SILENCE_START = NOW - timedelta(days=16)  # planted OWN013: 21 days long, 16 days old at now
OPEN = {
    # alertname: (minutes ago it started firing, status, ack minutes after start)
    "LedgerConsumerLagHigh": (52, "acknowledged", 6),
    "FeatureStoreOnlineHighLatency": (9, "triggered", None),
    "AnalyticsIngestLagHigh": (130, "acknowledged", 11),
}


def plan_episodes() -> list[dict]:
    """Firing episodes of every alert over the last 90 days (only the last 30 appear in ALERTS)."""
    episodes: list[dict] = []
    alerts = all_alerts()

    def ok(a: A, s: datetime, e: datetime) -> bool:
        if e > NOW - timedelta(minutes=15):
            return False
        for ep in episodes:
            if ep["alert"] is a and not (e + timedelta(hours=2) <= ep["start"] or s >= ep["end"] + timedelta(hours=2)):
                return False
        if a.service == MAINTENANCE_SERVICE and s < MAINTENANCE[1] and e > MAINTENANCE[0] - timedelta(hours=1):
            return False
        if a.service == "reporting":  # keep reporting episodes inside the business-days schedule
            local_s = s.astimezone(ZoneInfo("America/New_York"))
            local_e = (e + timedelta(hours=1)).astimezone(ZoneInfo("America/New_York"))
            if local_s.isoweekday() > 5 or local_e.isoweekday() > 5 or local_e.date() != local_s.date():
                return False
        if a.name == SILENCED:
            return False
        return True

    def add(a: A, s: datetime, e: datetime, **extra: Any) -> None:
        episodes.append({"alert": a, "start": s, "end": e} | extra)

    for a in alerts:
        if a.name == NEVER:
            continue
        if a.name == NOISY:
            # 27 short episodes in the last 30 days, 52 in the 60 days before.
            for window_start, window_days, count in ((HISTORY_START, 30, 27), (INCIDENT_START, 60, 52)):
                n_steps = window_days * 86400 // STEP
                chosen = sorted(rng.sample(range(12, n_steps - 12), count))
                for idx in chosen:
                    g = window_start + timedelta(seconds=idx * STEP)
                    s = g - timedelta(seconds=rng.randint(30, 150))
                    e = g + timedelta(seconds=rng.randint(30, 140))
                    add(a, s, e, short=True)
            continue
        if a.name == SILENCED:
            add(a, SILENCE_START - timedelta(hours=2), SILENCE_START + timedelta(hours=2), silenced_after=SILENCE_START)
            add(a, NOW - timedelta(days=6, hours=3), NOW - timedelta(days=6, hours=1, minutes=30), silenced=True)
            add(a, NOW - timedelta(days=2, hours=7), NOW - timedelta(days=2, hours=6), silenced=True)
            continue
        if a.name in OPEN:
            mins, _status, _ack = OPEN[a.name]
            add(a, NOW - timedelta(minutes=mins), NOW + timedelta(hours=1), open=True)
        if a.name == "LedgerNightlyExportFailed":
            counts = (2, 0)
        elif a.name == "CatalogApiHighLatency":
            add(
                a, datetime(2026, 11, 16, 8, 40, tzinfo=UTC), datetime(2026, 11, 16, 9, 5, tzinfo=UTC), maintenance=True
            )
            counts = (1, 3)
        elif a.name in OPEN:
            counts = (rng.choice([0, 1, 2]), rng.randint(2, 6))
        elif a.sloth_severity == "ticket":
            counts = (rng.choice([0, 1, 1]), 0)
        elif a.effective_severity == "critical":
            counts = (rng.choice([0, 1, 1, 2, 2, 3]), rng.randint(2, 6))
        else:
            counts = (rng.choice([0, 0, 1, 1, 2, 3]), 0)
        for (w_start, w_days), count in zip(((HISTORY_START, 30), (INCIDENT_START, 60)), counts, strict=True):
            placed = 0
            tries = 0
            while placed < count and tries < 500:
                tries += 1
                s = w_start + timedelta(seconds=rng.randint(0, w_days * 86400 - 4 * 3600))
                s = s.replace(microsecond=0)
                e = s + timedelta(minutes=rng.randint(20, 180))
                if ok(a, s, e):
                    add(a, s, e)
                    placed += 1
    episodes.sort(key=lambda ep: (ep["start"], ep["alert"].name))
    return episodes


def alert_title(a: A) -> str:
    labels = a.series_labels() | {"cluster": "eu-1", "region": "eu"}
    labels.pop("alertname", None)
    labels["severity"] = a.effective_severity
    group = {"alertname": a.name, "service": labels["service"]}
    rest = {k: v for k, v in labels.items() if k not in group}
    values = " ".join(rest[k] for k in sorted(rest))
    return f"[FIRING:1] {a.name} {group['service']} ({values})"


def build_incidents(episodes: list[dict]) -> tuple[list[dict], list[dict]]:
    """PagerDuty incidents and log entries for episodes of alerts that reach an enabled PagerDuty service."""
    incidents, logs = [], []
    number = 4100
    eps_of = {name: ep for name, ep, _k in PD_SERVICES}
    for ep in episodes:
        a: A = ep["alert"]
        if ep.get("silenced") or ep.get("maintenance"):
            continue
        receiver = expected_receiver(a)
        if not receiver.startswith("pd-"):
            continue
        service = receiver[3:]
        start: datetime = ep["start"]
        created = start + timedelta(seconds=30 + rng.randint(0, 20))
        if created > NOW:
            continue
        if in_maintenance(service, created):
            continue
        number += 1
        inc_id = pd_id()
        ep_key = eps_of[service]
        urgency = support_hours_urgency(service, created)
        title = alert_title(a)
        l1 = level_holder(ep_key, 0, created)
        assert l1, (a.name, created)
        trig_id = pd_id("Q", 13)
        inc_ref = ref("incident", inc_id, f"[#{number}] {title}")
        team = TEAM_OF_SERVICE[service]
        base_log = {"service": svcref(service), "incident": inc_ref, "teams": [tref(team)], "contexts": []}
        logs.append(
            {
                "id": trig_id,
                "type": "trigger_log_entry",
                "summary": "Triggered through the API.",
                "self": f"{PD_API}/log_entries/{trig_id}",
                "html_url": f"{PD_WEB}/incidents/{inc_id}/log_entries/{trig_id}",
                "created_at": iso(created),
                "agent": svcref(service),
                "channel": {"type": "api"},
                "event_details": {"description": title},
            }
            | base_log
        )
        status = "resolved"
        ack_at = resolved_at = None
        resolver: dict | None = None
        acker = None
        if ep.get("short"):
            resolved_at = ep["end"] + timedelta(seconds=rng.randint(5, 20))
            resolver = svcref(service)
        elif ep.get("open"):
            _mins, status, ack_after = OPEN[a.name]
            if ack_after is not None:
                ack_at = created + timedelta(minutes=ack_after, seconds=rng.randint(0, 50))
                acker = l1
        else:
            ack_at = created + timedelta(seconds=rng.randint(60, 720))
            acker = level_holder(ep_key, 0, ack_at) or l1
            if "silenced_after" in ep:
                resolved_at = ep["silenced_after"] + timedelta(minutes=10)
                resolver = uref(acker)
            elif rng.random() < 0.2:
                resolved_at = ep["end"] + timedelta(seconds=rng.randint(60, 600))
                resolver = uref(acker)
            else:
                resolved_at = ep["end"] + timedelta(seconds=rng.randint(20, 90))
                resolver = svcref(service)
            if resolved_at <= ack_at:
                resolved_at = ack_at + timedelta(minutes=5)
        if ack_at:
            lid = pd_id("Q", 13)
            logs.append(
                {
                    "id": lid,
                    "type": "acknowledge_log_entry",
                    "summary": f"Acknowledged by {person(acker)[1]}.",
                    "self": f"{PD_API}/log_entries/{lid}",
                    "html_url": f"{PD_WEB}/incidents/{inc_id}/log_entries/{lid}",
                    "created_at": iso(ack_at),
                    "agent": uref(acker),
                    "channel": {"type": "website"},
                }
                | base_log
            )
        if resolved_at:
            lid = pd_id("Q", 13)
            by_user = resolver["type"] == "user_reference"
            logs.append(
                {
                    "id": lid,
                    "type": "resolve_log_entry",
                    "summary": f"Resolved by {resolver['summary']}." if by_user else "Resolved through the API.",
                    "self": f"{PD_API}/log_entries/{lid}",
                    "html_url": f"{PD_WEB}/incidents/{inc_id}/log_entries/{lid}",
                    "created_at": iso(resolved_at),
                    "agent": resolver,
                    "channel": {"type": "website"} if by_user else {"type": "api"},
                }
                | base_log
            )
        last_change = resolved_at or ack_at or created
        last_by = resolver or (uref(acker) if acker else svcref(service))
        assignments, acknowledgements = [], []
        if status != "resolved":
            assignments = [{"at": iso(created), "assignee": uref(acker or l1)}]
            if ack_at:
                acknowledgements = [{"at": iso(ack_at), "acknowledger": uref(acker)}]
        incidents.append(
            {
                "id": inc_id,
                "type": "incident",
                "summary": f"[#{number}] {title}",
                "self": f"{PD_API}/incidents/{inc_id}",
                "html_url": f"{PD_WEB}/incidents/{inc_id}",
                "incident_number": number,
                "title": title,
                "description": title,
                "created_at": iso(created),
                "updated_at": iso(last_change),
                "status": status,
                "incident_key": hashlib.sha256(
                    f'{{}}/{receiver}:{{alertname="{a.name}", service="{a.service}"}}'.encode()
                ).hexdigest(),
                "service": svcref(service),
                "assignments": assignments,
                "assigned_via": "escalation_policy",
                "last_status_change_at": iso(last_change),
                "last_status_change_by": last_by,
                "resolved_at": iso(resolved_at) if resolved_at else None,
                "first_trigger_log_entry": {
                    "id": trig_id,
                    "type": "trigger_log_entry_reference",
                    "summary": "Triggered through the API.",
                    "self": f"{PD_API}/log_entries/{trig_id}?incident_id={inc_id}",
                    "html_url": f"{PD_WEB}/incidents/{inc_id}/log_entries/{trig_id}",
                },
                "alert_counts": {
                    "all": 1,
                    "triggered": 0 if status == "resolved" else 1,
                    "resolved": 1 if status == "resolved" else 0,
                },
                "is_mergeable": True,
                "incident_type": {"name": "incident_default"},
                "escalation_policy": epref(ep_key),
                "teams": [tref(team)],
                "pending_actions": [],
                "acknowledgements": acknowledgements,
                "priority": None,
                "resolve_reason": None,
                "incidents_responders": [],
                "responder_requests": [],
                "urgency": urgency,
            }
        )
    return incidents, logs


def build_history(episodes: list[dict]) -> dict:
    series: dict[tuple, dict] = {}
    for ep in episodes:
        a: A = ep["alert"]
        points = grid_points(ep["start"], ep["end"])
        if not points:
            continue
        labels = {"__name__": "ALERTS", "alertname": a.name, "alertstate": "firing"} | a.series_labels()
        key = tuple(sorted(labels.items()))
        entry = series.setdefault(key, {"metric": dict(sorted(labels.items())), "values": []})
        entry["values"].extend([[p, "1"] for p in points])
    result = []
    for key in sorted(series):
        entry = series[key]
        entry["values"] = sorted({v[0]: v for v in entry["values"]}.values())
        result.append(entry)
    return {
        "query": 'ALERTS{alertstate="firing"}',
        "start": HISTORY_START.isoformat(),
        "end": NOW.isoformat(),
        "step": f"{STEP}s",
        "data": {"resultType": "matrix", "result": result},
    }


# --------------------------------------------------------------------------- writers: pagerduty


def list_body(name: str, items: list, total: bool = True) -> dict:
    return {
        name: items,
        "limit": max(len(items), 25),
        "offset": 0,
        "more": False,
        "total": len(items) if total else None,
    }


def write_pagerduty(episodes: list[dict]) -> None:
    ids = STATE["ids"]
    keys = STATE["keys"]
    created = "2025-03-02T10:00:00Z"

    teams = [
        {
            "id": ids["team"][t[0]],
            "type": "team",
            "summary": t[1],
            "self": f"{PD_API}/teams/{ids['team'][t[0]]}",
            "html_url": f"{PD_WEB}/teams/{ids['team'][t[0]]}",
            "name": t[1],
            "description": t[4],
            "default_role": "manager",
        }
        for t in TEAMS
    ]
    write_json("pagerduty/teams.json", list_body("teams", teams))

    users = []
    for h, name, team, title in PEOPLE:
        uid = ids["user"][h]
        tz = next(t[2] for t in TEAMS if t[0] == team)
        users.append(
            {
                "id": uid,
                "type": "user",
                "summary": name,
                "self": f"{PD_API}/users/{uid}",
                "html_url": f"{PD_WEB}/users/{uid}",
                "name": name,
                "email": f"{h}@example.com",
                "time_zone": tz,
                "color": rng.choice(["green", "purple", "teal", "orange", "red", "blue"]),
                "role": "admin" if title.endswith("Manager") else "user",
                "job_title": title,
                "description": "",
                "invitation_sent": False,
                "teams": [tref(team)],
                "contact_methods": [
                    {
                        "id": pd_id(),
                        "type": "email_contact_method_reference",
                        "summary": "Default",
                        "self": f"{PD_API}/users/{uid}/contact_methods/x",
                    }
                ],
                "notification_rules": [],
            }
        )
    for u in users:
        u["contact_methods"][0]["self"] = f"{PD_API}/users/{u['id']}/contact_methods/{u['contact_methods'][0]['id']}"
    write_json("pagerduty/users.json", list_body("users", users))

    ep_services: dict[str, list[str]] = {}
    for name, ep_key, _k in PD_SERVICES:
        ep_services.setdefault(ep_key, []).append(name)

    schedules = []
    sched_eps: dict[str, list[str]] = {}
    for e in ESCALATION_POLICIES:
        for _delay, targets in e["levels"]:
            for kind, target in targets:
                if kind == "schedule":
                    sched_eps.setdefault(target, []).append(e["key"])
    for s in SCHEDULES:
        sid = ids["schedule"][s["key"]]
        tz = ZoneInfo(s["tz"])
        vstart = datetime(*s["vstart"], tzinfo=tz)
        layer = {
            "id": pd_id(),
            "name": "Layer 1",
            "start": iso_local(vstart),
            "end": None,
            "rotation_virtual_start": iso_local(vstart),
            "rotation_turn_length_seconds": s["turn"],
            "users": [{"user": uref(u)} for u in s["users"]],
            "restrictions": [],
        }
        if s.get("weekdays_only"):
            layer["restrictions"] = [
                {
                    "type": "weekly_restriction",
                    "start_time_of_day": "00:00:00",
                    "start_day_of_week": 1,
                    "duration_seconds": 5 * 86400,
                }
            ]
        desc = {
            "storefront-primary": "Weekly, hand-off Monday 11:00 New York. Override: Liam covers Wed 18 Nov 20:00 - Thu 19 Nov 08:00.",
            "data-batch-primary": "Business days only (Mon 00:00 - Sat 00:00 New York).",
            "data-batch-secondary": "Business days only (Mon 00:00 - Sat 00:00 New York).",
        }.get(s["key"], "")
        schedules.append(
            {
                "id": sid,
                "type": "schedule",
                "summary": s["name"],
                "self": f"{PD_API}/schedules/{sid}",
                "html_url": f"{PD_WEB}/schedules/{sid}",
                "name": s["name"],
                "time_zone": s["tz"],
                "description": desc,
                "escalation_policies": [epref(k) for k in sched_eps.get(s["key"], [])],
                "users": [uref(u) for u in s["users"]],
                "teams": [tref(s["team"])],
                "schedule_layers": [layer],
            }
        )
    write_json("pagerduty/schedules.json", list_body("schedules", schedules))

    policies = []
    for e in ESCALATION_POLICIES:
        eid = ids["ep"][e["key"]]
        rules = []
        for delay, targets in e["levels"]:
            rules.append(
                {
                    "id": pd_id(),
                    "escalation_delay_in_minutes": delay,
                    "targets": [uref(t) if kind == "user" else sref(t) for kind, t in targets],
                }
            )
        policies.append(
            {
                "id": eid,
                "type": "escalation_policy",
                "summary": e["name"],
                "self": f"{PD_API}/escalation_policies/{eid}",
                "html_url": f"{PD_WEB}/escalation_policies/{eid}",
                "name": e["name"],
                "description": "",
                "num_loops": e["num_loops"],
                "on_call_handoff_notifications": "if_has_services",
                "escalation_rules": rules,
                "services": [svcref(n) for n in ep_services.get(e["key"], [])],
                "teams": [tref(e["team"])],
            }
        )
    write_json("pagerduty/escalation_policies.json", list_body("escalation_policies", policies))

    services = []
    last_incident: dict[str, str] = {}
    incidents, logs = build_incidents(episodes)
    for inc in incidents:
        last_incident[inc["service"]["id"]] = inc["created_at"]
    for name, ep_key, kind in PD_SERVICES:
        sid = ids["service"][name]
        integrations = []
        if kind:
            iid = pd_id()
            itype = (
                "generic_events_api_inbound_integration"
                if kind == "service_key"
                else "events_api_v2_inbound_integration"
            )
            integrations.append(
                {
                    "id": iid,
                    "type": itype,
                    "summary": "Alertmanager eu-1",
                    "name": "Alertmanager eu-1",
                    "self": f"{PD_API}/services/{sid}/integrations/{iid}",
                    "html_url": f"{PD_WEB}/services/{sid}/integrations/{iid}",
                    "service": svcref(name),
                    "created_at": created,
                    "vendor": {
                        "id": "PAM4FGS",
                        "type": "vendor_reference",
                        "summary": "Prometheus",
                        "self": f"{PD_API}/vendors/PAM4FGS",
                    },
                    "integration_key": keys[name],
                }
            )
        if name in ("checkout", "storefront-legacy"):
            iid = pd_id()
            integrations.append(
                {
                    "id": iid,
                    "type": "generic_email_inbound_integration",
                    "summary": "E-mail",
                    "name": "E-mail",
                    "self": f"{PD_API}/services/{sid}/integrations/{iid}",
                    "html_url": f"{PD_WEB}/services/{sid}/integrations/{iid}",
                    "service": svcref(name),
                    "created_at": created,
                    "integration_email": f"{name}@example-demo.pagerduty.com",
                }
            )
        status = "active"
        if name == "storefront-legacy":
            status = "disabled"
        elif name == MAINTENANCE_SERVICE:
            status = "maintenance"
        elif any(i["status"] == "acknowledged" and i["service"]["id"] == sid for i in incidents):
            status = "warning"
        elif any(i["status"] == "triggered" and i["service"]["id"] == sid for i in incidents):
            status = "critical"
        urgency: dict[str, Any] = {"type": "constant", "urgency": "high"}
        support = None
        if name == SUPPORT_HOURS_SERVICE:
            urgency = {
                "type": "use_support_hours",
                "during_support_hours": {"type": "constant", "urgency": "high"},
                "outside_support_hours": {"type": "constant", "urgency": "low"},
            }
            support = {
                "type": "fixed_time_per_day",
                "time_zone": "Europe/Berlin",
                "days_of_week": [1, 2, 3, 4, 5],
                "start_time": "08:00:00",
                "end_time": "20:00:00",
            }
        desc = (
            "Decommissioned 2026-06; kept for its incident history."
            if name == "storefront-legacy"
            else next((s["description"] for s in SERVICES if s["name"] == name), "Online and offline ML features.")
        )
        svc = {
            "id": sid,
            "type": "service",
            "summary": name,
            "self": f"{PD_API}/services/{sid}",
            "html_url": f"{PD_WEB}/service-directory/{sid}",
            "name": name,
            "description": desc,
            "auto_resolve_timeout": 14400,
            "acknowledgement_timeout": 1800,
            "created_at": created,
            "status": status,
            "last_incident_timestamp": last_incident.get(sid),
            "escalation_policy": epref(ep_key),
            "teams": [tref(TEAM_OF_SERVICE[name])],
            "integrations": integrations,
            "incident_urgency_rule": urgency,
        }
        if support:
            svc["support_hours"] = support
            svc["scheduled_actions"] = [
                {
                    "type": "urgency_change",
                    "at": {"type": "named_time", "name": "support_hours_start"},
                    "to_urgency": "high",
                }
            ]
        else:
            svc["support_hours"] = None
            svc["scheduled_actions"] = []
        svc |= {"addons": [], "alert_creation": "create_alerts_and_incidents"}
        services.append(svc)
    write_json("pagerduty/services.json", list_body("services", services))

    oncalls = []
    for e in ESCALATION_POLICIES:
        for level, (_delay, targets) in enumerate(e["levels"], start=1):
            for kind, target in targets:
                if kind == "user":
                    oncalls.append(
                        {
                            "escalation_policy": epref(e["key"]),
                            "escalation_level": level,
                            "schedule": None,
                            "user": uref(target),
                            "start": None,
                            "end": None,
                        }
                    )
                    continue
                sched = next(s for s in SCHEDULES if s["key"] == target)
                for s, en, u in schedule_entries(sched, HISTORY_START, ONCALL_END):
                    oncalls.append(
                        {
                            "escalation_policy": epref(e["key"]),
                            "escalation_level": level,
                            "schedule": sref(target),
                            "user": uref(u),
                            "start": iso(s),
                            "end": iso(en),
                        }
                    )
    write_json("pagerduty/oncalls.json", list_body("oncalls", oncalls, total=False))

    write_json("pagerduty/incidents.json", list_body("incidents", incidents))
    logs.sort(key=lambda x: (x["created_at"], x["id"]))
    write_json("pagerduty/log_entries.json", list_body("log_entries", logs))

    mw_id = pd_id()
    mw = {
        "id": mw_id,
        "type": "maintenance_window",
        "summary": "catalog-api: move the product tables to the new cluster",
        "self": f"{PD_API}/maintenance_windows/{mw_id}",
        "html_url": f"{PD_WEB}/service-directory/maintenance-windows/{mw_id}",
        "sequence_number": 7,
        "start_time": iso(MAINTENANCE[0]),
        "end_time": iso(MAINTENANCE[1]),
        "description": "catalog-api: move the product tables to the new cluster",
        "created_by": uref("maya"),
        "services": [svcref(MAINTENANCE_SERVICE)],
        "teams": [tref("storefront")],
    }
    write_json("pagerduty/maintenance_windows.json", list_body("maintenance_windows", [mw]))
    STATE["incidents"] = incidents
    STATE["log_entries"] = logs


# --------------------------------------------------------------------------- writers: silences


def write_silences() -> None:
    def sid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def m(name: str, value: str, regex: bool = False) -> dict:
        return {"name": name, "value": value, "isRegex": regex, "isEqual": True}

    silences = [
        # Planted OWN013: 21 days on a paging alert, created during an incident resolved long ago.
        {
            "id": sid(),
            "status": {"state": "active"},
            "updatedAt": iso(SILENCE_START),
            "comment": "Credential-stuffing wave, WAF rule deployed. Silencing until things calm down.",
            "createdBy": "nico",
            "startsAt": iso(SILENCE_START),
            "endsAt": iso(SILENCE_START + timedelta(days=21)),
            "matchers": [m("alertname", SILENCED), m("service", "auth")],
        },
        {
            "id": sid(),
            "status": {"state": "active"},
            "updatedAt": iso(NOW - timedelta(hours=1)),
            "comment": "Rolling deploy of checkout 2026.11.16-1",
            "createdBy": "anna",
            "startsAt": iso(NOW - timedelta(hours=1)),
            "endsAt": iso(NOW + timedelta(hours=2)),
            "matchers": [m("alertname", "CheckoutPodsNotReady"), m("service", "checkout")],
        },
        {
            "id": sid(),
            "status": {"state": "expired"},
            "updatedAt": iso(NOW - timedelta(days=9, hours=-2)),
            "comment": "Planned failover of the orders-db cluster",
            "createdBy": "elif",
            "startsAt": iso(NOW - timedelta(days=9)),
            "endsAt": iso(NOW - timedelta(days=9, hours=-2)),
            "matchers": [m("alertname", "LedgerDown|LedgerDbConnectionsHigh", regex=True), m("service", "ledger")],
        },
    ]
    write_json("alertmanager/silences.json", silences)
    STATE["silences"] = silences


# --------------------------------------------------------------------------- writers: signals


def write_signals(episodes: list[dict]) -> None:
    now_ts = ts(NOW)
    lag = {
        "queue_lag:kafka": (
            "sum by (consumergroup, topic) (kafka_consumergroup_lag)",
            [
                ({"consumergroup": "checkout-worker", "topic": "orders.created"}, "1520"),
                ({"consumergroup": "analytics-ingest", "topic": "events.raw"}, "2351907"),
                ({"consumergroup": "ledger-writer", "topic": "ledger.events"}, "7412"),
            ],
        ),
        "queue_lag:rabbitmq": (
            "sum by (queue, vhost) (rabbitmq_queue_messages_ready)",
            [
                ({"queue": "notifications.email", "vhost": "/notifications"}, "312"),
                ({"queue": "payments.settlement", "vhost": "/payments"}, "143"),
            ],
        ),
        "queue_lag:sqs": (
            "max by (queue_name) (aws_sqs_approximate_age_of_oldest_message_maximum)",
            [({"queue_name": "notifications-sms"}, "1260")],
        ),
        "queue_lag:celery": (
            "sum by (queue_name) (celery_queue_length)",
            [({"queue_name": "reports"}, "37"), ({"queue_name": "search-indexing"}, "830")],
        ),
    }
    queries: dict[str, Any] = {}
    for name, (query, rows) in lag.items():
        queries[name] = {
            "query": query,
            "data": {"resultType": "vector", "result": [{"metric": m, "value": [now_ts, v]} for m, v in rows]},
        }
    queries["alert_history"] = build_history(episodes)
    names = set()
    for doc, _alerts in STATE["rule_files"].values():
        groups = doc["spec"]["groups"] if doc.get("kind") == "PrometheusRule" else doc["groups"]
        for g in groups:
            for r in g["rules"]:
                names |= expr_metrics(r["expr"])
                if "record" in r:
                    names.add(r["record"])
    for slo in SLOS:
        for q in ("error", "total", "good"):
            if q in slo:
                names |= expr_metrics(slo[q].replace("{{.window}}", "5m"))
    names -= {PLANTED_ABSENT_METRIC}
    names |= {
        "ALERTS",
        "ALERTS_FOR_STATE",
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "gateway_ratelimit_rejections_total",
        "http_request_duration_seconds_sum",
        "kafka_consumergroup_current_offset",
        "rabbitmq_queue_messages_unacknowledged",
        "aws_sqs_approximate_number_of_messages_visible_average",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "go_goroutines",
    }
    queries["metric_names"] = {"endpoint": "/api/v1/label/__name__/values", "data": sorted(names)}
    write_json(
        "signals/prometheus-eu.json",
        {
            "apiVersion": "ownership-agent/v1",
            "kind": "RecordedSignals",
            "recorded_at": NOW.isoformat(),
            "queries": queries,
        },
    )
    STATE["metric_names"] = sorted(names)

    def stmt(query: str, calls: int, mean: float, rows_per_call: float, qid: str | None = None) -> dict:
        qid = qid or str(rng.randint(-(2**63), 2**63 - 1))
        total = round(calls * mean, 3)
        return {
            "queryid": qid,
            "query": query,
            "calls": calls,
            "total_exec_time": total,
            "min_exec_time": round(mean * rng.uniform(0.05, 0.3), 3),
            "max_exec_time": round(mean * rng.uniform(4, 12), 3),
            "mean_exec_time": mean,
            "stddev_exec_time": round(mean * rng.uniform(0.3, 1.2), 3),
            "rows": int(calls * rows_per_call),
            "shared_blks_hit": int(calls * rng.uniform(5, 40)),
            "shared_blks_read": int(calls * rng.uniform(0, 2)),
        }

    orders = {
        "orders": [
            stmt("SELECT id, status, total_cents, currency FROM orders WHERE id = $1", 1843211, 0.41, 1),
            stmt(
                "INSERT INTO orders (id, customer_id, status, total_cents, currency, created_at) VALUES ($1, $2, $3, $4, $5, now())",
                412877,
                0.93,
                1,
            ),
            stmt("UPDATE orders SET status = $1, updated_at = now() WHERE id = $2", 633019, 0.71, 1),
            stmt("SELECT * FROM order_items WHERE order_id = $1", 1201344, 0.58, 3.2),
            stmt("SELECT id FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT $2", 210933, 3.8, 10),
        ],
        "payments": [
            stmt("SELECT * FROM payment_attempts WHERE payment_id = $1 ORDER BY created_at", 502110, 0.62, 1.4),
            stmt(
                "INSERT INTO payment_attempts (payment_id, provider, status, created_at) VALUES ($1, $2, $3, now())",
                498234,
                1.1,
                1,
            ),
            stmt("UPDATE payments SET status = $1, settled_at = $2 WHERE id = $3", 187301, 0.88, 1),
            stmt(
                "SELECT id FROM payments WHERE status = $1 AND created_at < $2 LIMIT $3 FOR UPDATE SKIP LOCKED",
                86400,
                12.4,
                50,
            ),
        ],
        "ledger": [
            stmt(
                "INSERT INTO ledger_entries (account_id, amount, currency, booked_at, reference) VALUES ($1, $2, $3, $4, $5)",
                734102,
                0.77,
                1,
            ),
            stmt("SELECT balance FROM account_balances WHERE account_id = $1", 391022, 0.35, 1),
            # Planted OWN010: slow and heavy, on ledger, which has no latency SLO or alert.
            stmt(
                "SELECT a.account_id, a.currency, sum(e.amount) AS balance FROM ledger_entries e JOIN accounts a ON a.id = e.account_id "
                "WHERE e.booked_at >= $1 AND a.merchant_id = $2 GROUP BY a.account_id, a.currency",
                48210,
                1843.6,
                12,
                qid=PLANTED_QUERYID,
            ),
            stmt("UPDATE account_balances SET balance = balance + $1 WHERE account_id = $2", 734102, 0.52, 1),
        ],
    }
    write_json(
        "signals/postgres-orders.json",
        {
            "apiVersion": "ownership-agent/v1",
            "kind": "RecordedStatements",
            "recorded_at": NOW.isoformat(),
            "databases": orders,
        },
    )
    analytics = {
        "analytics": [
            stmt(
                "INSERT INTO events_raw (event_id, type, payload, received_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                9123001,
                0.21,
                1,
            ),
            stmt("SELECT max(received_at) FROM events_raw WHERE partition_key = $1", 43200, 2.9, 1),
            stmt("DELETE FROM events_raw WHERE received_at < $1", 30, 48.2, 120000),
        ],
        "reporting": [
            stmt("SELECT * FROM report_runs WHERE schedule_id = $1 ORDER BY started_at DESC LIMIT $2", 86400, 0.9, 5),
            stmt("INSERT INTO report_runs (schedule_id, started_at, status) VALUES ($1, now(), $2)", 8640, 0.6, 1),
            stmt(
                "SELECT merchant_id, sum(amount_cents) FROM daily_sales WHERE day = $1 GROUP BY merchant_id",
                720,
                38.5,
                2400,
            ),
        ],
    }
    # Planted OWN000: recorded five days before NOW (staleness limit: one day).
    write_json(
        "signals/postgres-analytics.json",
        {
            "apiVersion": "ownership-agent/v1",
            "kind": "RecordedStatements",
            "recorded_at": (NOW - timedelta(days=5)).isoformat(),
            "databases": analytics,
        },
    )
    STATE["statements"] = {**orders, **analytics}


# --------------------------------------------------------------------------- config, expectations, README


def write_config() -> None:
    cfg = {
        "apiVersion": "ownership-agent/v1",
        "kind": "Config",
        "now": NOW.isoformat(),
        "store": {"url": "sqlite:///.ownership/demo.db"},
        "sources": [
            {"name": "catalog", "kind": "catalog", "files": ["catalog.yaml", "backstage/catalog-info.yaml"]},
            {
                "name": "prom-eu",
                "kind": "prometheus",
                "config_file": "prometheus/prometheus.yml",
                "rule_files": ["prometheus/rules/k8s/*.yaml"],
            },
            {
                "name": "am-eu",
                "kind": "alertmanager",
                "config_file": "alertmanager/alertmanager.yml",
                "silences_file": "alertmanager/silences.json",
            },
            {"name": "pagerduty", "kind": "pagerduty", "export_dir": "pagerduty/"},
            {"name": "slos", "kind": "slo", "files": ["slos/*.yaml"]},
            {"name": "signals-eu", "kind": "prometheus_signals", "recording": "signals/prometheus-eu.json"},
            {"name": "orders-db", "kind": "postgres", "recording": "signals/postgres-orders.json"},
            {"name": "analytics-db", "kind": "postgres", "recording": "signals/postgres-analytics.json"},
        ],
    }
    write_yaml(
        "ownership.yaml",
        cfg,
        "# The bundled demo organisation (generated by agent/demo/generate.py; do not edit by hand).\n"
        "# Paths are relative to this file.\n",
    )


# Hand-written: the planted cases. Nothing else in the organisation should produce a finding.
EXPECTED_FINDINGS = [
    {
        "check": "OWN000",
        "service": None,
        "subject": "analytics-db",
        "why": "signals/postgres-analytics.json was recorded 2026-11-11T09:30:00+00:00, five days before now; the staleness "
        "limit is one day. Its statements (databases analytics and reporting, all fast) are kept but marked stale.",
    },
    {
        "check": "OWN001",
        "service": "legacy-cron",
        "subject": "legacy-cron",
        "why": "legacy-cron is in catalog.yaml without a team (and without alerts or a PagerDuty service).",
    },
    {
        "check": "OWN002",
        "service": "analytics-pipeline",
        "subject": "events-freshness",
        "why": "The Sloth SLO analytics-pipeline/events-freshness (slos/analytics-pipeline.yaml) has page_alert: {disable: true}; "
        "only the ticket alert AnalyticsPipelineFreshnessBurnRate (sloth_severity=ticket, severity=warning) exists.",
    },
    {
        "check": "OWN003",
        "service": "ledger",
        "subject": "LedgerNightlyExportFailed",
        "why": 'The route alertname="LedgerNightlyExportFailed" under team="payments" sends it to receiver blackhole, which has '
        "no integrations. It fired twice in the last 30 days and nobody was told.",
    },
    {
        "check": "OWN004",
        "service": "checkout",
        "subject": "CheckoutPaymentProviderErrors",
        "why": "severity=critical, routed to pd-checkout (PagerDuty service checkout, constant high urgency), no runbook_url.",
    },
    {
        "check": "OWN005",
        "service": "reporting",
        "subject": "Data Reporting (business days)",
        "why": "Both levels of the policy are schedules restricted to Mon 00:00 - Sat 00:00 America/New_York, so nobody holds any "
        "level on the weekends 2026-11-21/22 and 2026-11-28/29 (Sat 05:00Z - Mon 05:00Z). The reporting service pages through it.",
    },
    {
        "check": "OWN006",
        "service": "search",
        "subject": "Search (single engineer)",
        "why": "The PagerDuty service search escalates to a one-level policy whose only target is the user Kate Sullivan: one "
        "person and one level (a check may report both aspects of this one policy).",
    },
    {
        "check": "OWN007",
        "service": "api-gateway",
        "subject": "ApiGatewayRateLimitSaturated",
        "why": "Its expr selects gateway_ratelimit_rejected_requests_total, which is not in metric_names (the gateway v2 exports "
        "gateway_ratelimit_rejections_total).",
    },
    {
        "check": "OWN008",
        "service": "storefront-web",
        "subject": "StorefrontWebHighLatency",
        "why": "27 PagerDuty incidents in the last 30 days (79 in 90), each resolved through the API within 5 minutes without an "
        "acknowledgement; 27 one-sample episodes in alert_history.",
    },
    {
        "check": "OWN009",
        "service": "notifications",
        "subject": "notifications-sms",
        "why": "The SQS queue notifications-sms (the organisation's only SQS queue) has aws_sqs_approximate_age_of_oldest_message_maximum "
        "= 1260s in signals; no alert rule selects that metric at all (NotificationsSmsProviderErrors watches provider errors).",
    },
    {
        "check": "OWN010",
        "service": "ledger",
        "subject": "-4719263187501266313",
        "why": "Database ledger (orders-db): the query 'SELECT a.account_id, a.currency, sum(e.amount) ... GROUP BY a.account_id, "
        "a.currency' has mean_exec_time 1843.6 ms over 48210 calls (about 24.7 h in total); ledger has no latency SLO and "
        "no latency alert. The subject is the statement's queryid.",
    },
    {
        "check": "OWN011",
        "service": "payments-api",
        "subject": "PaymentsApiDown",
        "why": "severity=critical, routed to pd-payments-api (constant high urgency), no `for:`.",
    },
    {
        "check": "OWN012",
        "service": "auth",
        "subject": "GatewayUpstreamAuthErrors",
        "why": 'Labelled service=auth (attributed to auth), but the platform route alertname=~"Gateway.+" catches it first and '
        "sends it to pd-api-gateway, the PagerDuty service of api-gateway.",
    },
    {
        "check": "OWN013",
        "service": "auth",
        "subject": "AuthHighLoginFailureRate",
        "why": "alertmanager/silences.json: an active silence (alertname=AuthHighLoginFailureRate, service=auth) from "
        "2026-10-31T09:30:00Z to 2026-11-21T09:30:00Z, 21 days long and 16 days old; its incident was resolved on 2026-10-31. "
        "The alert has fired twice since, unseen.",
    },
]

EXPECTED_NOTES = [
    "catalog-api's PagerDuty service is in a maintenance window (2026-11-16T08:00Z - 12:00Z) at now and its status is "
    "'maintenance': its alerts do not page at now. None of the planted cases is on catalog-api.",
    "storefront-legacy is a disabled PagerDuty service (storefront team) that no receiver routes to and no catalog service names.",
    "notifications uses support hours (Mon-Fri 08:00-20:00 Europe/Berlin, high inside, low outside); at now (10:30 Berlin) "
    "its alerts page. The planted OWN009 does not depend on urgency.",
    "Sloth page alerts carry `for: 2m` (added to the generated rules by the organisation's policy), so none is an OWN011 case.",
    "LedgerBalanceMismatch has severity=page in its rule; prometheus.yml's alert_relabel_configs rewrite it to critical, "
    "so it pages through pd-ledger.",
    "Open incidents at now: LedgerConsumerLagHigh (acknowledged; ledger.events lag 7412), "
    "FeatureStoreOnlineHighLatency (triggered) and AnalyticsIngestLagHigh (acknowledged; events.raw lag 2.35M). "
    "Their PagerDuty services have status warning / critical, which PagerDuty uses for enabled services with open incidents.",
]


def write_expected() -> None:
    doc = {
        "apiVersion": "ownership-agent/v1",
        "kind": "ExpectedFindings",
        "now": NOW.isoformat(),
        "findings": EXPECTED_FINDINGS,
        "notes": EXPECTED_NOTES,
    }
    write_yaml(
        "expected-findings.yaml",
        doc,
        "# The planted cases of the demo organisation, one per check (hand-written in\n"
        "# agent/demo/generate.py). Nothing else in the organisation should produce a finding.\n",
    )


def write_readme() -> None:
    counts = STATE["counts"]
    rows = "\n".join(
        f"| {f['check']} | {f['service'] or '-'} | `{f['subject']}` | {f['why']} |" for f in EXPECTED_FINDINGS
    )
    notes = "\n".join(f"- {n}" for n in EXPECTED_NOTES)
    text = f"""# The demo organisation

A small online shop, recorded at one instant: **now = {NOW.isoformat()}** (a Monday,
10:30 in Berlin, 04:30 in New York). Generated by `python -m agent.demo.generate`
(deterministic, seed 42); do not edit these files by hand.

- **Teams** ({len(TEAMS)}): payments and platform (Europe/Berlin), storefront and data
  (America/New_York); {len(PEOPLE)} people, each with a PagerDuty user.
- **Services** ({len(SERVICES) + len(BACKSTAGE_SERVICES)}): {len(SERVICES)} in `catalog.yaml`, `feature-store` in
  `backstage/catalog-info.yaml` (with a Group `data` and a User `vera` that repeat catalog.yaml).
- **Prometheus** `prom-eu`: `prometheus/prometheus.yml` (external labels cluster/region/replica,
  alert relabelling), {counts["alerting"]} alerting and {counts["recording"]} recording rules in
  {counts["rule_files"]} files, one of them a `PrometheusRule` resource under `prometheus/rules/k8s/`.
- **Alertmanager** `am-eu`: `alertmanager/alertmanager.yml`, {counts["routes"]} routes below the root,
  {counts["receivers"]} receivers (PagerDuty per service, Slack per team, a ticketing webhook and a
  `blackhole`), time intervals, inhibit rules; `alertmanager/silences.json` is the `/api/v2/silences`
  answer.
- **PagerDuty** export (`pagerduty/`): {counts["pd_services"]} services, {len(ESCALATION_POLICIES)} escalation
  policies, {len(SCHEDULES)} schedules, {counts["oncalls"]} on-call entries ({HISTORY_START.date()} .. {ONCALL_END.date()}),
  {counts["incidents"]} incidents over 90 days with {counts["log_entries"]} log entries, one maintenance window.
- **SLOs** (`slos/`): {len(SLOS)} SLOs in Sloth `prometheus/v1`, Sloth `PrometheusServiceLevel` and OpenSLO v1;
  the rules Sloth generates from them are in `prometheus/rules/slo-*.yml`.
- **Signals**: `signals/prometheus-eu.json` (queue lag for the 8 catalog queues, 30 days of `ALERTS`
  history at 300 s, the metric names), `signals/postgres-orders.json` (databases orders, payments,
  ledger) and `signals/postgres-analytics.json` (analytics, reporting; recorded 5 days ago).

## On-call

| policy | levels | time zone |
|---|---|---|
| Payments | Payments Primary (weekly, 4) → Payments Secondary (weekly, 2) → Greta (manager) | Europe/Berlin |
| Storefront | Storefront Primary (weekly, 4) → Maya (lead) | America/New_York |
| Search (single engineer) | Kate | - |
| Platform | Platform Primary (daily, 4) → Platform Secondary (weekly, 2) | Europe/Berlin |
| Data | Data Primary (weekly, 4) → Data Secondary (weekly, 2) | America/New_York |
| Data Reporting (business days) | Data Batch Primary → Data Batch Secondary, both Mon-Fri only | America/New_York |

**The override.** PagerDuty's schedule list body carries no overrides (they live at
`/schedules/{{id}}/overrides`), so the override is visible only in `oncalls.json`: Liam O'Brien
holds Storefront Primary from 2026-11-18 20:00 to 2026-11-19 08:00 America/New_York
(2026-11-19T01:00Z - 13:00Z) instead of the rotation's user; the schedule's description says so.
Users placed directly on a level appear in `oncalls.json` with `schedule`, `start` and `end` null.

**Secrets.** Routing keys are fake (`demo` + 28 hex digits). `pd-notifications` reads its key from
`alertmanager/secrets/notifications.key` (`routing_key_file: secrets/notifications.key`). Note:
Alertmanager 0.25 resolves that path against its working directory, not the config file's
directory (checked with a real Alertmanager); amtool check-config does not read it. The agent
resolves it relative to the config file, which is the same when Alertmanager runs from `alertmanager/`.

## Planted cases (`expected-findings.yaml`)

| check | service | subject | why |
|---|---|---|---|
{rows}

Notes:

{notes}
"""
    write("README.md", text)


# --------------------------------------------------------------------------- self-check


def _route_count(text: str) -> int:
    return len(re.findall(r"^\s+- receiver: ", text.split("\ntime_intervals:")[0], flags=re.M))


def self_check() -> None:
    """Reference integrity and the invariants that keep everything but the planted cases clean."""

    def load(rel: str) -> Any:
        return json.loads((ORG / rel).read_text())

    pd = {
        n: load(f"pagerduty/{n}.json")[n]
        for n in (
            "services",
            "escalation_policies",
            "schedules",
            "oncalls",
            "users",
            "teams",
            "incidents",
            "log_entries",
            "maintenance_windows",
        )
    }
    ids = {
        k: {o["id"] for o in pd[k]}
        for k in ("services", "escalation_policies", "schedules", "users", "teams", "incidents")
    }

    def chk(kind: str, r: dict | None, allow_none: bool = False) -> None:
        if r is None:
            assert allow_none, kind
            return
        assert r["id"] in ids[kind], (kind, r)

    for s in pd["services"]:
        chk("escalation_policies", s["escalation_policy"])
        for t in s["teams"]:
            chk("teams", t)
        for i in s["integrations"]:
            assert i["service"]["id"] == s["id"]
    for e in pd["escalation_policies"]:
        for r in e["escalation_rules"]:
            for t in r["targets"]:
                chk("users" if t["type"] == "user_reference" else "schedules", t)
        for s in e["services"]:
            chk("services", s)
            assert next(x for x in pd["services"] if x["id"] == s["id"])["escalation_policy"]["id"] == e["id"]
    for s in pd["schedules"]:
        for u in s["users"]:
            chk("users", u)
        for e in s["escalation_policies"]:
            chk("escalation_policies", e)
        for layer in s["schedule_layers"]:
            for u in layer["users"]:
                chk("users", u["user"])
    for o in pd["oncalls"]:
        chk("escalation_policies", o["escalation_policy"])
        chk("users", o["user"])
        chk("schedules", o["schedule"], allow_none=True)
        if o["schedule"] is None:
            assert o["start"] is None and o["end"] is None
    for u in pd["users"]:
        for t in u["teams"]:
            chk("teams", t)
    log_ids = {entry["id"] for entry in pd["log_entries"]}
    for inc in pd["incidents"]:
        chk("services", inc["service"])
        chk("escalation_policies", inc["escalation_policy"])
        assert inc["first_trigger_log_entry"]["id"] in log_ids
        for a in inc["assignments"]:
            chk("users", a["assignee"])
        assert (inc["status"] == "resolved") == (inc["resolved_at"] is not None)
        svc = next(x for x in pd["services"] if x["id"] == inc["service"]["id"])
        assert svc["status"] != "disabled"
    for entry in pd["log_entries"]:
        chk("incidents", entry["incident"])
        chk("services", entry["service"])
        chk("users" if entry["agent"]["type"] == "user_reference" else "services", entry["agent"])
    for mw in pd["maintenance_windows"]:
        for s in mw["services"]:
            chk("services", s)
        assert mw["start_time"] <= iso(NOW) < mw["end_time"]

    # Catalog <-> PagerDuty
    cat = yaml.safe_load((ORG / "catalog.yaml").read_text())
    team_names = {t["name"] for t in cat["teams"]}
    for t in cat["teams"]:
        chk("teams", {"id": t["pagerduty"]["team_id"]})
        for e in t["pagerduty"]["escalation_policies"]:
            chk("escalation_policies", {"id": e})
        for s in t["pagerduty"]["schedules"]:
            chk("schedules", {"id": s})
    assert len(cat["people"]) == 25 and len({p["id"] for p in cat["people"]}) == 25
    for p in cat["people"]:
        assert set(p["teams"]) <= team_names
        chk("users", {"id": p["pagerduty_user_id"]})
    names = [s["name"] for s in cat["services"]]
    backstage = list(yaml.safe_load_all((ORG / "backstage/catalog-info.yaml").read_text()))
    components = [d["metadata"]["name"] for d in backstage if d["kind"] == "Component"]
    assert not set(names) & set(components), "duplicate service names between catalog.yaml and Backstage"
    for d in backstage:
        if d["kind"] == "Component":
            assert d["spec"]["owner"].split(":")[1] in team_names
            sid = d["metadata"]["annotations"]["pagerduty.com/service-id"]
            chk("services", {"id": sid})
            svc = next(x for x in pd["services"] if x["id"] == sid)
            assert d["metadata"]["annotations"]["pagerduty.com/integration-key"] in {
                i.get("integration_key") for i in svc["integrations"]
            }
    for s in cat["services"]:
        if "team" in s:
            assert s["team"] in team_names
        for sid in s.get("pagerduty", {}).get("service_ids", []):
            chk("services", {"id": sid})
    all_services = set(names) | set(components)

    # Alertmanager: receivers, keys, time intervals
    am_text = (ORG / "alertmanager/alertmanager.yml").read_text()
    am = yaml.safe_load(am_text)
    receivers = {r["name"]: r for r in am["receivers"]}
    intervals = {t["name"] for t in am["time_intervals"]}

    def walk(route: dict) -> None:
        assert route["receiver"] in receivers, route["receiver"]
        for n in route.get("mute_time_intervals", []) + route.get("active_time_intervals", []):
            assert n in intervals
        for child in route.get("routes", []):
            walk(child)

    walk(am["route"])
    pd_keys = {i["integration_key"]: s for s in pd["services"] for i in s["integrations"] if "integration_key" in i}
    for r in am["receivers"]:
        for c in r.get("pagerduty_configs", []):
            key = c.get("routing_key") or c.get("service_key")
            if "routing_key_file" in c:
                key = (ORG / "alertmanager" / c["routing_key_file"]).read_text().strip()
            svc = pd_keys[key]
            assert r["name"] == f"pd-{svc['name']}", (r["name"], svc["name"])
            assert svc["status"] != "disabled"
            itype = next(i["type"] for i in svc["integrations"] if i.get("integration_key") == key)
            assert itype == (
                "generic_events_api_inbound_integration" if "service_key" in c else "events_api_v2_inbound_integration"
            )
    assert "blackhole" in receivers and set(receivers["blackhole"]) == {"name"}

    # Rules: every alert attributed to a catalog service; paging alerts have runbook and for (except the plants)
    alerts = all_alerts()
    for a in alerts:
        assert a.service in all_services, a.name
        rcv = expected_receiver(a)
        assert rcv in receivers
        if rcv.startswith("pd-"):
            if a.name != "CheckoutPaymentProviderErrors":
                assert a.runbook, a.name
            if a.name != "PaymentsApiDown":
                assert a.for_, a.name
            if a.name != "GatewayUpstreamAuthErrors":
                assert rcv == f"pd-{a.service}", a.name
    # SLOs: each page-enabled SLO has its page alert in the rules
    page_alerts = {(a.service, a.sloth["sloth_slo"]) for a in alerts if a.sloth_severity == "page"}
    for slo in SLOS:
        assert ((slo["service"], slo["name"]) in page_alerts) == slo["page"], slo["name"]
    # Queues: every catalog queue has a lag series; every queue but notifications-sms has an alert on it
    sig = load("signals/prometheus-eu.json")
    lag_names = set()
    for q in ("kafka", "rabbitmq", "sqs", "celery"):
        for row in sig["queries"][f"queue_lag:{q}"]["data"]["result"]:
            lag_names.add(row["metric"].get("topic") or row["metric"].get("queue") or row["metric"].get("queue_name"))
    cat_queues = {q["name"] for s in cat["services"] for q in s.get("queues", [])}
    assert lag_names == cat_queues, (lag_names, cat_queues)
    exprs = " ".join(a.expr for a in alerts)
    for q in cat_queues:
        assert (f'"{q}"' in exprs) == (q != "notifications-sms"), q
    # Metric names: everything but the planted metric exists
    metric_names = set(sig["queries"]["metric_names"]["data"])
    for a in alerts:
        missing = expr_metrics(a.expr) - metric_names
        assert missing == ({PLANTED_ABSENT_METRIC} if a.name == NEVER else set()), (a.name, missing)
    # History: alert names exist; only the noisy alert has more than 3 episodes in 30 days
    rule_names = {a.name for a in alerts}
    step_s = STEP
    for series in sig["queries"]["alert_history"]["data"]["result"]:
        assert series["metric"]["alertname"] in rule_names
        times = [v[0] for v in series["values"]]
        episodes = 1 + sum(1 for x, y in zip(times, times[1:], strict=False) if y - x > step_s)
        if series["metric"]["alertname"] != NOISY:
            assert episodes <= 3, (series["metric"]["alertname"], episodes)
    # Incidents: only the noisy alert has more than 4 incidents in 30 days, or resolves within 5 minutes
    from collections import Counter

    recent = Counter()
    for inc in pd["incidents"]:
        created = datetime.fromisoformat(inc["created_at"].replace("Z", "+00:00"))
        alertname = inc["title"].split()[1]
        assert alertname in rule_names
        if inc["resolved_at"]:
            resolved = datetime.fromisoformat(inc["resolved_at"].replace("Z", "+00:00"))
            assert (resolved - created < timedelta(minutes=5)) == (alertname == NOISY), inc["incident_number"]
        if created >= HISTORY_START:
            recent[alertname] += 1
    for name, n in recent.items():
        assert n <= 4 or name == NOISY, (name, n)
    # The numbers the expected findings quote
    history = {}
    for series in sig["queries"]["alert_history"]["data"]["result"]:
        times = [v[0] for v in series["values"]]
        starts = [times[0]] + [y for x, y in zip(times, times[1:], strict=False) if y - x > STEP]
        history.setdefault(series["metric"]["alertname"], []).extend(starts)
    assert len(history["LedgerNightlyExportFailed"]) == 2
    assert len([t for t in history[SILENCED] if t > ts(SILENCE_START)]) == 2
    assert len(history[NOISY]) == 27 and recent[NOISY] == 27
    assert NEVER not in history and NEVER not in recent
    assert recent[NOISY] >= 20
    # On-call: every policy but Data Reporting has someone on every level for the next 14 days; Data Reporting has holes
    for e in ESCALATION_POLICIES:
        t = NOW
        hole = False
        while t < ONCALL_END:
            if all(level_holder(e["key"], lvl, t) is None for lvl in range(len(e["levels"]))):
                hole = True
            if e["key"] != "data-reporting":
                assert all(level_holder(e["key"], lvl, t) for lvl in range(len(e["levels"]))), (e["key"], t)
            t += timedelta(minutes=30)
        assert hole == (e["key"] == "data-reporting"), e["key"]
        people_in = set()
        for _d, targets in e["levels"]:
            for kind, target in targets:
                people_in |= (
                    {target} if kind == "user" else set(next(s for s in SCHEDULES if s["key"] == target)["users"])
                )
        assert (len(people_in) >= 2 and len(e["levels"]) >= 2) == (e["key"] != "search"), e["key"]
    # oncalls.json agrees with the computation
    uid = {v: k for k, v in STATE["ids"]["user"].items()}
    sid_key = {v: k for k, v in STATE["ids"]["schedule"].items()}
    for o in pd["oncalls"]:
        if o["schedule"]:
            start = datetime.fromisoformat(o["start"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(o["end"].replace("Z", "+00:00"))
            assert oncall_at(sid_key[o["schedule"]["id"]], start) == uid[o["user"]["id"]]
            assert oncall_at(sid_key[o["schedule"]["id"]], end - timedelta(seconds=1)) == uid[o["user"]["id"]]
    # Silences: only one active silence on a paging alert is longer than 1 day
    for s in STATE["silences"]:
        length = datetime.fromisoformat(s["endsAt"].replace("Z", "+00:00")) - datetime.fromisoformat(
            s["startsAt"].replace("Z", "+00:00")
        )
        names_ = [m["value"] for m in s["matchers"] if m["name"] == "alertname"]
        assert all(any(re.fullmatch(n, r) for r in rule_names) for n in names_)
        if s["status"]["state"] == "active" and length > timedelta(days=1):
            assert names_ == [SILENCED]
    # Slow queries: only one statement is slow (> 500 ms mean) or heavy (> 2 h total)
    slow = [
        (db, st)
        for db, sts in STATE["statements"].items()
        for st in sts
        if st["mean_exec_time"] > 500 or st["total_exec_time"] > 2 * 3600 * 1000
    ]
    assert len(slow) == 1 and slow[0][0] == "ledger", slow
    # Expected findings name things that exist
    for f in EXPECTED_FINDINGS:
        assert f["service"] is None or f["service"] in all_services, f
    # Size
    total = sum(p.stat().st_size for p in ORG.rglob("*") if p.is_file())
    assert total < 3_000_000, total
    STATE["size"] = total


# --------------------------------------------------------------------------- external tools (optional)


def run_tools() -> None:
    """promtool check rules / config and amtool check-config + routes test for every alert's label set."""
    for path in sorted(glob.glob(str(ORG / "prometheus/rules/*.yml"))):
        subprocess.run(["promtool", "check", "rules", path], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(glob.glob(str(ORG / "prometheus/rules/k8s/*.yaml"))):
            spec = yaml.safe_load(Path(path).read_text())["spec"]
            out = Path(tmp) / Path(path).name
            out.write_text(yaml.safe_dump(spec, sort_keys=False))
            subprocess.run(["promtool", "check", "rules", str(out)], check=True)
    subprocess.run(
        ["promtool", "check", "config", "--syntax-only", str(ORG / "prometheus/prometheus.yml")], check=True, cwd="/"
    )
    am = str(ORG / "alertmanager/alertmanager.yml")
    subprocess.run(["amtool", "check-config", am], check=True, cwd="/")
    bad = []
    for a in all_alerts():
        labels = a.series_labels() | {
            "alertname": a.name,
            "cluster": "eu-1",
            "region": "eu",
            "severity": a.effective_severity,
        }
        args = [f"{k}={v}" for k, v in sorted(labels.items())]
        res = subprocess.run(
            ["amtool", "config", "routes", "test", "--config.file", am, *args], capture_output=True, text=True
        )
        got = res.stdout.strip().split(",")
        want = expected_receiver(a)
        if want not in got or any(r.startswith(("pd-", "blackhole")) and r != want for r in got):
            bad.append((a.name, got, want))
    if bad:
        raise SystemExit(f"routing mismatches: {bad}")
    print(f"tools: promtool and amtool OK; {len(all_alerts())} alert label sets route as expected")


# --------------------------------------------------------------------------- main


def generate() -> None:
    if ORG.exists():
        shutil.rmtree(ORG)
    ORG.mkdir(parents=True)
    build_ids()
    STATE["rule_files"] = rule_files()
    write_catalog()
    write_prometheus()
    write_slos()
    write_alertmanager()
    write_silences()
    episodes = plan_episodes()
    write_pagerduty(episodes)
    write_signals(episodes)
    write_config()
    write_expected()
    am_text = (ORG / "alertmanager/alertmanager.yml").read_text()
    alerts = all_alerts()
    n_rec = 0
    for doc, _a in STATE["rule_files"].values():
        groups = doc["spec"]["groups"] if doc.get("kind") == "PrometheusRule" else doc["groups"]
        n_rec += sum(1 for g in groups for r in g["rules"] if "record" in r)
    STATE["counts"] = {
        "alerting": len(alerts),
        "recording": n_rec,
        "rule_files": len(STATE["rule_files"]),
        "routes": _route_count(am_text),
        "receivers": len(yaml.safe_load(am_text)["receivers"]),
        "pd_services": len(PD_SERVICES),
        "oncalls": len(json.loads((ORG / "pagerduty/oncalls.json").read_text())["oncalls"]),
        "incidents": len(STATE["incidents"]),
        "log_entries": len(STATE["log_entries"]),
    }
    write_readme()
    self_check()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tools", action="store_true", help="also run promtool and amtool on the result")
    args = parser.parse_args(argv)
    generate()
    c = STATE["counts"]
    print(
        f"wrote {ORG} ({STATE['size']} bytes): {c['alerting']} alerting + {c['recording']} recording rules, "
        f"{c['routes']} routes, {c['incidents']} incidents, {c['log_entries']} log entries, {c['oncalls']} on-calls"
    )
    if args.tools:
        run_tools()
    return 0


if __name__ == "__main__":
    sys.exit(main())
