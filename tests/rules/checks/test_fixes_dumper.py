"""rules.fixes.SafeDumper's short representer path writes the very text PyYAML's own path writes."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from samples import CHECKOUT_SLO

from rules import fixes


def _slow(dumper: type[Any]) -> type[Any]:
    """The same dumper with PyYAML's generic represent_data (the slow path the fast one replaces)."""

    class Slow(dumper):  # type: ignore[misc,valid-type]
        def represent_data(self, data: Any) -> Any:
            return yaml.SafeDumper.represent_data(self, data)

    return Slow


SHARED = {"team": "payments"}
DOCS: list[Any] = [
    fixes.slo_rules(
        CHECKOUT_SLO.model_copy(update={"labels": {"owner": "payments"}}),
        page_labels={"severity": "page"},
        runbook_url="https://runbooks.example.com/checkout",
    ),
    {"groups": [{"name": "x", "rules": [{"alert": "A", "labels": SHARED}, {"alert": "B", "labels": SHARED}]}]},
    {"a": [1, 2.5, True, None, "yes", "on", "1e3", "", "multi\nline\n", "ünï"], "b": {"nested": [[], {}]}},
    {"z": 1, "a": "2", 3: "three"},
]


@pytest.mark.parametrize("doc", DOCS)
@pytest.mark.parametrize("sort_keys", [False, True])
@pytest.mark.parametrize("dumper", [fixes.SafeDumper, fixes._Dumper])
def test_fast_representer_writes_the_same_text(doc: Any, sort_keys: bool, dumper: type[Any]) -> None:
    for kw in ({"default_flow_style": False, "width": 10_000}, {"allow_unicode": True, "width": 1000}):
        fast = yaml.dump(doc, Dumper=dumper, sort_keys=sort_keys, **kw)
        slow = yaml.dump(doc, Dumper=_slow(dumper), sort_keys=sort_keys, **kw)
        assert fast == slow


def test_flow_style_none_takes_pyyaml_path() -> None:
    doc = DOCS[2]
    fast = yaml.dump(doc, Dumper=fixes.SafeDumper, default_flow_style=None)
    assert fast == yaml.dump(doc, Dumper=_slow(fixes.SafeDumper), default_flow_style=None)
