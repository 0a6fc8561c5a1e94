"""/api/v1/memos/{service} and /api/v1/handoffs/{team}: the documents, as JSON, Markdown or HTML.

The builders live in agent.reports and are imported when a document is asked for.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from agent.api.deps import API_PREFIX, Instant, StateDep, ViewDep, instant
from agent.api.errors import NOT_FOUND, APIError, ErrorBody
from agent.errors import NotFoundError
from agent.reports import DEFAULT_SHIFT

router = APIRouter(prefix=API_PREFIX, tags=["documents"])

Format = Annotated[Literal["json", "md", "html"], Query(description="json (the model), md or html")]

DOCUMENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the document",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/markdown": {"schema": {"type": "string"}},
            "text/html": {"schema": {"type": "string"}},
        },
    },
    **NOT_FOUND,
    501: {"model": ErrorBody, "description": "this build has no document renderer"},
}


def _render(model: Any, text: Any, fmt: str) -> Response:
    if fmt == "json":
        data = model.model_dump(mode="json") if hasattr(model, "model_dump") else model
        return JSONResponse(data)
    body = text(model, fmt)
    if fmt == "html":
        return HTMLResponse(body)
    return Response(body, media_type="text/markdown; charset=utf-8")


@router.get(
    "/memos/{service}",
    response_class=Response,
    responses=DOCUMENT,
    summary="Design-memo skeleton for a service: the six questions, pre-filled with evidence",
)
def memo(
    view: ViewDep,
    state: StateDep,
    service: Annotated[str, Path(description="a catalog service name", examples=["checkout"])],
    format: Format = "json",
) -> Response:
    if view.graph.service(service) is None:
        raise NotFoundError(f'unknown service "{service}"', source="catalog")
    try:
        from agent.reports.memo import build_memo, render_memo
    except ImportError:
        raise APIError(501, "this build has no memo renderer (agent.reports.memo)") from None
    history = state.earlier_snapshots(view.now)
    with view.lock:
        base = state.loaded.base if state.loaded is not None else None
        m = build_memo(
            view.graph, view.resolver, view.findings, service, view.now, history, base_dir=base, pack=view.pack
        )
    return _render(m, render_memo, format)


@router.get(
    "/handoffs/{team}",
    response_class=Response,
    responses=DOCUMENT,
    summary="On-call handoff report for a team's shift",
)
def handoff(
    view: ViewDep,
    state: StateDep,
    team: Annotated[str, Path(description="a catalog team name", examples=["payments"])],
    since: Annotated[Instant | None, Query(description="start of the shift; default 7 days before `until`")] = None,
    until: Annotated[Instant | None, Query(description="end of the shift; default the snapshot's instant")] = None,
    format: Format = "json",
) -> Response:
    if not any(t.name == team for t in view.graph.catalog.teams):
        raise NotFoundError(f'unknown team "{team}"', source="catalog")
    end = instant(until, "until") or view.now
    start = instant(since, "since") or end - DEFAULT_SHIFT
    if start >= end:
        raise APIError(422, "since must be before until")
    try:
        from agent.reports.handoff import build_handoff, render_handoff
    except ImportError:
        raise APIError(501, "this build has no handoff renderer (agent.reports.handoff)") from None
    previous = state.findings_before(start)
    with view.lock:
        h = build_handoff(view.graph, view.resolver, view.findings, team, start, end, previous)
    return _render(h, render_handoff, format)
