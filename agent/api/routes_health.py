"""/healthz (the process is alive) and /readyz (a snapshot is being served): public."""

from __future__ import annotations

from fastapi import APIRouter

from agent.api.deps import ViewDep
from agent.api.errors import ERROR_RESPONSES
from agent.api.models import Health, Ready

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is alive")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Ready, summary="A snapshot exists", responses={503: ERROR_RESPONSES[503]})
def readyz(view: ViewDep) -> Ready:
    return Ready(status="ready", snapshot_id=view.id, taken_at=view.snapshot.taken_at)
