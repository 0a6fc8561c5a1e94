"""Answer models: one pydantic model per answer, shared by the CLI's JSON and the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from rules.findings import Finding


class SourceState(BaseModel):
    name: str
    kind: str
    state: str = Field(description="ok, stale or failed")
    last_success_at: datetime | None = None
    error: str | None = None
    detail: str | None = None


class OnCallNow(BaseModel):
    team: str | None
    escalation_policy: str
    level: int
    people: list[str]


class Summary(BaseModel):
    """What `ownership demo` and `ownership collect` print."""

    snapshot_id: int | None
    now: datetime
    services: int
    teams: int
    people: int
    alert_rules: int
    recording_rules: int
    routes: int
    receivers: int
    pagerduty_services: int
    escalation_policies: int
    schedules: int
    incidents: int
    slos: int
    queues_with_lag: int
    slow_statements: int
    unowned_services: list[str]
    on_call_now: list[OnCallNow]
    sources: list[SourceState]
    findings: list[Finding] = Field(default_factory=list)
