"""`AlertLabeller` (one label analysis per expression shape and label names, filled in per rule) gives what
`alert_labels` gives for every rule, in the same label order, whether it takes its recipe or falls back."""

from __future__ import annotations

from typing import Any

import pytest

from collectors.facts import Rule
from rules.labelsets import AlertLabeller, AlertLabels, alert_labels

EXPRS = [
    'up{job="app", instance="i1"} == 0',
    'up{job="web", instance="i2"} == 0',  # the same shape, other values
    'up{job="web", instance=~"i.*"} == 0',
    'sum by (le) (rate(latency_bucket{job="api"}[5m])) > 1',
    'sum by (service, pod) (rate(errors_total{job="api", pod=~"p-.*", env!="dev"}[5m])) > 0',  # open, constraints
    'sum by (service, pod) (rate(errors_total{job="db", pod=~"q-.*", env!="prod"}[5m])) > 0',
    "sum(rate(svc_1_jobs_failed_total[10m])) > 1",  # no matcher value: not from a shape
    "sum(rate(svc_2_jobs_failed_total[10m])) > 1",
    "sum by (pod) (rate(svc_3_total[10m])) > 1",
    'absent(up{job="ghost", prometheus_replica="r"})',
    'label_replace(up{job="app"}, "service", "checkout", "", "") > 0',
    'up{job="app", service="from-expr"} == 0',  # a label the rule also sets
    'up{job="a\\"b"} == 0',  # an escape: parsed as it is
    "this is not promql",
]

LABELS: list[dict[str, str]] = [
    {},
    {"severity": "critical", "team": "t1"},
    {"team": "t2", "severity": "warning"},  # other order
    {"severity": "critical", "service": "s1", "cluster": "override"},
    {"severity": "page", "service": "{{ $labels.job }}"},  # templated
    {"severity": "", "team": "t3"},  # empty value
    {"alertname": "Renamed", "severity": "critical"},
    {"prometheus_replica": "mine", "pod": "p1"},
]

NAMES = ["HighErrors", "Other", ""]

PROMETHEUSES: list[tuple[dict[str, str] | None, list[dict[str, Any]] | None]] = [
    (None, None),
    (
        {"cluster": "eu-1", "region": "eu", "prometheus_replica": "prom-0"},
        [{"action": "labeldrop", "regex": "prometheus_replica"}],
    ),
    ({"cluster": "eu-1", "empty": ""}, [{"action": "labelkeep", "regex": "alertname|severity|job|pod|team|empty"}]),
    ({"cluster": "eu-1"}, [{"action": "labeldrop", "regex": "pod|alertname"}]),  # drops an open label, the name
    (  # reads values: never a recipe
        {"region": "eu"},
        [{"source_labels": ["severity"], "regex": "critical", "target_label": "page", "replacement": "yes"}],
    ),
    ({"region": "eu"}, [{"action": "drop", "source_labels": ["job"], "regex": "app"}]),
    ({"region": "eu"}, []),
]


def _same(got: AlertLabels, want: AlertLabels) -> None:
    assert got == want
    assert list(got.fixed.items()) == list(want.fixed.items())  # the order is the answer's too


def test_labeller_agrees_with_alert_labels_for_varied_rules() -> None:
    for ext, configs in PROMETHEUSES:
        labeller = AlertLabeller(ext, configs)
        for _ in range(2):  # the second time from the recipes remembered
            for expr in EXPRS:
                for labels in LABELS:
                    for name in NAMES:
                        rule = Rule(type="alerting", name=name, expr=expr, group="g", labels=labels)
                        if expr == "this is not promql":  # both fail as inference always did
                            with pytest.raises(ValueError):
                                alert_labels(rule, ext, configs)
                            with pytest.raises(ValueError):
                                labeller(rule)
                            continue
                        _same(labeller(rule), alert_labels(rule, ext, configs))


def test_recipes_are_shared_by_rules_of_one_shape_and_label_names() -> None:
    labeller = AlertLabeller({"cluster": "eu-1"}, [{"action": "labeldrop", "regex": "prometheus_replica"}])
    for i in range(20):
        rule = Rule(
            type="alerting",
            name=f"A{i}",
            expr=f'up{{job="svc-{i}", instance="i{i}"}} == 0',
            group="g",
            labels={"severity": "critical", "service": f"svc-{i}"},
        )
        _same(labeller(rule), alert_labels(rule, {"cluster": "eu-1"}, labeller.configs))
    assert len(labeller._recipes) == 1
