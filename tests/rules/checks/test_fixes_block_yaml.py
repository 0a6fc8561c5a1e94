"""rules.fixes.block_yaml writes exactly what PyYAML (libyaml's emitter) writes, or leaves the document to it."""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml
from samples import CHECKOUT_SLO

from collectors.facts import QueueLag
from rules import fixes
from rules.checks.own009_queue_unwatched import queue_alert_rules_yaml

# characters and words that decide a scalar's style: indicators, whitespace around breaks, quotes, tags
# the resolver gives plain text (bool, int, float, null, timestamp, merge), document markers
PIECES = [
    *"abcXYZ019 -:#'\"{}[],&*!|>%@`?.~=<\n\t\\",
    "\u00e9",
    "\r",
    "true",
    "No",
    "on",
    "null",
    "~",
    "1e3",
    "0x1F",
    "0o17",
    ".inf",
    "-.5",
    "12:30",
    "2024-01-02",
    "<<",
    "=",
    "---",
    "...",
    ": ",
    " #",
    "- ",
    "? ",
    "\n\n",
    " \n",
    "\n ",
]


def _random_text(rnd: random.Random) -> str:
    return "".join(rnd.choice(PIECES) for _ in range(rnd.randint(0, 6)))


def _dump(doc: Any, literal: bool, width: int) -> str:
    if literal:
        return yaml.dump(doc, Dumper=fixes._Dumper, sort_keys=False, default_flow_style=False, width=width)
    return yaml.dump(doc, Dumper=fixes.SafeDumper, sort_keys=False, allow_unicode=True, width=width)


def _random_doc(rnd: random.Random) -> dict[str, Any]:
    def value(depth: int) -> Any:
        r = rnd.random()
        if depth < 3 and r < 0.2:
            return {_random_text(rnd): value(depth + 1) for _ in range(rnd.randint(1, 3))}
        if depth < 3 and r < 0.3:
            return [{_random_text(rnd): value(depth + 1) for _ in range(rnd.randint(1, 2))} for _ in range(2)]
        return _random_text(rnd)

    return {_random_text(rnd): value(0) for _ in range(rnd.randint(1, 3))}


@pytest.mark.parametrize("literal", [True, False])
def test_random_documents_written_as_pyyaml_writes_them(literal: bool) -> None:
    rnd = random.Random(8)
    fast = 0
    for _ in range(8000):
        doc = _random_doc(rnd)
        got = fixes.block_yaml(doc, literal_multiline=literal, width=1000)
        if got is not None:
            fast += 1
            assert got == _dump(doc, literal, 1000), doc
    assert fast >= 1000  # the comparison means something: the short path wrote these itself


@pytest.mark.parametrize("literal", [True, False])
def test_each_tricky_scalar_as_key_and_value(literal: bool) -> None:
    rnd = random.Random(3)
    texts = set(PIECES) | {_random_text(rnd) for _ in range(5000)} | {"x" * 119, "x" * 121, "a: b", "a:b", "#a"}
    texts |= {"(\n  max(x)\n  and\n  y\n)\n", "a\n\nb\n", " a\n", "a \nb\n", "a\n b\n", "a\n", "a\n\n", "\na\n"}
    fast = 0
    for t in sorted(texts):
        for doc in ({"k": t}, {t: "v"}, {"g": [{"a": t, "b": {"c": t}}]}):
            got = fixes.block_yaml(doc, literal_multiline=literal, width=1000)
            if got is not None:
                fast += 1
                assert got == _dump(doc, literal, 1000), doc
    assert fast >= 3000


def test_long_lines_near_the_width() -> None:
    for n in range(60, 90):
        for doc in ({"key": "word " * (n // 5) + "x" * (n % 5)}, {"g": [{"k": "y " * n + "z"}]}):
            got = fixes.block_yaml(doc, literal_multiline=False, width=100)
            if got is not None:
                assert got == _dump(doc, False, 100)


def test_left_to_pyyaml() -> None:
    shared = {"a": "b"}
    for doc in (
        {"a": shared, "b": shared},  # an alias
        {"a": {}},
        {"a": []},
        {"a": 1},
        {"a": ["x"]},
        {1: "a"},
        {"a": "t\tab"},
        {"a": "ünï"},
        ["a"],
    ):
        assert fixes.block_yaml(doc, literal_multiline=True, width=1000) is None


def test_fixes_of_the_samples() -> None:
    """The two fixes the checks write: an SLO's burn-rate rules and a queue's lag alert."""
    for doc in (
        fixes.slo_rules(CHECKOUT_SLO, page_labels={"severity": "page"}, runbook_url="https://runbooks.example.com/x"),
        fixes.slo_rules(CHECKOUT_SLO.model_copy(update={"labels": {"owner": "payments", "tier": "1"}})),
    ):
        got = fixes.block_yaml(doc, literal_multiline=True, width=10_000)
        assert got is not None
        assert got == _dump(doc, True, 10_000)
        assert fixes.rules_yaml(doc) == got
    q = QueueLag(
        queue="orders.in",
        kind="kafka",
        metric="kafka_consumergroup_lag",
        labels={"topic": "orders.in", "consumergroup": 'o"x'},
        value=5.0,
        unit="messages",
        query_name="kafka",
    )
    text = queue_alert_rules_yaml(
        q, service="checkout", team="payments", runbook_base_url=None, threshold=1000, for_="15m", severity="critical"
    )
    body = text[text.index("groups:") :]
    assert body == _dump(yaml.safe_load(body), False, 1000)
