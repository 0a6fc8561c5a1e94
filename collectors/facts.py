"""Typed facts: what collectors return and the rules engine reads (plain data, no I/O)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic_core import SchemaSerializer

_FACT_CONFIG = ConfigDict(extra="forbid", populate_by_name=True)


class Fact(BaseModel):
    """Base for every fact: frozen-ish plain data that serialises to JSON."""

    model_config = _FACT_CONFIG


M = TypeVar("M", bound=BaseModel)


class Location(Fact):
    """Where a fact was read: a file and line, or a live source."""

    file: str | None = None
    line: int | None = None


# --------------------------------------------------------------------------- catalog


class WorkingHours(Fact):
    days: list[int] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4], description="ISO weekday numbers 0=Monday..6=Sunday"
    )
    start: str = "09:00"
    end: str = "18:00"


class Team(Fact):
    name: str
    display_name: str | None = None
    timezone: str = "UTC"
    working_hours: WorkingHours = Field(default_factory=WorkingHours)
    members: list[str] = Field(default_factory=list)
    pagerduty_team_id: str | None = None
    escalation_policies: list[str] = Field(default_factory=list, description="PagerDuty escalation policy ids")
    schedules: list[str] = Field(default_factory=list, description="PagerDuty schedule ids")
    location: Location = Field(default_factory=Location)


class Person(Fact):
    id: str
    name: str | None = None
    email: str | None = None
    teams: list[str] = Field(default_factory=list)
    pagerduty_user_id: str | None = None
    location: Location = Field(default_factory=Location)


class Queue(Fact):
    name: str
    kind: Literal["kafka", "rabbitmq", "sqs", "celery", "redis", "other"] = "other"
    consumer_group: str | None = None


class Service(Fact):
    name: str
    team: str | None = None
    tier: int | None = None
    description: str | None = None
    system: str | None = None
    alert_selectors: list[dict[str, str]] = Field(
        default_factory=list,
        description="label sets; an alert whose labels contain any one set is attributed to the service",
    )
    pagerduty_service_ids: list[str] = Field(default_factory=list)
    integration_key_fingerprints: list[str] = Field(default_factory=list)
    databases: list[str] = Field(default_factory=list)
    queues: list[Queue] = Field(default_factory=list)
    runbook_base_url: str | None = None
    location: Location = Field(default_factory=Location)


class CatalogFacts(Fact):
    kind: Literal["catalog"] = "catalog"
    services: list[Service] = Field(default_factory=list)
    teams: list[Team] = Field(default_factory=list)
    people: list[Person] = Field(default_factory=list)


# --------------------------------------------------------------------------- prometheus


class Rule(Fact):
    """An alerting or recording rule, with where it was defined."""

    type: Literal["alerting", "recording"]
    name: str
    expr: str
    group: str
    group_interval_s: float | None = None
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    location: Location = Field(default_factory=Location)

    @classmethod
    def checked(
        cls,
        type: Literal["alerting", "recording"],  # noqa: A002 - the field's name
        name: str,
        expr: str,
        group: str,
        group_interval_s: float | None,
        for_s: float,
        keep_firing_for_s: float,
        labels: dict[str, str],
        annotations: dict[str, str],
        file: str | None,
        line: int | None,
    ) -> Rule:
        """`Rule(...)` (every field given) from values the caller has checked already to have the field's
        types exactly (str, float or None, dict of str): not validated again (see `trusted`)."""
        return trusted(
            cls,
            {
                "type": type,
                "name": name,
                "expr": expr,
                "group": group,
                "group_interval_s": group_interval_s,
                "for_s": for_s,
                "keep_firing_for_s": keep_firing_for_s,
                "labels": labels,
                "annotations": annotations,
                "location": trusted(Location, {"file": file, "line": line}),
            },
        )


_new = object.__new__
_set = object.__setattr__
_ALL_FIELDS: dict[type, set[str]] = {}


def trusted(cls: type[M], values: dict[str, Any], fields_set: set[str] | None = None) -> M:
    """`cls(**values)` without validation, for values of exactly the fields' types, every field given in
    declaration order: what pydantic's constructor leaves in the instance, set directly. For the many
    facts made from data already checked (a rule file's 65,000 rules; what a shape's facts become, see
    rules.exprs): measured 2x faster than `cls(...)`, and `model_construct` is no faster than `cls(...)`.
    tests/collectors/test_trusted_facts.py checks both give equal instances.

    Every field is given, so every instance of a class has the same fields-set: one set, shared (a model's
    assignment adds a name already there; `model_copy` copies the set). A set of 11 names is 730 B: shared,
    65 MB less for L's rules and their locations. `fields_set`: the set to keep instead, when not every
    field counts as given (a copy of a model built with defaults)."""
    obj = _new(cls)
    _set(obj, "__dict__", values)
    if fields_set is None:
        fields_set = _ALL_FIELDS.get(cls) or _ALL_FIELDS.setdefault(cls, set(values))
    _set(obj, "__pydantic_fields_set__", fields_set)
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


class PrometheusFacts(Fact):
    kind: Literal["prometheus"] = "prometheus"
    external_labels: dict[str, str] = Field(default_factory=dict)
    alert_relabel_configs: list[dict[str, Any]] = Field(default_factory=list)
    alertmanagers: list[str] = Field(default_factory=list, description="Alertmanager targets it sends to")
    evaluation_interval_s: float = 60.0
    rules: list[Rule] = Field(default_factory=list)
    rule_files: list[str] = Field(default_factory=list)
    series_labels: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict,
        description="live: for each selector an alerting rule reads, the values each label has in its series now",
    )


# --------------------------------------------------------------------------- alertmanager


class Matcher(Fact):
    name: str
    op: Literal["=", "!=", "=~", "!~"]
    value: str


class Route(Fact):
    receiver: str | None = None
    matchers: list[Matcher] = Field(default_factory=list)
    continue_: bool = Field(False, alias="continue")
    group_by: list[str] | None = None
    group_wait_s: float | None = None
    group_interval_s: float | None = None
    repeat_interval_s: float | None = None
    mute_time_intervals: list[str] = Field(default_factory=list)
    active_time_intervals: list[str] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    location: Location = Field(default_factory=Location)


class PagerDutyTarget(Fact):
    """One `pagerduty_configs` entry; keys are stored only as fingerprints."""

    key_kind: Literal["routing_key", "service_key", "none"] = "routing_key"
    key_fingerprint: str | None = None
    key_file: str | None = None
    severity: str | None = None
    send_resolved: bool = True


class Receiver(Fact):
    name: str
    pagerduty: list[PagerDutyTarget] = Field(default_factory=list)
    integrations: list[str] = Field(default_factory=list, description="other kinds configured, e.g. slack_configs")
    location: Location = Field(default_factory=Location)

    @property
    def notifies_nobody(self) -> bool:
        return not self.pagerduty and not self.integrations


class InhibitRule(Fact):
    source_matchers: list[Matcher] = Field(default_factory=list)
    target_matchers: list[Matcher] = Field(default_factory=list)
    equal: list[str] = Field(default_factory=list)
    location: Location = Field(default_factory=Location)


class TimeRange(Fact):
    start_minute: int
    end_minute: int


class TimeIntervalSpec(Fact):
    """One entry of a time interval, as Alertmanager's timeinterval package."""

    times: list[TimeRange] = Field(default_factory=list)
    weekdays: list[tuple[int, int]] = Field(default_factory=list, description="inclusive ranges, 0=Sunday as Go")
    days_of_month: list[tuple[int, int]] = Field(default_factory=list)
    months: list[tuple[int, int]] = Field(default_factory=list)
    years: list[tuple[int, int]] = Field(default_factory=list)
    location: str = "UTC"


class TimeInterval(Fact):
    name: str
    intervals: list[TimeIntervalSpec] = Field(default_factory=list)


class SilenceFact(Fact):
    id: str
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime
    created_by: str | None = None
    comment: str | None = None


class FiringAlert(Fact):
    labels: dict[str, str]
    starts_at: datetime | None = None
    receivers: list[str] = Field(default_factory=list)
    state: str = "active"


class AlertmanagerFacts(Fact):
    kind: Literal["alertmanager"] = "alertmanager"
    route: Route
    receivers: list[Receiver] = Field(default_factory=list)
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    time_intervals: list[TimeInterval] = Field(default_factory=list)
    silences: list[SilenceFact] = Field(default_factory=list)
    alerts: list[FiringAlert] = Field(default_factory=list)
    ignored_fields: list[str] = Field(default_factory=list, description="newer fields read but not evaluated")
    config_file: str | None = None


# --------------------------------------------------------------------------- pagerduty


class PDIntegration(Fact):
    id: str
    type: str
    name: str | None = None
    key_fingerprint: str | None = None


class PDService(Fact):
    id: str
    name: str
    status: str = "active"
    escalation_policy_id: str | None = None
    teams: list[str] = Field(default_factory=list)
    integrations: list[PDIntegration] = Field(default_factory=list)
    incident_urgency_rule: dict[str, Any] = Field(default_factory=dict)
    support_hours: dict[str, Any] | None = None
    acknowledgement_timeout: int | None = None
    auto_resolve_timeout: int | None = None


class PDTarget(Fact):
    type: Literal["user", "schedule"]
    id: str


class PDLevel(Fact):
    level: int
    escalation_delay_in_minutes: int
    targets: list[PDTarget]


class PDEscalationPolicy(Fact):
    id: str
    name: str
    num_loops: int = 0
    levels: list[PDLevel] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)


class PDScheduleLayer(Fact):
    name: str | None = None
    start: datetime
    end: datetime | None = None
    rotation_virtual_start: datetime
    rotation_turn_length_seconds: int
    users: list[str]
    restrictions: list[dict[str, Any]] = Field(default_factory=list)


class PDSchedule(Fact):
    id: str
    name: str
    time_zone: str = "UTC"
    users: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)
    layers: list[PDScheduleLayer] = Field(default_factory=list)
    escalation_policies: list[str] = Field(default_factory=list)


class PDOnCall(Fact):
    user_id: str
    escalation_policy_id: str
    escalation_level: int
    schedule_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None


class PDUser(Fact):
    id: str
    name: str
    email: str | None = None
    time_zone: str | None = None
    teams: list[str] = Field(default_factory=list)


class PDTeam(Fact):
    id: str
    name: str


# The two fact classes of which an export holds hundreds of thousands (L: 200,000 incidents, 92,701 log entries)
# are slotted pydantic dataclasses, not models: a model instance carries a `__dict__` (~460 B for 12 fields) and a
# `__pydantic_fields_set__` (~730 B) besides its values, a slotted instance 8 B a field. Measured on L: the
# PagerDuty facts' live memory 466 -> 161 MiB. The same validation (the facts' config: extra keys refused) and
# the same JSON both ways (a dataclass field of a model serialises exactly as a model would). `_SlottedFact`
# keeps the model methods their users call; otherwise `dataclasses.fields`/`__pydantic_fields__` stand for
# `model_fields`, and construction is keyword-only, as a model's.


class _SlottedFact:
    """`model_dump`, `model_dump_json` and `model_copy` for a slotted pydantic dataclass fact (no instance dict:
    `__slots__ = ()` here too, or every instance would get one)."""

    __slots__ = ()
    __pydantic_serializer__: ClassVar[SchemaSerializer]

    def model_dump(self, *, mode: Literal["json", "python"] = "python", by_alias: bool | None = None) -> dict:
        out: dict = self.__pydantic_serializer__.to_python(self, mode=mode, by_alias=by_alias)
        return out

    def model_dump_json(self, *, indent: int | None = None, by_alias: bool | None = None) -> str:
        return self.__pydantic_serializer__.to_json(self, indent=indent, by_alias=by_alias).decode()

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Self:
        new = copy.deepcopy(self) if deep else copy.copy(self)
        for k, v in (update or {}).items():
            setattr(new, k, v)
        return new


def slotted_maker(cls: type[Any]) -> Callable[..., Any]:
    """A function making a slotted fact (PDIncident, PDLogEntry) from its field values in declaration order,
    without validation. Generated from the class's fields: `object.__new__` and one attribute assignment per
    field (a slot) was the fastest of the ways measured (~0.1-0.3 s for L's 200,000 incidents; setting each
    field through its slot descriptor with `map` over the columns was 2-3x slower)."""
    names = list(cls.__pydantic_fields__)
    assert all(n.isidentifier() and not n.startswith("_") for n in names), names
    source = f"def make({', '.join(names)}):\n    o = _new(_cls)\n"
    source += "".join(f"    o.{n} = {n}\n" for n in names)
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    exec(source + "    return o\n", namespace)  # noqa: S102 - our own source, from the class's field names
    make: Callable[..., Any] = namespace["make"]
    return make


@pydantic_dataclass(slots=True, kw_only=True, config=_FACT_CONFIG)
class PDIncident(_SlottedFact):
    id: str
    incident_number: int | None = None
    title: str
    status: str
    urgency: str = "high"
    service_id: str
    escalation_policy_id: str | None = None
    created_at: datetime
    last_status_change_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    assignees: list[str] = Field(default_factory=list)


@pydantic_dataclass(slots=True, kw_only=True, config=_FACT_CONFIG)
class PDLogEntry(_SlottedFact):
    id: str
    type: str
    created_at: datetime
    incident_id: str | None = None
    service_id: str | None = None
    agent_type: str | None = None
    agent_id: str | None = None
    assignees: list[str] = Field(default_factory=list)


class PDMaintenanceWindow(Fact):
    id: str
    start_time: datetime
    end_time: datetime
    services: list[str] = Field(default_factory=list)
    description: str | None = None


class PagerDutyFacts(Fact):
    kind: Literal["pagerduty"] = "pagerduty"
    services: list[PDService] = Field(default_factory=list)
    escalation_policies: list[PDEscalationPolicy] = Field(default_factory=list)
    schedules: list[PDSchedule] = Field(default_factory=list)
    oncalls: list[PDOnCall] = Field(default_factory=list)
    users: list[PDUser] = Field(default_factory=list)
    teams: list[PDTeam] = Field(default_factory=list)
    incidents: list[PDIncident] = Field(default_factory=list)
    log_entries: list[PDLogEntry] = Field(default_factory=list)
    maintenance_windows: list[PDMaintenanceWindow] = Field(default_factory=list)


# --------------------------------------------------------------------------- SLOs


class BurnRateAlert(Fact):
    name: str
    severity: Literal["page", "ticket"]
    long_window: str
    short_window: str
    factor: float


class SLO(Fact):
    name: str
    service: str
    objective: float = Field(description="target in percent, e.g. 99.9")
    window: str = "30d"
    description: str | None = None
    error_query: str | None = None
    total_query: str | None = None
    raw_error_ratio_query: str | None = None
    format: Literal["sloth", "sloth-k8s", "openslo", "sloth-generated"]
    page_alert: str | None = Field(None, description="name of the page alert the spec declares (None: disabled)")
    ticket_alert: str | None = None
    page_labels: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    location: Location = Field(default_factory=Location)


class SLOFacts(Fact):
    kind: Literal["slo"] = "slo"
    slos: list[SLO] = Field(default_factory=list)
    generated_rules: list[Rule] = Field(default_factory=list, description="Sloth-generated rules seen in the files")


# --------------------------------------------------------------------------- signals


class QueueLag(Fact):
    queue: str
    kind: str
    value: float
    unit: str = "messages"
    labels: dict[str, str] = Field(default_factory=dict)
    metric: str
    query_name: str
    service: str | None = Field(None, description="service a user-added query attributes the queue to")


class AlertHistory(Fact):
    alertname: str
    labels: dict[str, str] = Field(default_factory=dict)
    fires: int
    firing_seconds: float
    short_fires: int = Field(0, description="episodes that resolved within 5 minutes")
    episodes: list[tuple[datetime, datetime]] = Field(default_factory=list)


class MetricGap(Fact):
    """An alerting rule whose expr selects metrics that no series has."""

    alertname: str
    group: str
    file: str | None = None
    expr: str
    missing: list[str] = Field(description="metric names the expr selects that have no series")
    can_fire: bool = Field(description="False when the expr stays empty as long as those metrics have no series")


class SignalsFacts(Fact):
    kind: Literal["prometheus_signals"] = "prometheus_signals"
    queue_lag: list[QueueLag] = Field(default_factory=list)
    alert_history: list[AlertHistory] = Field(default_factory=list)
    metric_names: list[str] | None = Field(None, description="every metric name with series; None: unknown")
    history_window_s: float = 30 * 86400
    metric_gaps: list[MetricGap] = Field(
        default_factory=list, description="alerting rules needing metrics without series (live collection)"
    )


class SlowQuery(Fact):
    database: str
    queryid: str
    query: str
    calls: int
    total_exec_time_ms: float
    mean_exec_time_ms: float
    rows: int = 0


class PostgresFacts(Fact):
    kind: Literal["postgres"] = "postgres"
    statements: list[SlowQuery] = Field(default_factory=list)


SourceFacts = (
    CatalogFacts | PrometheusFacts | AlertmanagerFacts | PagerDutyFacts | SLOFacts | SignalsFacts | PostgresFacts
)


class SourceStatus(Fact):
    """The outcome of one source in one collection run."""

    name: str
    kind: str
    ok: bool
    stale: bool = False
    collected_at: datetime
    last_success_at: datetime | None = None
    error: str | None = None
    duration_s: float = 0.0
    detail: str | None = None
    # A digest naming the facts' content when they came from (or were just written to) an on-disk cache
    # keyed by the code, the config and every input file (collectors.Collected.facts_key): equal keys, equal
    # facts, so the store copies the text it holds for the key instead of serialising the facts again
    # (Store.save). Kept out of every JSON and repr (`exclude`, `repr=False`): the API and logs are unchanged,
    # only the store's column holds it. None: a live source, no cache, a failed collection.
    facts_key: str | None = Field(default=None, exclude=True, repr=False)


class SourceResult(Fact):
    status: SourceStatus
    facts: SourceFacts | None = Field(None, discriminator="kind")
    # what reads the store's text of `facts` when their collector had one at hand (collectors.Collected.stored_text):
    # not data, in no JSON or repr
    _stored_text: Callable[[], str | None] | None = PrivateAttr(default=None)

    def with_stored_text(self, read: Callable[[], str | None] | None) -> SourceResult:
        """This result, `read()` giving the store's text of its facts (None: the store serialises them)."""
        self._stored_text = read
        return self

    def stored_text(self) -> str | None:
        """The store's text of the facts as their collector wrote it, None when there is none (or it cannot be read)."""
        return self._stored_text() if self._stored_text is not None else None


class Snapshot(Fact):
    """Every source's facts at one instant: the input of the rules engine."""

    id: int | None = None
    taken_at: datetime
    now: datetime
    sources: list[SourceResult] = Field(default_factory=list)
