"""Live Prometheus: a real server scraping a prometheus-client exporter and loading a rule file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import servers
from conftest import require_binary
from livestack import ALERT_RULES, KAFKA_LAG, Exporter, prometheus_config, wait_scraped_and_evaluated, write_rules
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent import pipeline
from agent.config import PrometheusSource, SignalsSource, load_config
from collectors.prometheus import PrometheusCollector
from collectors.prometheus_signals import SignalsCollector


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    require_binary(servers.PROMETHEUS_BIN, "prometheus")
    folder = tmp_path_factory.mktemp("live-prom")
    rules = write_rules(folder)
    exporter = Exporter()
    try:
        with servers.PrometheusServer(prometheus_config(exporter), rule_files=[rules]) as prom:
            wait_scraped_and_evaluated(prom)
            yield prom, rules
    finally:
        exporter.stop()


def test_rules_external_labels_and_relabelling(stack) -> None:
    prom, _ = stack
    got = PrometheusCollector(PrometheusSource(name="prom-eu", kind="prometheus", url=prom.url), Path(".")).collect()
    f = got.facts
    assert {r.name for r in f.rules if r.type == "alerting"} == ALERT_RULES
    assert {r.name for r in f.rules if r.type == "recording"} == {"service:http_requests:rate1m"}
    by_name = {r.name: r for r in f.rules}
    lag = by_name["CheckoutLagHigh"]
    assert lag.group == "checkout" and lag.group_interval_s == 1.0
    assert lag.labels == {"severity": "page", "service": "checkout"}
    assert lag.annotations["runbook_url"] == "https://runbooks.example.com/checkout/lag"
    assert lag.location.file and lag.location.file.endswith("checkout-rules.yml") and lag.location.line is None
    assert by_name["CheckoutErrors"].for_s == 300.0
    assert f.external_labels == {"region": "eu", "replica": "a"}
    assert [c.get("target_label") for c in f.alert_relabel_configs] == ["paging", None]
    assert f.alert_relabel_configs[1]["action"] == "labeldrop"
    assert f.evaluation_interval_s == 1.0
    assert "live: 6 rules in 1 files" in (got.detail or "")


def test_local_rule_files_add_line_numbers(stack) -> None:
    prom, rules = stack
    src = PrometheusSource(name="prom-eu", kind="prometheus", url=prom.url, rule_files=[str(rules)])
    got = PrometheusCollector(src, Path(".")).collect()
    lines = {r.name: r.location.line for r in got.facts.rules}
    text = rules.read_text().splitlines()
    assert "alert: CheckoutLagHigh" in text[lines["CheckoutLagHigh"] - 1]
    assert "alert: ShadowExporterMissing" in text[lines["ShadowExporterMissing"] - 1]
    assert "6 of 6 rules found" in (got.detail or "")


def test_queue_lag_history_and_rules_without_series(stack) -> None:
    prom, _ = stack
    src = SignalsSource.model_validate(
        {
            "name": "signals-eu",
            "kind": "prometheus_signals",
            "url": prom.url,
            "queries": [
                {
                    "name": "email-backlog",
                    "service": "notifications",
                    "kind": "rabbitmq",
                    "query": 'sum by (queue) (rabbitmq_queue_messages_ready{vhost="/notifications"})',
                },
                {  # parses, but Prometheus refuses to evaluate it (many-to-many): costs this query only
                    "name": "broken",
                    "service": "checkout",
                    "query": "rabbitmq_queue_messages_ready + on () kafka_consumergroup_lag",
                },
            ],
        }
    )
    got = SignalsCollector(src, Path(".")).collect()
    f = got.facts
    lag = {(q.query_name, q.queue): q for q in f.queue_lag}
    kafka = lag[("queue_lag:kafka", "orders.created")]
    assert kafka.value == sum(v for (g, t, _), v in KAFKA_LAG.items() if t == "orders.created")
    assert kafka.labels["consumergroup"] == "checkout-worker" and kafka.metric == "kafka_consumergroup_lag"
    assert lag[("queue_lag:kafka", "events.raw")].value == 40
    assert lag[("queue_lag:rabbitmq", "notifications.email")].value == 312
    assert lag[("queue_lag:rabbitmq", "payments.settlement")].value == 5
    added = lag[("queue_lag:rabbitmq:email-backlog", "notifications.email")]
    assert added.service == "notifications" and added.value == 312 and added.kind == "rabbitmq"
    assert all(q.service is None for q in f.queue_lag if q.query_name.count(":") == 1)
    # the kinds nothing exports answer nothing, not an error
    assert not any(q.kind in ("sqs", "celery", "redis") for q in f.queue_lag)

    gaps = {g.alertname: g for g in f.metric_gaps}
    assert set(gaps) == {"PaymentsDeclining", "PaymentsErrorsAnySource"}
    assert gaps["PaymentsDeclining"].missing == ["payment_declines_total"] and not gaps["PaymentsDeclining"].can_fire
    assert gaps["PaymentsErrorsAnySource"].missing == ["legacy_errors_total"]
    assert gaps["PaymentsErrorsAnySource"].can_fire  # the other side of `or` has series
    assert gaps["PaymentsDeclining"].group == "payments" and (gaps["PaymentsDeclining"].file or "").endswith(".yml")
    assert f.metric_names is not None and "kafka_consumergroup_lag" in f.metric_names
    assert "payment_declines_total" not in f.metric_names

    fired = {h.alertname: h for h in f.alert_history}
    assert fired["CheckoutLagHigh"].fires >= 1 and fired["CheckoutLagHigh"].firing_seconds > 0
    assert fired["CheckoutLagHigh"].labels["service"] == "checkout"
    assert "ShadowExporterMissing" in fired
    assert f.history_window_s == 30 * 86400
    assert "5 alerting rules checked, 2 select metrics without series (1 can never fire)" in (got.detail or "")
    assert "query broken refused: HTTP 422" in (got.detail or "")
    assert not any(q.service == "checkout" for q in f.queue_lag)


def test_two_named_servers_through_the_pipeline(
    stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Concurrent, each server named; one span per collector under the run's span; a progress display."""
    prom, _ = stack
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    monkeypatch.setattr(pipeline, "tracer", provider.get_tracer("test"))
    exporter = Exporter()
    try:
        with servers.PrometheusServer(prometheus_config(exporter, region="us")) as prom_us:
            cfg = tmp_path / "ownership.yaml"
            cfg.write_text(
                f"""\
apiVersion: ownership-agent/v1
kind: Config
sources:
  - {{name: prom-eu, kind: prometheus, url: "{prom.url}", timeout_s: 10}}
  - {{name: prom-us, kind: prometheus, url: "{prom_us.url}", timeout_s: 10}}
  - {{name: signals-eu, kind: prometheus_signals, url: "{prom.url}", queue_kinds: [kafka]}}
"""
            )
            snap = pipeline.collect(load_config(cfg), datetime.now(UTC), progress=True)
    finally:
        exporter.stop()
    by = {s.status.name: s for s in snap.sources}
    assert all(s.status.ok and not s.status.stale for s in snap.sources), [s.status for s in snap.sources]
    assert by["prom-eu"].facts.external_labels["region"] == "eu"
    assert by["prom-us"].facts.external_labels["region"] == "us"
    assert len(by["prom-eu"].facts.rules) == 6 and by["prom-us"].facts.rules == []
    assert {q.kind for q in by["signals-eu"].facts.queue_lag} == {"kafka"}
    finished = {sp.name: sp for sp in spans.get_finished_spans()}
    run = finished["collection"]
    for name in ("prom-eu", "prom-us", "signals-eu"):
        sp = finished[f"collect {name}"]
        assert sp.parent is not None and sp.parent.span_id == run.context.span_id
        assert sp.attributes is not None and sp.attributes["source.name"] == name
    out = capsys.readouterr().out
    assert "prom-us (prometheus) ok" in out


def test_an_alert_that_fired_between_two_steps_is_in_the_history(tmp_path: Path) -> None:
    """An alert firing for 4 s, resolved before the history is read, between two instants of its 30 s steps:
    ALERTS sampled at the instants never saw it (its series ends with a stale marker); any sample in a step
    counts now, as a short episode."""
    import time

    from livestack import wait_until

    start = int(time.time()) + 3
    rules = tmp_path / "flap.yml"
    rules.write_text(
        "groups:\n  - name: flap\n    interval: 1s\n    rules:\n      - alert: Flap\n"
        f"        expr: (vector(time()) >= {start}) < {start + 4}\n"
        "        labels: {service: checkout}\n"
    )
    with servers.PrometheusServer(rule_files=[rules]) as prom:
        wait_until(lambda: prom.query('ALERTS{alertname="Flap"}')["result"], "Flap fired", timeout=20)
        wait_until(lambda: time.time() > start + 6, "Flap resolved", timeout=20)
        assert not prom.query('ALERTS{alertname="Flap"}')["result"]
        src = SignalsSource.model_validate(
            {
                "name": "signals",
                "kind": "prometheus_signals",
                "url": prom.url,
                "history_window": "1m",
                "history_step": "30s",
            }
        )
        got = SignalsCollector(src, Path(".")).collect().facts
    fired = {h.alertname: h for h in got.alert_history}
    assert "Flap" in fired, [h.alertname for h in got.alert_history]
    assert fired["Flap"].fires == 1 and fired["Flap"].labels["service"] == "checkout"


def test_a_group_in_two_files_gets_each_rules_own_file_and_line(tmp_path: Path) -> None:
    """Group `shared` with alert `Same` in two files: each live rule takes the line of the local file named like
    the one Prometheus reports, whatever order the local files are listed in (they were matched in that order,
    so the two rules swapped files)."""
    group = "groups:\n  - name: shared\n    rules:\n{pad}      - alert: Same\n        expr: vector({v})\n"
    first, second = tmp_path / "z-first.yml", tmp_path / "a-second.yml"
    first.write_text(group.format(pad="", v=1))
    second.write_text(group.format(pad="      - record: r:x\n        expr: vector(2)\n", v=0))
    with servers.PrometheusServer(rule_files=[first, second]) as prom:
        served = sorted({r["file"] for g in prom.api("/rules")["groups"] for r in [g]})
        # the local copies, named as the server's, listed in the other order
        local = tmp_path / "local"
        local.mkdir()
        copies = {}
        for path in served:
            name = Path(path).name
            src = first if name.endswith("z-first.yml") else second
            copies[name] = local / name
            copies[name].write_text(src.read_text())
        ordered = sorted(copies.values(), key=lambda p: p.name, reverse=True)
        src_cfg = PrometheusSource(name="p", kind="prometheus", url=prom.url, rule_files=[str(p) for p in ordered])
        got = PrometheusCollector(src_cfg, Path(".")).collect()
    same = [r for r in got.facts.rules if r.name == "Same"]
    assert len(same) == 2
    for r in same:
        want = "z-first.yml" if r.expr.strip() == "vector(1)" else "a-second.yml"
        assert r.location.file.endswith(want), (r.expr, r.location)
        assert r.location.line == (4 if want == "z-first.yml" else 6)
