"""A real Prometheus scraping a prometheus-client exporter, optionally alerting a real Alertmanager.

Plain helper for the live collector tests (no pytest dependency).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

# Kafka lag per partition (summed per group and topic by the built-in query), RabbitMQ ready
# messages per queue, and the request counter some rules use. `payment_declines_total` and
# `legacy_errors_total` are never exported: the rules that need them have no series.
KAFKA_LAG = {
    ("checkout-worker", "orders.created", "0"): 700,
    ("checkout-worker", "orders.created", "1"): 820,
    ("analytics-ingest", "events.raw", "0"): 40,
}
RABBIT_READY = {("notifications.email", "/notifications"): 312, ("payments.settlement", "/payments"): 5}

RULES = """\
groups:
  - name: checkout
    interval: 1s
    rules:
      - alert: CheckoutLagHigh
        expr: sum by (consumergroup, topic) (kafka_consumergroup_lag{topic="orders.created"}) > 1000
        labels: {severity: page, service: checkout}
        annotations: {runbook_url: "https://runbooks.example.com/checkout/lag"}
      - alert: CheckoutErrors
        expr: sum by (service) (rate(http_requests_total{code=~"5.."}[1m])) > 100
        for: 5m
        labels: {severity: page, service: checkout}
      - record: service:http_requests:rate1m
        expr: sum by (service) (rate(http_requests_total[1m]))
  - name: payments
    rules:
      - alert: PaymentsDeclining
        expr: sum(rate(payment_declines_total[5m])) > 1
        labels: {severity: page, service: payments}
      - alert: PaymentsErrorsAnySource
        expr: rate(legacy_errors_total[5m]) > 0 or rate(http_requests_total{service="payments", code="500"}[5m]) > 0
        labels: {severity: ticket, service: payments}
      - alert: ShadowExporterMissing
        expr: absent(up{job="shadow"})
        labels: {severity: warning, service: notifications}
"""
ALERT_RULES = {
    "CheckoutLagHigh",
    "CheckoutErrors",
    "PaymentsDeclining",
    "PaymentsErrorsAnySource",
    "ShadowExporterMissing",
}


class Exporter:
    """prometheus-client on a free port with its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        lag = Gauge("kafka_consumergroup_lag", "lag", ["consumergroup", "topic", "partition"], registry=self.registry)
        for labels, v in KAFKA_LAG.items():
            lag.labels(*labels).set(v)
        ready = Gauge("rabbitmq_queue_messages_ready", "ready", ["queue", "vhost"], registry=self.registry)
        for labels, v in RABBIT_READY.items():
            ready.labels(*labels).set(v)
        req = Counter("http_requests", "requests", ["service", "code"], registry=self.registry)
        req.labels("checkout", "200").inc(100)
        req.labels("checkout", "500").inc(3)
        self.server, self._thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.port = self.server.server_port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def prometheus_config(exporter: Exporter, alertmanager_url: str | None = None, region: str = "eu") -> str:
    am = ""
    if alertmanager_url:
        am = f"""\
  alertmanagers:
    - static_configs:
        - targets: ['{alertmanager_url.removeprefix("http://")}']
"""
    return f"""\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
  external_labels: {{region: {region}, replica: a}}
alerting:
  alert_relabel_configs:
    - source_labels: [severity]
      regex: page
      target_label: paging
      replacement: "yes"
    - regex: replica
      action: labeldrop
{am}scrape_configs:
  - job_name: exporter
    static_configs:
      - targets: ['{exporter.target}']
"""


def write_rules(folder: Path) -> Path:
    path = folder / "checkout-rules.yml"
    path.write_text(RULES)
    return path


def wait_until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as e:  # not up yet
            last = e
        else:
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError(f"{what}: not after {timeout}s (last: {last!r})")


def wait_scraped_and_evaluated(prom: Any) -> None:
    """Until the exporter was scraped and every rule group evaluated once since."""
    wait_until(lambda: prom.query("kafka_consumergroup_lag")["result"], "exporter scraped")
    wait_until(lambda: prom.query('ALERTS{alertname="CheckoutLagHigh",alertstate="firing"}')["result"], "alert firing")
