"""The store's text of a source's facts (agent/store/codec.py): PagerDuty's incidents and log entries as
columns, read back to the facts the facts' own JSON gives; every other source and every older text as the
facts' own JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from agent.store import codec
from collectors.facts import (
    CatalogFacts,
    PagerDutyFacts,
    PDIncident,
    PDLogEntry,
    PDMaintenanceWindow,
    PDService,
    PDTeam,
    SourceFacts,
)

T = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
PLUS2 = timezone(timedelta(hours=2))


def _facts() -> PagerDutyFacts:
    return PagerDutyFacts(
        services=[PDService(id="PS1", name="checkout", escalation_policy_id="EP1")],
        teams=[PDTeam(id="PT1", name="payments")],
        incidents=[
            PDIncident(
                id="Q1",
                incident_number=7,
                title='[FIRING:1] "quoted" \\ back\nslash ünï',
                status="resolved",
                service_id="PS1",
                escalation_policy_id="EP1",
                created_at=T,
                last_status_change_at=T + timedelta(minutes=5),
                acknowledged_at=datetime(2026, 11, 16, 11, 31, 2, 123456, tzinfo=PLUS2),
                resolved_at=T + timedelta(minutes=5),
                assignees=["PU1", "PU2"],
            ),
            PDIncident(id="Q2", title="", status="triggered", urgency="low", service_id="PS1", created_at=T),
        ],
        log_entries=[
            PDLogEntry(id="L1", type="trigger_log_entry", created_at=T, incident_id="Q1", service_id="PS1"),
            PDLogEntry(
                id="L2",
                type="acknowledge_log_entry",
                created_at=T,
                agent_type="user_reference",
                agent_id="PU1",
                assignees=["PU1"],
            ),
        ],
        maintenance_windows=[PDMaintenanceWindow(id="MW1", start_time=T, end_time=T + timedelta(hours=1))],
    )


def _own(facts: SourceFacts) -> SourceFacts:
    """The facts read back from their own JSON: what the store gave before the columnar form."""
    return codec._facts_validator().validate_json(facts.model_dump_json(by_alias=True))


@pytest.mark.parametrize("facts", [_facts(), PagerDutyFacts()], ids=["some", "empty"])
def test_pagerduty_facts_are_stored_as_columns_and_read_back_as_their_own_json_gives(facts: PagerDutyFacts) -> None:
    text = codec.dumps(facts)
    stored = json.loads(text)
    assert stored["store_format"] == codec.FORMAT
    assert stored["incidents"]["id"] == [i.id for i in facts.incidents]  # a list per field
    assert set(stored["log_entries"]) == set(PDLogEntry.__pydantic_fields__)
    back = codec.loads(text)
    want = _own(facts)
    assert back == want == facts
    assert back.model_dump_json() == want.model_dump_json()
    assert back.model_fields_set == want.model_fields_set
    assert isinstance(back, PagerDutyFacts)
    for got, own in zip(back.incidents, want.incidents, strict=True):
        assert type(got) is PDIncident
        for name in ("created_at", "acknowledged_at"):
            a, b = getattr(got, name), getattr(own, name)
            assert a == b and (a is None or (a.utcoffset() == b.utcoffset() and type(a.tzinfo) is type(b.tzinfo)))
    assert codec.loads(text.encode()) == want  # the database may hand back bytes


def test_other_facts_and_older_texts_are_the_facts_own_json() -> None:
    catalog = CatalogFacts()
    assert codec.dumps(catalog) == catalog.model_dump_json(by_alias=True)
    own = _facts().model_dump_json(by_alias=True)  # a PagerDuty text stored before the columnar form
    assert codec.loads(own) == _facts()
    assert codec.loads(catalog.model_dump_json()) == catalog


def test_a_damaged_columnar_text_is_an_error_not_other_facts() -> None:
    stored = json.loads(codec.dumps(_facts()))
    stored["incidents"]["title"].pop()  # one column shorter than the others
    with pytest.raises(ValueError, match="columns of incidents differ in length"):
        codec.loads(json.dumps(stored, separators=(",", ":")))
    stored = json.loads(codec.dumps(_facts()))
    stored["incidents"]["created_at"][0] = "yesterday"  # each column item is validated with its field's type
    with pytest.raises(ValidationError):
        codec.loads(json.dumps(stored, separators=(",", ":")))
