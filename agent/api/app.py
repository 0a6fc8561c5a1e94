"""The FastAPI app: `create_app(state)` wires the routes, auth, the error shape and a span per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.api import errors
from agent.api.deps import bearer_token, require_token, token_ok
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
        **_no_native_telemetry(),
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

    pages_route = next(r for r in routes_services.router.routes if getattr(r, "path", None) == PAGES_TEMPLATE)
    app.add_middleware(_ServicePagesFastPath, state=state, route=pages_route)  # inside the span per request
    tracer = trace.get_tracer("ownership-agent.api", tracer_provider=tracer_provider)
    app.add_middleware(_SpanPerRequest, tracer=tracer)
    return app


PAGES_TEMPLATE = "/api/v1/services/{name}/pages"
_PAGES_PREFIX, _PAGES_SUFFIX = "/api/v1/services/", "/pages"


class _ServicePagesFastPath:
    """`GET /api/v1/services/{name}/pages` at the snapshot's instant, answered from its serialised body.

    The busiest request (the benchmark's load test): FastAPI's dependency solving and routing took most of
    its time under 50 concurrent clients (about 0.3 ms a request, measured with cProfile, against a
    dictionary read for the answer). Here only a request the route itself would answer 200 with the same
    body is taken: no query string, a bearer token that `check_token` accepts, a body already serialised
    by the route. Everything else (a first request, `?at=`, a bad token, an unknown service) goes to
    FastAPI unchanged, so the answers, the errors and the OpenAPI description stay the route's."""

    def __init__(self, app: ASGIApp, state: ServeState, route: Any):
        self.app = app
        self.state = state
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self._body(scope) if scope["type"] == "http" else None
        if body is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route  # the span is named after the route's template, as for a routed request
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _body(self, scope: Scope) -> bytes | None:
        path: str = scope["path"]
        if scope["method"] != "GET" or scope.get("query_string") or not path.startswith(_PAGES_PREFIX):
            return None
        if not path.endswith(_PAGES_SUFFIX) or scope.get("root_path"):
            return None
        name = path[len(_PAGES_PREFIX) : -len(_PAGES_SUFFIX)]
        view = self.state.view
        if not name or "/" in name or view is None:
            return None
        body = view.service_pages_json_cached(name)
        if body is None:
            return None
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        token = bearer_token(authorization.decode("latin-1")) if authorization is not None else None
        return body if token_ok(self.state, token) else None


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

        # named after the method alone until routing matched a template (semantic conventions): a name per raw
        # path would make one span name per path any scanner tries
        with self.tracer.start_as_current_span(
            method,
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


def _no_native_telemetry() -> dict[str, Any]:
    """FastAPI 0.16x traces every request itself once a tracer provider is set: a second server span beside
    `_SpanPerRequest`'s (which also covers the pages fast path FastAPI never sees). Its own is switched off
    where FastAPI has the setting."""
    import inspect

    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ownership-agent")
    except PackageNotFoundError:
        return "0"
