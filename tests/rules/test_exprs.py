"""rules.exprs: the facts of an expression taken from its shape equal those of its own parse."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from rules import exprs

# generated-looking expressions (the shortcut), and every case where it must step aside
EXPRS = [
    'sum(rate(http_requests_total{job="svc-1",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="svc-1"}[5m]))',
    'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="svc-2"}[5m]))) > 0.5',
    'up{job="svc-3"} == 0',
    'kube_deployment_status_replicas_available{deployment="a"} < kube_deployment_spec_replicas{deployment="a"}',
    'max by (pod) (container_memory_working_set_bytes{container="c"} / container_spec_memory_limit_bytes{container="d"})',
    'slo:sli_error:ratio_rate5m{sloth_id=\'s-1\', sloth_service="s", sloth_slo="slo-1"}\n/ on(sloth_id) group_left\n'
    'slo:error_budget:ratio{sloth_id="s-1", sloth_service="s", sloth_slo="slo-1"}',
    'sum(x{a="q"}) by (a) * on(a) group_left(b) y{b="r",a="q"}',
    'x{a="v"} / on(a) y{a="w"}',
    'x{a = "v"} or y{a!= "v"}',
    'x{a!="v"} unless y',
    '{__name__="metric_a", job="j"} > 1',
    'absent(x{a="q"})',
    'count_values("v", x{a="w"})',
    'label_replace(x{a="v"}, "dst", "v", "b", "(.*)") and on(dst) y{dst="v"}',
    'label_join(x{a="v"}, "dst", ",", "a") * on(dst) y{dst="w"}',
    'x{a=~"v", b="v"}',
    'x{a="1"} == 1',
    'x{job="a\\"b"}',
    'x{job="a"} # a comment\n',
    "x{job=`raw`}",
    'foo{__name__="bar"}',  # an error quoting the values
    '{job=""}',
    '{job!="x"}',
    'x{a="é"}',
    'x{a="v"}[5m] offset 1h',
    'sum_over_time(x{a="v"}[30d:5m])',
    'x{a="v"} +',
]


def _both(expr: str) -> tuple[exprs.ExprFacts, exprs.ExprFacts]:
    exprs.clear()
    fast = exprs.facts(expr)
    exprs.clear()
    slow = exprs._parse(expr)
    exprs.clear()
    return fast, slow


@pytest.mark.parametrize("expr", EXPRS)
def test_facts_from_the_shape_equal_those_of_a_parse(expr: str) -> None:
    fast, slow = _both(expr)
    assert fast == slow
    assert (fast.error, fast.labels, fast.metrics, fast.queue_selectors, fast.sloth_refs) == (
        slow.error,
        slow.labels,
        slow.metrics,
        slow.queue_selectors,
        slow.sloth_refs,
    )
    assert pickle.loads(pickle.dumps(fast)) == slow


def test_the_shortcut_is_taken_for_matcher_values_only() -> None:
    got = exprs.template('x{a="v", b!="w", c=~"r"} == on(a) y{a="v"}')
    assert got == ('x{a="\x010", b!="\x011", c=~"r"} == on(a) y{a="\x010"}', {"\x010": "v", "\x011": "w"})
    for expr in (
        "x",  # nothing to set aside
        'x{a=""}',  # an empty value selects series without the label
        'x{a="\\"q"}',  # an escape
        "x # c",
        "x{a=`v`}",
        'x{a="v"} and label_replace(y, "v", "", "", "")',  # a value also written elsewhere
        'x{a="\x01"}',
    ):
        assert exprs.template(expr) is None, expr


def test_shapes_are_parsed_once() -> None:
    exprs.clear()
    for i in range(20):
        assert exprs.facts(f'up{{job="svc-{i}"}} == 0').labels.fixed == {"job": f"svc-{i}"}
    assert list(exprs._TEMPLATES) == ['up{job="\x010"} == 0']
    exprs.clear()


def test_shapes_stay_shapes_through_a_pickle() -> None:
    exprs.clear()
    f = exprs.facts('up{job="a"} == 0')
    again = pickle.loads(pickle.dumps(f))
    assert again == f
    facts, shapes = exprs.export({'up{job="a"} == 0': again})
    assert facts == {'up{job="a"} == 0': ('up{job="\x010"} == 0', ("a",))} and list(shapes) == ['up{job="\x010"} == 0']
    exprs.clear()
    assert exprs.load(facts, shapes) and exprs.facts('up{job="a"} == 0') == f
    exprs.clear()


def test_a_bundle_saved_by_one_process_gives_the_next_the_same_facts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`persist` then `preload` (a restart reading a stored snapshot's expressions): every text's facts come
    back equal, shaped or parsed whole or not parsing, without a parse; a bundle of another form is a miss."""
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", str(tmp_path))
    texts = sorted(set(EXPRS))
    exprs.clear()
    want = {t: exprs._parse(t) for t in texts}
    exprs.clear()
    target = exprs.preload(texts)
    assert target is not None and not target.exists()  # nothing saved yet: where to save
    exprs.persist(target, texts)
    exprs.clear()
    monkeypatch.setattr(exprs, "parse_promql", lambda _text: pytest.fail("parsed again"))
    assert exprs.preload(texts) is None
    assert {t: exprs.facts(t) for t in texts} == want
    assert any(exprs.facts(t).shape_text for t in texts) and any(exprs.facts(t).error for t in texts)
    exprs.clear()
    monkeypatch.undo()
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", str(tmp_path))
    from collectors.disk_cache import write_cached

    write_cached(target, dict(want))  # what an older agent saved there: each text's facts
    assert exprs.preload(texts) == target
    exprs.clear()
