"""The FastAPI app: `create_app(state)` wires the routes, auth, the error shape and a span per request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request, Response
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider

from agent.api import errors
from agent.api.deps import require_token
from agent.api.state import ServeState


def create_app(state: ServeState, tracer_provider: TracerProvider | None = None) -> FastAPI:
    """The API over `state`; the scheduler (if the state has one) runs for the app's lifetime."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if state.scheduler is not None:
            state.scheduler.start()
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="Ownership Agent",
        summary="Which production problems will page me if this system fails?",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.serve = state
    errors.install(app)

    from agent.api import (
        routes_engineers,
        routes_findings,
        routes_health,
        routes_metrics,
        routes_reports,
        routes_services,
        routes_snapshots,
    )

    app.include_router(routes_health.router)
    app.include_router(routes_metrics.router)
    # every resource router carries the /api/v1 prefix itself, so a request's route has the full template
    for r in (routes_services, routes_engineers, routes_findings, routes_reports, routes_snapshots):
        app.include_router(r.router, dependencies=[Depends(require_token)], responses=errors.ERROR_RESPONSES)

    tracer = trace.get_tracer("ownership-agent.api", tracer_provider=tracer_provider)

    @app.middleware("http")
    async def span_per_request(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        with tracer.start_as_current_span(
            f"{request.method} {request.url.path}",
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "url.path": request.url.path},
        ) as span:
            response = await call_next(request)
            route = request.scope.get("route")
            template = getattr(route, "path", None)
            if template:
                span.update_name(f"{request.method} {template}")
                span.set_attribute("http.route", template)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR))
            return response

    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ownership-agent")
    except PackageNotFoundError:
        return "0"
