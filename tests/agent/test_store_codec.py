"""The store's text of a source's facts (agent/store/codec.py): PagerDuty's incidents and log entries and
Prometheus's rules as columns, read back to the facts the facts' own JSON gives; every other source and
every older text as the facts' own JSON."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from agent.store import codec
from collectors.facts import (
    CatalogFacts,
    Location,
    PagerDutyFacts,
    PDIncident,
    PDLogEntry,
    PDMaintenanceWindow,
    PDService,
    PDTeam,
    PrometheusFacts,
    Rule,
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
    assert stored["store_format"] == "pagerduty-columns-1"
    assert stored["incidents"]["id"] == [i.id for i in facts.incidents]  # a list per field
    assert set(stored["log_entries"]) == set(PDLogEntry.__pydantic_fields__)
    back = codec.loads(text)
    want = _own(facts)
    assert back == want == facts
    assert back.model_dump_json() == want.model_dump_json()
    assert back.model_fields_set == want.model_fields_set
    assert isinstance(back, PagerDutyFacts)
    for got, own in zip(back.incidents, facts.incidents, strict=True):
        assert type(got) is PDIncident
        for name in ("created_at", "acknowledged_at", "resolved_at"):
            # made as the export's parse makes them (datetime.fromisoformat): the collected facts' own tzinfo
            a, b = getattr(got, name), getattr(own, name)
            assert a == b and (a is None or (a.utcoffset() == b.utcoffset() and type(a.tzinfo) is type(b.tzinfo)))
    for got_list, own_list in ((back.incidents, facts.incidents), (back.log_entries, facts.log_entries)):
        for got, own in zip(got_list, own_list, strict=True):  # what the parse interns is interned
            interned = ("title",) if isinstance(got, PDIncident) else ("agent_type",)
            for name in interned:
                value = getattr(got, name)
                assert value is None or value is sys.intern(str(getattr(own, name)))
            assert all(a is sys.intern(a) for a in got.assignees)
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
    stored["incidents"]["created_at"][0] = "yesterday"  # a datetime's text is read as one
    with pytest.raises(ValueError, match="yesterday"):
        codec.loads(json.dumps(stored, separators=(",", ":")))
    stored = json.loads(codec.dumps(_facts()))
    stored["incidents"]["created_at"][0] = None  # a required datetime stays required
    with pytest.raises(ValidationError):
        codec.loads(json.dumps(stored, separators=(",", ":")))
    stored = json.loads(codec.dumps(_facts()))
    stored["incidents"]["incident_number"][0] = "seven"  # each column item is validated with its field's type
    with pytest.raises(ValidationError):
        codec.loads(json.dumps(stored, separators=(",", ":")))


def _prometheus() -> PrometheusFacts:
    return PrometheusFacts(
        external_labels={"cluster": "eu-1"},
        rule_files=["/etc/prometheus/rules/a.yml"],
        rules=[
            Rule(
                type="alerting",
                name="CheckoutDown",
                expr='up{job="checkout"} == 0',
                group="checkout",
                group_interval_s=30.0,
                for_s=300,
                labels={"severity": "page", "team": "payments"},
                annotations={"runbook_url": "https://runbooks/x", "summary": 'a "quoted" ünï\nline'},
                location=Location(file="/etc/prometheus/rules/a.yml", line=12),
            ),
            Rule(type="recording", name="job:up:sum", expr="sum by (job) (up)", group="rec"),
            Rule(type="alerting", name="Live", expr="vector(1)", group="g", location=Location(file="http://p/api")),
        ],
    )


@pytest.mark.parametrize("facts", [_prometheus(), PrometheusFacts()], ids=["some", "empty"])
def test_prometheus_rules_are_stored_as_columns_and_read_back_as_their_own_json_gives(facts: PrometheusFacts) -> None:
    text = codec.dumps(facts)
    stored = json.loads(text)
    assert stored["store_format"] == "prometheus-columns-1"
    assert stored["rules"]["file"] == [r.location.file for r in facts.rules]  # the location as two columns
    back = codec.loads(text)
    want = _own(facts)
    assert back == want == facts
    assert back.model_dump_json() == want.model_dump_json()
    assert isinstance(back, PrometheusFacts)
    for got, own in zip(back.rules, want.rules, strict=True):
        assert got.model_fields_set == own.model_fields_set
        assert got.location.model_fields_set == own.location.model_fields_set
        assert type(got.for_s) is float and type(got.location) is Location


def test_a_collectors_text_is_stored_only_when_it_looks_whole() -> None:
    """The store takes the text a collector wrote for the facts (SourceResult.stored_text, ExportCache.put_text)
    instead of serialising them; a text cut short, of another form, or unreadable is not taken."""
    facts = _facts()
    text = codec.dumps(facts)
    assert codec.text_for(facts, text) is text
    for bad in (text[:-1], text[: len(text) // 2], codec.dumps(_prometheus()), "", None):
        assert codec.text_for(facts, bad) == text  # serialised instead: the same text
