"""/metrics in the Prometheus text format: public unless `serve.metrics_auth` is set."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agent.api.deps import StateDep, bearer, check_token
from agent.api.errors import ErrorBody

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    summary="Ownership gauges of the latest snapshot (Prometheus text format)",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format"},
        401: {"model": ErrorBody, "description": "serve.metrics_auth is set and the token is missing or wrong"},
    },
)
def metrics(state: StateDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Response:
    if state.settings.metrics_auth:
        check_token(state, creds)
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)
