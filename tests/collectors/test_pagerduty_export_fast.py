"""The export's large files (incidents, log entries) are validated straight from their text by pydantic-core;
any doubt sends them through the converters. Both ways must give the same facts, or the same error."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agent.errors import InputError
from collectors import pagerduty_export as pe
from collectors.facts import PagerDutyFacts

DEMO = Path(__file__).resolve().parents[2] / "agent" / "demo" / "org" / "pagerduty"

INCIDENT: dict[str, Any] = {
    "id": "Q1",
    "incident_number": 7,
    "title": "[FIRING:1] Down api",
    "summary": "summary",
    "status": "resolved",
    "urgency": "low",
    "service": {"id": "PS1", "type": "service_reference"},
    "escalation_policy": {"id": "EP1", "type": "escalation_policy_reference"},
    "created_at": "2026-08-18T09:30:24Z",
    "last_status_change_at": "2026-08-18T10:23:22+02:00",
    "resolved_at": "2026-08-18T10:23:22.5Z",
    "assignments": [{"assignee": {"id": "PU1", "type": "user_reference"}}, {"assignee": {"id": "PU2"}}],
}
LOG_ENTRY: dict[str, Any] = {
    "id": "L1",
    "type": "acknowledge_log_entry",
    "created_at": "2026-08-18T09:31:00Z",
    "incident": {"id": "Q1", "type": "incident_reference"},
    "service": {"id": "PS1"},
    "agent": {"id": "PU1", "type": "user_reference"},
}
_DROP = object()

# (field, value): the object with that field set (or dropped); normal and odd values alike
INCIDENT_VARIANTS: list[tuple[str, Any]] = [
    ("incident_number", _DROP), ("incident_number", None), ("incident_number", "7"), ("incident_number", 7.0),
    ("incident_number", 7.5), ("incident_number", True), ("incident_number", "x"),
    ("title", _DROP), ("title", ""), ("title", None), ("title", 5), ("summary", _DROP),
    ("status", _DROP), ("status", None), ("status", 3),
    ("urgency", _DROP), ("urgency", None),
    ("service", _DROP), ("service", None), ("service", "PS1"), ("service", {}), ("service", {"id": 5}),
    ("escalation_policy", _DROP), ("escalation_policy", None), ("escalation_policy", "EP1"),
    ("escalation_policy", ["x"]), ("escalation_policy", {}), ("escalation_policy", {"id": None}),
    ("escalation_policy", {"id": 5}),
    ("created_at", _DROP), ("created_at", None), ("created_at", ""), ("created_at", 1700000000),
    ("created_at", "2026-08-18"), ("created_at", "2026-08-18T09:30:24"), ("created_at", "2026-08-18Z09:30:24"),
    ("created_at", "2026-08-18T09:30:24z"), ("created_at", "2026-08-18 09:30:24Z"), ("created_at", "yesterday"),
    ("resolved_at", _DROP), ("resolved_at", None), ("resolved_at", ""), ("resolved_at", "2026-08-18Z"),
    ("acknowledged_at", "2026-08-18T09:30:24Z"),
    ("assignments", _DROP), ("assignments", None), ("assignments", []), ("assignments", ""),
    ("assignments", "abc"), ("assignments", [{}]), ("assignments", [{"assignee": None}]),
    ("assignments", [{"assignee": {}}]), ("assignments", [{"assignee": "PU1"}]),
    ("assignments", [{"assignee": {"id": 5}}]), ("assignments", ["x"]),
    ("extra", {"anything": [1, 2]}),
]  # fmt: skip
LOG_ENTRY_VARIANTS: list[tuple[str, Any]] = [
    ("id", _DROP), ("id", 5), ("type", _DROP), ("type", None),
    ("created_at", _DROP), ("created_at", None), ("created_at", "2026-08-18T09:31:00+00:00"),
    ("incident", _DROP), ("incident", None), ("incident", "Q1"), ("incident", {}), ("incident", {"id": 1}),
    ("service", _DROP), ("service", 0),
    ("agent", _DROP), ("agent", None), ("agent", {}), ("agent", ""), ("agent", "PU1"), ("agent", ["PU1"]),
    ("agent", {"id": "PU1"}), ("agent", {"type": 5}), ("agent", {"id": 5}), ("agent", {"type": None}),
    ("assignees", []), ("assignees", None), ("assignees", [{"id": "PU1"}, {"id": "PU2"}]), ("assignees", [{}]),
    ("assignees", ["PU1"]), ("assignees", [{"id": None}]), ("assignees", "x"),
]  # fmt: skip


def _variant(base: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    if value is _DROP:
        obj.pop(field, None)
    else:
        obj[field] = value
    return obj


def _slow(ep: str, items: list[Any]) -> Any:
    """What the converters answer: the facts, or the error (type and text)."""
    try:
        return pe._convert(ep, items, "pd", None)
    except InputError as e:
        return ("InputError", str(e))
    except Exception as e:  # noqa: BLE001 - a converter crash is an answer too
        return (type(e).__name__, str(e))


def _same_facts(fast: list[Any], slow: Any) -> None:
    assert isinstance(slow, list), f"the fast path accepted what the converters refuse: {slow}"
    assert fast == slow
    for a, b in zip(fast, slow, strict=True):
        for name in type(a).__pydantic_fields__:  # the very same values, down to the datetimes' tzinfo classes
            x, y = getattr(a, name), getattr(b, name)
            assert type(x) is type(y), name
            assert type(getattr(x, "tzinfo", None)) is type(getattr(y, "tzinfo", None)), name


@pytest.mark.parametrize(
    ("ep", "base", "field", "value"),
    [("incidents", INCIDENT, f, v) for f, v in INCIDENT_VARIANTS]
    + [("log_entries", LOG_ENTRY, f, v) for f, v in LOG_ENTRY_VARIANTS],
)
def test_fast_path_agrees_with_the_converters(ep: str, base: dict[str, Any], field: str, value: Any) -> None:
    items = [base, _variant(base, field, value)]
    fast = pe._fast_items(ep, json.dumps({ep: items}))
    slow = _slow(ep, items)
    if fast is not None:
        _same_facts(fast, slow)


@pytest.mark.parametrize(("ep", "base"), [("incidents", INCIDENT), ("log_entries", LOG_ENTRY)])
def test_fast_path_takes_the_normal_shapes(ep: str, base: dict[str, Any]) -> None:
    fast = pe._fast_items(ep, json.dumps({ep: [base, base]}, indent=1))
    assert fast is not None
    _same_facts(fast, _slow(ep, [base, base]))


@pytest.mark.parametrize(
    "text",
    ["", "[]", '{"incidents": {}}', '{"incidents": [', '{"other": []}', '\ufeff{"incidents": []}', "{} x"],
)
def test_fast_path_leaves_odd_bodies_to_the_converters(text: str) -> None:
    assert pe._fast_items("incidents", text) is None


def test_export_folder_same_facts_both_ways() -> None:
    bodies = {ep: json.loads((DEMO / f"{ep}.json").read_text())[ep] for ep in pe.ENDPOINTS}
    assert all(pe._fast_items(ep, (DEMO / f"{ep}.json").read_text()) is not None for ep in pe._FAST)
    assert pe.load_export_dir(DEMO) == pe.facts_from_bodies(bodies, "pagerduty")


def test_export_error_names_the_incident_as_before(tmp_path: Path) -> None:
    export = tmp_path / "pagerduty"
    export.mkdir()
    for f in DEMO.iterdir():
        (export / f.name).write_text(f.read_text())
    body = json.loads((export / "incidents.json").read_text())
    del body["incidents"][1]["service"]
    (export / "incidents.json").write_text(json.dumps(body, indent=1))
    ident = body["incidents"][1]["id"]
    with pytest.raises(InputError) as err:
        pe.load_export_dir(export)
    assert f"incidents[1] {ident}: missing required field 'service.id'" in str(err.value)
    text = (export / "incidents.json").read_text()
    assert err.value.line == text[: text.index(f'"id": "{ident}"')].count("\n") + 1


def test_slotted_facts_keep_the_model_shape() -> None:
    """Incidents and log entries are slotted dataclasses (memory), with a model's JSON, validation and methods."""
    facts = pe.load_export_dir(DEMO)
    inc, le = facts.incidents[0], facts.log_entries[0]
    assert not hasattr(inc, "__dict__") and not hasattr(le, "__dict__")
    text = facts.model_dump_json()
    back = PagerDutyFacts.model_validate_json(text)
    assert back == facts and back.model_dump_json() == text
    assert json.loads(inc.model_dump_json()) == json.loads(text)["incidents"][0] == inc.model_dump(mode="json")
    bad = json.loads(text)
    bad["incidents"][0]["unknown"] = 1
    with pytest.raises(ValidationError):
        PagerDutyFacts.model_validate(bad)
    copied = inc.model_copy(deep=True)
    copied.assignees.append("someone")
    assert copied.assignees != inc.assignees and inc.model_copy() == inc
    assert inc.model_copy(update={"status": "triggered"}).status == "triggered"


def _export_copy(tmp_path: Path) -> Path:
    import shutil

    d = tmp_path / "pd"
    shutil.copytree(DEMO, d)
    return d


def test_export_file_not_utf8_is_an_input_error(tmp_path: Path) -> None:
    d = _export_copy(tmp_path)
    (d / "incidents.json").write_bytes(b'{"incidents": ["\xff"]}')
    with pytest.raises(InputError) as e:
        pe.load_export_dir(d)
    assert e.value.file == str(d / "incidents.json") and "UTF-8" in str(e.value)


def test_export_item_of_the_wrong_shape_is_an_input_error_with_its_line(tmp_path: Path) -> None:
    """An assignment that is a number, not an object: the converters meet it (no traceback), the error names
    the incident, its file and the line of its id."""
    d = _export_copy(tmp_path)
    body = json.loads((d / "incidents.json").read_text())
    inc = body["incidents"][1]
    inc["assignments"] = [1]
    (d / "incidents.json").write_text(json.dumps(body, indent=1))
    with pytest.raises(InputError) as e:
        pe.load_export_dir(d)
    text = (d / "incidents.json").read_text()
    assert e.value.file == str(d / "incidents.json")
    assert f"incidents[1] {inc['id']}" in str(e.value)
    assert e.value.line == text[: text.index(f'"id": "{inc["id"]}"')].count("\n") + 1


def test_fast_path_takes_a_good_share_of_the_variants() -> None:
    """A variant the fast path declines goes to the converters (the comparison above then checks nothing): many
    variants are odd on purpose and declined, but a fast path that took none would leave that test empty
    (38 of 87 taken when this was written)."""
    cases = [("incidents", INCIDENT, f, v) for f, v in INCIDENT_VARIANTS] + [
        ("log_entries", LOG_ENTRY, f, v) for f, v in LOG_ENTRY_VARIANTS
    ]
    taken = sum(
        pe._fast_items(ep, json.dumps({ep: [base, _variant(base, f, v)]})) is not None for ep, base, f, v in cases
    )
    assert taken >= 30, (taken, len(cases))
