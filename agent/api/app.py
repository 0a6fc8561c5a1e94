"""The FastAPI app: `create_app(state)` wires the routes, auth, the error shape and a span per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
    app.add_middleware(_SpanPerRequest, tracer=tracer)
    return app


class _SpanPerRequest:
    """A server span per HTTP request, named after the route's template once routing has matched.

    Plain ASGI rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs the app in a
    second task and streams the response through a queue, which cost more than the request under load."""

    def __init__(self, app: ASGIApp, tracer: trace.Tracer):
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        path = scope.get("root_path", "") + scope["path"]
        status: list[int] = []

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        with self.tracer.start_as_current_span(
            f"{method} {path}",
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        ) as span:
            await self.app(scope, receive, send_status)
            template = getattr(scope.get("route"), "path", None)
            if template:
                span.update_name(f"{method} {template}")
                span.set_attribute("http.route", template)
            if status:
                span.set_attribute("http.response.status_code", status[0])
                if status[0] >= 500:
                    span.set_status(Status(StatusCode.ERROR))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ownership-agent")
    except PackageNotFoundError:
        return "0"
