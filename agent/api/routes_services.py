"""/api/v1/services: the catalog's services, one service, and what pages for it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from agent.api.deps import API_PREFIX, Instant, PageDep, ViewDep, instant, paginate
from agent.api.errors import NOT_FOUND
from agent.api.models import Page, ServiceDetail, ServiceItem
from agent.api.state import View
from agent.errors import NotFoundError
from collectors.facts import Service
from rules.paging import ServicePages

router = APIRouter(prefix=API_PREFIX, tags=["services"])

ServiceName = Annotated[str, Path(description="a catalog service name", examples=["checkout"])]
At = Annotated[Instant | None, Query(description="instant (ISO 8601 with offset); default: the snapshot's")]


def _service(view: View, name: str) -> Service:
    svc = view.graph.service(name)
    if svc is None:
        raise NotFoundError(f'unknown service "{name}"', source="catalog")
    return svc


@router.get(
    "/services", response_model=Page[ServiceItem], summary="Catalog services with their paging and findings counts"
)
def list_services(
    view: ViewDep,
    page: PageDep,
    team: Annotated[str | None, Query(description="only this team's services")] = None,
) -> Page[ServiceItem]:
    alerts: dict[str, int] = {}
    paging: dict[str, int] = {}
    for a in view.alerts:
        for s in a.services:
            alerts[s] = alerts.get(s, 0) + 1
            paging[s] = paging.get(s, 0) + (1 if a.pages else 0)
    findings: dict[str | None, int] = {}
    for f in view.findings:
        findings[f.service] = findings.get(f.service, 0) + 1
    items = [
        ServiceItem(
            name=s.name,
            team=s.team,
            tier=s.tier,
            description=s.description,
            alerts=alerts.get(s.name, 0),
            paging_alerts=paging.get(s.name, 0),
            findings=findings.get(s.name, 0),
            slos=sorted(x.name for x in view.graph.slos.slos if x.service == s.name),
        )
        for s in sorted(view.graph.catalog.services, key=lambda s: s.name)
        if team is None or s.team == team
    ]
    return paginate(items, page)


@router.get("/services/{name}", response_model=ServiceDetail, responses=NOT_FOUND, summary="One service")
def get_service(view: ViewDep, name: ServiceName) -> ServiceDetail:
    svc = _service(view, name)
    mine = [a for a in view.alerts if name in a.services]
    return ServiceDetail(
        service=svc,
        snapshot_id=view.id,
        at=view.now,
        alerts=len(mine),
        paging_alerts=sum(1 for a in mine if a.pages),
        slos=[x for x in view.graph.slos.slos if x.service == name],
        findings=[f for f in view.findings if f.service == name],
    )


@router.get(
    "/services/{name}/pages",
    response_model=ServicePages,
    responses=NOT_FOUND,
    summary="Which alerts page for this service: route, receiver, PagerDuty service, level, people now and next",
)
def service_pages(view: ViewDep, name: ServiceName, at: At = None) -> ServicePages | Response:
    _service(view, name)
    if at is None:
        # the snapshot's own instant: the answer's JSON is serialised once per snapshot and service (and
        # then answered by agent.api.app's fast path, before routing)
        return Response(view.service_pages_json(name), media_type="application/json")
    return view.service_pages(name, instant(at))
