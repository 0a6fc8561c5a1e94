"""Label-set inference from PromQL, checked against what a real Prometheus fires.

A tiny exporter serves series with known labels; Prometheus scrapes it every second and
evaluates alerting rules that always fire. For every alert Prometheus reports, the labels we
inferred as fixed must be there with the same values, and when we say the set is closed, no
other label may appear.
"""

from __future__ import annotations

import time

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from servers import PrometheusServer, free_port

from collectors.facts import Rule
from rules.labelsets import alert_labels, infer

EXPRS = {
    "PlainSelector": 'up{job="app"} > -1',
    "ByAggregation": 'sum by (service, env) (rate(http_requests_total{env="prod"}[1m])) >= 0',
    "WithoutAggregation": "sum without (instance, code) (http_requests_total) > -1",
    "NoGrouping": "sum(http_requests_total) > -1",
    "RatioIgnoring": 'sum by (service) (http_requests_total{code="500"}) / ignoring(code) sum by (service) (http_requests_total) >= 0',
    "OnMatching": 'queue_depth{queue="orders"} > on(job) group_left(team) team_info',
    "AbsentPinned": 'absent(nonexistent_metric{job="ghost", env="prod"})',
    "LabelReplace": 'label_replace(up{job="app"}, "service", "checkout", "", "") > -1',
    "HistogramQuantile": 'histogram_quantile(0.9, sum by (le, service) (rate(latency_bucket{service="api"}[1m]))) >= 0 or vector(0) > -1',
    "CountValues": 'count_values("version", build_version) > 0',
    "AndFilter": 'up{job="app"} and on(job) queue_depth{queue="orders"} > -1',
    "RegexOpen": 'http_requests_total{code=~"5.."} > -1',
    "TopK": 'topk(1, http_requests_total{env="prod"}) > -1',
    "ScalarCompare": "count(up) > 0",
}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory):
    reg = CollectorRegistry()
    c = Counter("http_requests", "requests", ["service", "code", "env"], registry=reg)
    for svc in ("checkout", "api"):
        for code in ("200", "500"):
            for env in ("prod", "staging"):
                c.labels(svc, code, env).inc(5)
    q = Gauge("queue_depth", "depth", ["queue"], registry=reg)
    q.labels("orders").set(3)
    q.labels("emails").set(1)
    Gauge("team_info", "owner", ["team"], registry=reg).labels("payments").set(0)
    h = Gauge("latency_bucket", "fake histogram", ["service", "le"], registry=reg)
    for le, v in (("0.1", 1), ("1", 5), ("+Inf", 6)):
        h.labels("api", le).set(v)
    Gauge("build_version", "version", ["version"], registry=reg).labels("1.2.3").set(1)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=reg)
    rules_file = tmp_path_factory.mktemp("rules") / "rules.yml"
    rules = [{"alert": name, "expr": expr, "labels": {"severity": "page"}} for name, expr in EXPRS.items()]
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "inference", "rules": rules}]}))
    config = f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels: {{cluster: test}}
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""
    with PrometheusServer(config_yaml=config, rule_files=[rules_file]) as prom:
        deadline = time.time() + 30
        names: set[str] = set()
        while time.time() < deadline:
            alerts = prom.alerts()
            names = {a["labels"]["alertname"] for a in alerts}
            # rate() needs two scrapes; wait until every rule that should fire has fired
            if names >= set(EXPRS) - {"HistogramQuantile"} and len(alerts) > len(EXPRS):
                break
            time.sleep(0.5)
        yield prom
    server.shutdown()


@pytest.mark.parametrize("name", sorted(EXPRS))
def test_inferred_labels_agree_with_prometheus(prometheus: PrometheusServer, name: str) -> None:
    alerts = [a for a in prometheus.alerts() if a["labels"]["alertname"] == name]
    assert alerts, f"{name} never fired"
    inferred = alert_labels(Rule(type="alerting", name=name, expr=EXPRS[name], group="g", labels={"severity": "page"}))
    for a in alerts:
        actual = a["labels"]
        for k, v in inferred.fixed.items():
            assert actual.get(k) == v, f"{name}: inferred {k}={v!r}, Prometheus has {actual}"
        if not inferred.any_other:
            extra = set(actual) - set(inferred.fixed) - inferred.open
            assert not extra, f"{name}: Prometheus has labels {extra} we called impossible ({actual})"


def test_expectations_are_not_vacuous() -> None:
    assert infer(EXPRS["ByAggregation"]).fixed == {"env": "prod"}
    assert infer(EXPRS["ByAggregation"]).open == {"service"}
    assert not infer(EXPRS["NoGrouping"]).any_other and not infer(EXPRS["NoGrouping"]).names()
    assert infer(EXPRS["AbsentPinned"]).fixed == {"job": "ghost", "env": "prod"}
    assert infer(EXPRS["LabelReplace"]).fixed == {"job": "app", "service": "checkout"}
    assert infer(EXPRS["OnMatching"]).fixed == {"queue": "orders"}
    assert "team" in infer(EXPRS["OnMatching"]).open
    assert infer(EXPRS["RatioIgnoring"]).open == {"service"}


def test_external_labels_and_relabelling() -> None:
    rule = Rule(
        type="alerting",
        name="X",
        expr='up{job="app", pod="p1"} == 0',
        group="g",
        labels={"severity": "critical", "cluster": "override"},
    )
    got = alert_labels(
        rule,
        external_labels={"cluster": "eu-1", "region": "eu"},
        alert_relabel_configs=[
            {"action": "labeldrop", "regex": "pod"},
            {"source_labels": ["severity"], "regex": "critical", "target_label": "page", "replacement": "yes"},
        ],
    )
    # a label the rule sets wins over the external label of the same name
    assert got.fixed == {
        "job": "app",
        "severity": "critical",
        "cluster": "override",
        "region": "eu",
        "alertname": "X",
        "page": "yes",
    }
    dropped = alert_labels(rule, alert_relabel_configs=[{"action": "drop", "source_labels": ["job"], "regex": "app"}])
    assert dropped.dropped


def test_templated_label_is_open() -> None:
    rule = Rule(type="alerting", name="X", expr="up == 0", group="g", labels={"service": "{{ $labels.job }}"})
    got = alert_labels(rule)
    assert "service" in got.open and "service" not in got.fixed
