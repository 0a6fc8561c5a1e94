"""Labels an expression leaves open are resolved from the series a live Prometheus has now:
only the consumer groups that exist take a path, no "any other value" is guessed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from livestack import Exporter, prometheus_config, wait_scraped_and_evaluated, write_rules
from servers import PrometheusServer

from agent.config import PrometheusSource
from collectors.facts import (
    AlertmanagerFacts,
    Matcher,
    Receiver,
    Route,
    Snapshot,
    SourceResult,
    SourceStatus,
)
from collectors.prometheus import PrometheusCollector
from rules.graph import OwnershipGraph
from rules.paging import PagingResolver

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def live_prometheus(tmp_path_factory: pytest.TempPathFactory):
    exporter = Exporter()
    rules = write_rules(tmp_path_factory.mktemp("rules"))
    with PrometheusServer(config_yaml=prometheus_config(exporter), rule_files=[rules]) as prom:
        wait_scraped_and_evaluated(prom)
        yield prom
    exporter.stop()


def _graph(facts, route: Route, receivers: list[Receiver]) -> OwnershipGraph:
    def res(name: str, f) -> SourceResult:
        return SourceResult(status=SourceStatus(name=name, kind=f.kind, ok=True, collected_at=NOW), facts=f)

    return OwnershipGraph.build(
        Snapshot(
            taken_at=NOW,
            now=NOW,
            sources=[res("prom", facts), res("am", AlertmanagerFacts(route=route, receivers=receivers))],
        )
    )


def test_open_label_takes_the_values_series_have(live_prometheus, tmp_path: Path) -> None:
    cfg = PrometheusSource(name="prom", kind="prometheus", url=live_prometheus.url)
    facts = PrometheusCollector(cfg, tmp_path).collect().facts
    sel = 'kafka_consumergroup_lag{topic="orders.created"}'
    assert facts.series_labels[sel]["consumergroup"] == ["checkout-worker"]
    route = Route(
        receiver="default",
        routes=[
            Route(receiver="checkout", matchers=[Matcher(name="consumergroup", op="=", value="checkout-worker")]),
            Route(receiver="analytics", matchers=[Matcher(name="consumergroup", op="=", value="analytics-ingest")]),
        ],
    )
    receivers = [Receiver(name=n, integrations=["slack"]) for n in ("default", "checkout", "analytics")]
    g = _graph(facts, route, receivers)
    r = PagingResolver(g)
    lag = next(sr for sr in g.alert_rules() if sr.rule.name == "CheckoutLagHigh")
    answer = r.resolve(lag, NOW)
    assert answer.open_labels == ["consumergroup"]
    # live: only the group that has series on that topic; analytics-ingest reads another topic
    assert [(p.receiver, p.condition) for p in answer.paths] == [("checkout", {"consumergroup": "checkout-worker"})]

    # the same rule without live values is resolved symbolically: every tested value and "any other"
    facts.series_labels = {}
    symbolic = PagingResolver(_graph(facts, route, receivers)).resolve(lag, NOW)
    assert sorted(p.receiver for p in symbolic.paths) == ["analytics", "checkout", "default"]


def test_a_label_with_more_values_than_the_cap_is_left_to_symbolic_resolution(live_prometheus, tmp_path: Path) -> None:
    """A label's values are kept whole or not at all: the first N of N+k values would let the others page
    nobody. The detail says how many were left out."""
    cfg = PrometheusSource(name="prom", kind="prometheus", url=live_prometheus.url)
    whole = PrometheusCollector(cfg, tmp_path).collect().facts.series_labels
    many = {(sel, k): len(v) for sel, labels in whole.items() for k, v in labels.items() if len(v) > 1}
    assert many, whole  # the fixture has a label with several values
    (sel, label), n = next(iter(sorted(many.items())))
    capped = PrometheusSource(name="prom", kind="prometheus", url=live_prometheus.url, max_label_values=n - 1)
    got = PrometheusCollector(capped, tmp_path).collect()
    assert label not in got.facts.series_labels[sel]
    assert all(len(v) <= n - 1 for labels in got.facts.series_labels.values() for v in labels.values())
    assert f"more than max_label_values ({n - 1}) values" in (got.detail or "")
