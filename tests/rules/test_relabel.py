"""`relabel`'s shortcut for name-only configs (labeldrop/labelkeep) gives what the step-by-step path gives."""

from __future__ import annotations

from rules.labelsets import _plan, _relabel, relabel

LABEL_SETS = [
    {"alertname": "A", "service": "s1", "prometheus_replica": "prom-0", "pod": "p1"},
    {"alertname": "B", "service": "s2", "prometheus_replica": "prom-1", "pod": "p2"},  # same names: remembered
    {"pod": "p1", "alertname": "A", "prometheus_replica": "x"},  # same names, other order
    {"alertname": "C", "empty": "", "team": "t"},  # an empty value is dropped at the end
    {"alertname": "D"},
    {},
]

CONFIGS = [
    [{"action": "labeldrop", "regex": "prometheus_replica"}],
    [{"action": "labeldrop", "regex": "pod|prom.*"}, {"action": "labelkeep", "regex": "alertname|service|pod|empty"}],
    [{"action": "labelkeep", "regex": ".*"}],
]


def test_name_only_configs_take_the_shortcut_and_agree() -> None:
    for configs in CONFIGS:
        assert _plan(configs).gone_by_names is not None
        for _ in range(2):  # the second time from the names remembered
            for labels in LABEL_SETS:
                before = dict(labels)
                got = relabel(labels, configs)
                assert got == _relabel(labels, _plan(configs).steps)
                assert got is not None and list(got) == list(_relabel(labels, _plan(configs).steps) or {})
                assert got is not labels and labels == before  # a new dict, the input unchanged


def test_configs_reading_values_do_not_take_the_shortcut() -> None:
    configs = [
        {"action": "labeldrop", "regex": "pod"},
        {"source_labels": ["severity"], "regex": "critical", "target_label": "page", "replacement": "yes"},
    ]
    assert _plan(configs).gone_by_names is None
    assert relabel({"severity": "critical", "pod": "p"}, configs) == {"severity": "critical", "page": "yes"}
