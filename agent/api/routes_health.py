"""/healthz (the process is alive) and /readyz (a snapshot is being served): public."""

from __future__ import annotations

from fastapi import APIRouter

from agent.api.deps import ViewDep
from agent.api.errors import ERROR_RESPONSES
from agent.api.models import Health, Ready

router = APIRouter(tags=["health"])


# HEAD too (the same answer without its body, left out of the OpenAPI document as HTTP implies it for a GET):
# uptime monitors and some load balancers probe with it, and a 405 would read as down
@router.get("/healthz", response_model=Health, summary="The process is alive")
@router.head("/healthz", include_in_schema=False)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Ready, summary="A snapshot exists", responses={503: ERROR_RESPONSES[503]})
@router.head("/readyz", include_in_schema=False)
def readyz(view: ViewDep) -> Ready:
    return Ready(status="ready", snapshot_id=view.id, taken_at=view.snapshot.taken_at)
