"""/api/v1/findings: the ownership gaps of the latest snapshot, filtered and paginated."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from agent.api.deps import API_PREFIX, PageDep, ViewDep, paginate
from agent.api.errors import NOT_FOUND, APIError
from agent.api.models import Page
from rules.findings import Finding, Severity, check_filters

router = APIRouter(prefix=API_PREFIX, tags=["findings"])


@router.get(
    "/findings",
    response_model=Page[Finding],
    responses=NOT_FOUND,
    summary="Findings, most severe first (an unknown service or team: 404)",
)
def list_findings(
    view: ViewDep,
    page: PageDep,
    service: Annotated[str | None, Query(description="only this service")] = None,
    team: Annotated[str | None, Query(description="only this team")] = None,
    check: Annotated[str | None, Query(pattern=r"^OWN[0-9]{3}$", description="only this check id, e.g. OWN004")] = None,
    severity: Annotated[Severity | None, Query(description="only this severity")] = None,
) -> Page[Finding]:
    if check is not None:
        from rules.engine import check_ids

        if check not in check_ids():  # as the CLI's --check: a misspelt id is no "0 findings"
            raise APIError(422, f"check: unknown check id {check!r}")
    check_filters(view.graph, view.findings, service, team)
    items = [
        f
        for f in view.findings
        if (service is None or f.service == service)
        and (team is None or f.team == team)
        and (check is None or f.check == check)
        and (severity is None or f.severity == severity)
    ]
    return paginate(items, page)
