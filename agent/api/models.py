"""Answer models the API adds to agent.answers and rules.paging (lists, service details, source health)."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from collectors.facts import SLO, Service
from rules.findings import Finding

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next` back as `cursor` for the following page."""

    items: list[T]
    next: str | None = Field(None, description="cursor of the next page; null on the last page")


class ServiceItem(BaseModel):
    name: str
    team: str | None
    tier: int | None
    description: str | None
    alerts: int = Field(description="alerting rules attributed to the service")
    paging_alerts: int = Field(description="of them, those that page someone at the snapshot's instant")
    findings: int
    slos: list[str]


class ServiceDetail(BaseModel):
    service: Service = Field(description="the catalog entry")
    snapshot_id: int | None
    at: datetime
    alerts: int
    paging_alerts: int
    slos: list[SLO]
    findings: list[Finding]


class SnapshotInfo(BaseModel):
    id: int
    taken_at: datetime
    now: datetime = Field(description="the instant answers are computed for")
    current: bool = Field(description="the snapshot the API serves")


class SourceHealth(BaseModel):
    name: str
    kind: str
    state: str = Field(description="ok, stale or failed")
    ok: bool
    stale: bool
    collected_at: datetime
    last_success_at: datetime | None
    age_s: float | None = Field(description="seconds from the last success to the snapshot's instant")
    duration_s: float
    error: str | None
    detail: str | None


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    snapshot_id: int | None
    taken_at: datetime
