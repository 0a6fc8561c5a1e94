"""Facts made without validation (`trusted`, `Rule.checked`) equal those pydantic validates."""

from __future__ import annotations

import pickle

from collectors.facts import Location, Matcher, Rule, trusted


def test_checked_rule_equals_a_validated_one() -> None:
    args = ("alerting", "Down", 'up{job="a"} == 0', "g", None, 300.0, 0.0, {"team": "t"}, {"summary": "s"}, "f.yml", 3)
    fast = Rule.checked(*args)  # type: ignore[arg-type]
    slow = Rule(
        type="alerting",
        name="Down",
        expr='up{job="a"} == 0',
        group="g",
        group_interval_s=None,
        for_s=300.0,
        keep_firing_for_s=0.0,
        labels={"team": "t"},
        annotations={"summary": "s"},
        location=Location(file="f.yml", line=3),
    )
    assert fast == slow
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.location.model_fields_set == slow.location.model_fields_set
    assert pickle.loads(pickle.dumps(fast)) == slow
    assert fast.model_copy(deep=True) == slow
    fast.location.line = 4  # still an ordinary model
    assert fast.location == Location(file="f.yml", line=4)


def test_trusted_matcher_equals_a_validated_one() -> None:
    fast = trusted(Matcher, {"name": "a", "op": "=~", "value": "v.*"})
    slow = Matcher(name="a", op="=~", value="v.*")
    assert fast == slow and hash(repr(fast)) == hash(repr(slow))
    assert fast.model_dump() == slow.model_dump() and fast.model_fields_set == slow.model_fields_set


def test_trusted_facts_of_a_class_share_one_fields_set() -> None:
    a = trusted(Matcher, {"name": "a", "op": "=", "value": "v"})
    b = trusted(Matcher, {"name": "b", "op": "=", "value": "w"})
    assert a.model_fields_set is b.model_fields_set == {"name", "op", "value"}
    a.value = "x"  # an assignment changes neither the other instance nor the shared set
    assert b.value == "w" and b.model_fields_set == {"name", "op", "value"}
    c = a.model_copy()
    assert c.model_fields_set == a.model_fields_set and c.model_fields_set is not a.model_fields_set
