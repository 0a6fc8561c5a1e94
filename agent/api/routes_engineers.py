"""/api/v1/engineers/{id}/pages: what can page an engineer over a window."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query

from agent.api.deps import API_PREFIX, Instant, ViewDep, instant
from agent.api.errors import NOT_FOUND, APIError
from agent.errors import InputError, NotFoundError
from agent.instants import window_problem
from collectors.durations import parse_duration
from rules.paging import EngineerPages

router = APIRouter(prefix=API_PREFIX, tags=["engineers"])

DURATION = r"^([0-9]{1,6}(ms|s|m|h|d|w|y))+$"


@router.get(
    "/engineers/{id}/pages",
    response_model=EngineerPages,
    responses=NOT_FOUND,
    summary="Which alerts can page this engineer in the window, through which services and levels",
)
def engineer_pages(
    view: ViewDep,
    id: Annotated[str, Path(description="catalog id, email or PagerDuty user id", examples=["P87AU5B"])],
    at: Annotated[Instant | None, Query(description="start of the window; default: the snapshot's instant")] = None,
    window: Annotated[
        str, Query(pattern=DURATION, description="how far ahead (Prometheus duration, at most 90d)", examples=["7d"])
    ] = "7d",
) -> EngineerPages:
    try:
        seconds = parse_duration(window)
    except ValueError as e:
        raise APIError(422, f"window: {e}") from None
    problem = window_problem(seconds)
    if problem is not None:
        raise APIError(422, f"window: {problem}")
    start = instant(at) or view.now
    with view.lock:
        try:
            return view.resolver.engineer_pages(id, start, timedelta(seconds=seconds))
        except NotFoundError:
            raise
        except InputError as e:  # the resolver's "unknown engineer"
            raise NotFoundError(e.message, source=e.source) from None
