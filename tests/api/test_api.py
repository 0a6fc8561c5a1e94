"""The HTTP API over the demo organisation: auth, pagination, filters, the error shape, spans."""

from __future__ import annotations

import pytest
from api_support import AUTH, TOKEN
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent.api import ServeState, create_app
from agent.config import ServeConfig
from collectors.facts import Snapshot
from rules.findings import Finding
from rules.paging import EngineerPages, ServicePages

PROTECTED = [
    "/api/v1/services",
    "/api/v1/services/checkout",
    "/api/v1/services/checkout/pages",
    "/api/v1/engineers/P87AU5B/pages",
    "/api/v1/findings",
    "/api/v1/memos/checkout",
    "/api/v1/handoffs/payments",
    "/api/v1/snapshots",
    "/api/v1/sources",
]
PUBLIC = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"]


def _error(r, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


# ---------------------------------------------------------------- auth


@pytest.mark.parametrize("path", PROTECTED)
def test_protected_needs_a_token(api_client: TestClient, path: str) -> None:
    r = api_client.get(path)
    _error(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].startswith("Bearer")
    _error(api_client.get(path, headers={"Authorization": "Bearer wrong-token"}), 401, "unauthorized")
    _error(api_client.get(path, headers={"Authorization": f"Bearer {TOKEN}x"}), 401, "unauthorized")
    _error(api_client.get(path, headers={"Authorization": f"Basic {TOKEN}"}), 401, "unauthorized")


@pytest.mark.parametrize("path", [p for p in PROTECTED if "/memos/" not in p and "/handoffs/" not in p])
def test_protected_answers_with_the_right_token(api_client: TestClient, path: str) -> None:
    assert api_client.get(path, headers=AUTH).status_code == 200


@pytest.mark.parametrize("path", PUBLIC)
def test_public_endpoints_need_no_token(api_client: TestClient, path: str) -> None:
    assert api_client.get(path).status_code == 200


def test_tokens_from_config_and_env_any_of_several(demo_snapshot: Snapshot) -> None:
    st = ServeState.for_snapshot(demo_snapshot, tokens=["first-token-aaaaaaaa", "second-token-bbbbbbbb"])
    with TestClient(create_app(st)) as c:
        for t in ("first-token-aaaaaaaa", "second-token-bbbbbbbb"):
            assert c.get("/api/v1/sources", headers={"Authorization": f"Bearer {t}"}).status_code == 200
        assert c.get("/api/v1/sources", headers={"Authorization": "Bearer first-token"}).status_code == 401


def test_no_configured_token_means_nothing_is_accepted(demo_snapshot: Snapshot) -> None:
    st = ServeState.for_snapshot(demo_snapshot, tokens=[])
    with TestClient(create_app(st)) as c:
        assert c.get("/api/v1/sources", headers={"Authorization": "Bearer "}).status_code == 401
        assert c.get("/api/v1/sources", headers={"Authorization": "Bearer x"}).status_code == 401


def test_metrics_token_when_config_asks(demo_snapshot: Snapshot) -> None:
    st = ServeState.for_snapshot(demo_snapshot, ServeConfig(metrics_auth=True), [TOKEN])
    with TestClient(create_app(st)) as c:
        _error(c.get("/metrics"), 401, "unauthorized")
        _error(c.get("/metrics", headers={"Authorization": "Bearer nope"}), 401, "unauthorized")
        assert c.get("/metrics", headers=AUTH).status_code == 200
        assert c.get("/healthz").status_code == 200


def test_api_tokens_from_env_and_files(tmp_path, monkeypatch, demo_loaded) -> None:
    from agent.api.tokens import api_tokens
    from agent.config import SecretRef
    from agent.errors import ConfigError

    (tmp_path / "tok").write_text("file-token-0123456789\n")
    monkeypatch.setenv("MY_TOKEN", "env-token-0123456789")
    monkeypatch.setenv("OWNERSHIP_API_TOKENS", " list-token-0123456789 ,other-token-0123456789,")
    settings = ServeConfig(tokens=[SecretRef(token_env="MY_TOKEN"), SecretRef(token_file=str(tmp_path / "tok"))])
    assert api_tokens(demo_loaded, settings, demo=False) == [
        "env-token-0123456789",
        "file-token-0123456789",
        "list-token-0123456789",
        "other-token-0123456789",
    ]
    monkeypatch.setenv("OWNERSHIP_API_TOKENS", "changeme")
    with pytest.raises(ConfigError, match="placeholder"):
        api_tokens(demo_loaded, ServeConfig(), demo=False)
    assert api_tokens(demo_loaded, ServeConfig(), demo=True) == ["changeme"]
    monkeypatch.setenv("OWNERSHIP_API_TOKENS", "short")
    with pytest.raises(ConfigError, match="at least"):
        api_tokens(demo_loaded, ServeConfig(), demo=False)


# ---------------------------------------------------------------- answers


def test_services_list_and_detail(api_client: TestClient, demo_snapshot: Snapshot) -> None:
    body = api_client.get("/api/v1/services", headers=AUTH, params={"limit": 500}).json()
    names = [s["name"] for s in body["items"]]
    assert names == sorted(names) and "checkout" in names and body["next"] is None
    checkout = next(s for s in body["items"] if s["name"] == "checkout")
    assert checkout["team"] == "payments" and checkout["paging_alerts"] >= 1
    only = api_client.get("/api/v1/services", headers=AUTH, params={"team": "payments"}).json()["items"]
    assert only and all(s["team"] == "payments" for s in only)
    detail = api_client.get("/api/v1/services/checkout", headers=AUTH).json()
    assert detail["service"]["name"] == "checkout" and detail["snapshot_id"] == 1
    assert all(f["service"] == "checkout" for f in detail["findings"])


def test_service_pages_is_the_answer_model(api_client: TestClient, demo_state: ServeState) -> None:
    r = api_client.get("/api/v1/services/checkout/pages", headers=AUTH)
    got = ServicePages.model_validate(r.json())
    assert got == demo_state.view.resolver.service_pages("checkout", demo_state.view.now)
    assert got.paging_alerts >= 1
    later = api_client.get("/api/v1/services/checkout/pages", headers=AUTH, params={"at": "2026-11-21T03:00:00+00:00"})
    assert later.status_code == 200 and later.json()["at"].startswith("2026-11-21T03:00:00")


def test_engineer_pages_is_the_answer_model(api_client: TestClient, demo_state: ServeState) -> None:
    uid = next(u.id for u in demo_state.view.graph.pagerduty.users)
    r = api_client.get(f"/api/v1/engineers/{uid}/pages", headers=AUTH, params={"window": "3d"})
    got = EngineerPages.model_validate(r.json())
    assert got.engineer.pagerduty_user_id == uid
    assert (got.until - got.since).total_seconds() == 3 * 86400


def test_findings_pagination_covers_every_finding_once(api_client: TestClient, demo_state: ServeState) -> None:
    expected = [f.model_dump(mode="json") for f in demo_state.view.findings]
    assert len(expected) >= 3
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = api_client.get("/api/v1/findings", headers=AUTH, params=params).json()
        assert set(body) == {"items", "next"}
        assert len(body["items"]) <= 2
        seen += body["items"]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == (len(expected) + 1) // 2
    past = api_client.get("/api/v1/findings", headers=AUTH, params={"cursor": "100000"}).json()
    assert past == {"items": [], "next": None}


def test_findings_filters(api_client: TestClient, demo_state: ServeState) -> None:
    every = demo_state.view.findings
    f0 = every[0]
    for key, value in (("service", f0.service), ("team", f0.team), ("check", f0.check), ("severity", f0.severity)):
        if value is None:
            continue
        body = api_client.get("/api/v1/findings", headers=AUTH, params={key: value, "limit": 500}).json()
        got = [Finding.model_validate(x) for x in body["items"]]
        assert got == [f for f in every if getattr(f, key) == value], key
    both = api_client.get(
        "/api/v1/findings", headers=AUTH, params={"check": f0.check, "severity": f0.severity, "limit": 500}
    ).json()["items"]
    assert both and all(x["check"] == f0.check and x["severity"] == f0.severity for x in both)
    # a misspelt filter is a 404, not "no findings"
    for key in ("service", "team"):
        r = api_client.get("/api/v1/findings", headers=AUTH, params={key: "no-such-name"})
        assert r.status_code == 404, key
        assert r.json()["error"]["message"] == f'catalog: unknown {key} "no-such-name"'
    # a service outside the catalog that a finding names is no typo
    outside = next((f for f in every if f.service and demo_state.view.graph.service(f.service) is None), None)
    if outside is not None:
        r = api_client.get("/api/v1/findings", headers=AUTH, params={"service": outside.service})
        assert r.status_code == 200 and r.json()["items"]


def test_sources_and_snapshots(api_client: TestClient, demo_snapshot: Snapshot) -> None:
    sources = api_client.get("/api/v1/sources", headers=AUTH).json()["items"]
    assert {s["name"] for s in sources} == {r.status.name for r in demo_snapshot.sources}
    assert all(s["state"] in ("ok", "stale", "failed") for s in sources)
    snaps = api_client.get("/api/v1/snapshots", headers=AUTH).json()
    assert snaps["items"][0]["id"] == 1 and snaps["items"][0]["current"] is True


def test_snapshots_from_a_store_paginate(tmp_path, demo_snapshot: Snapshot, demo_loaded) -> None:
    from agent.store import Store

    url = f"sqlite:///{tmp_path / 'api.db'}"
    store = Store(url)
    store.migrate()
    ids = [store.save(demo_snapshot.model_copy(update={"id": None})) for _ in range(5)]
    store.close()
    st = ServeState(ServeConfig(), [TOKEN], demo_loaded, store_url=url)
    assert st.load_latest() is not None
    with TestClient(create_app(st)) as c:
        first = c.get("/api/v1/snapshots", headers=AUTH, params={"limit": 2}).json()
        assert [s["id"] for s in first["items"]] == ids[::-1][:2] and first["items"][0]["current"]
        second = c.get("/api/v1/snapshots", headers=AUTH, params={"limit": 2, "cursor": first["next"]}).json()
        third = c.get("/api/v1/snapshots", headers=AUTH, params={"limit": 2, "cursor": second["next"]}).json()
        assert [s["id"] for s in second["items"] + third["items"]] == ids[::-1][2:]
        assert third["next"] is None


# ---------------------------------------------------------------- errors


def test_error_shape_on_404(api_client: TestClient) -> None:
    _error(api_client.get("/api/v1/services/no-such-service", headers=AUTH), 404, "not_found")
    _error(api_client.get("/api/v1/services/no-such-service/pages", headers=AUTH), 404, "not_found")
    _error(api_client.get("/api/v1/engineers/nobody@example.com/pages", headers=AUTH), 404, "not_found")
    _error(api_client.get("/api/v1/memos/no-such-service", headers=AUTH), 404, "not_found")
    _error(api_client.get("/api/v1/handoffs/no-such-team", headers=AUTH), 404, "not_found")
    _error(api_client.get("/no/such/path"), 404, "not_found")
    _error(api_client.post("/healthz"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "path,params",
    [
        ("/api/v1/findings", {"limit": 0}),
        ("/api/v1/findings", {"limit": 501}),
        ("/api/v1/findings", {"cursor": "abc"}),
        ("/api/v1/findings", {"severity": "fatal"}),
        ("/api/v1/findings", {"check": "OWN1"}),
        ("/api/v1/findings", {"check": "OWN999"}),
        ("/api/v1/services/checkout/pages", {"at": "yesterday"}),
        ("/api/v1/services/checkout/pages", {"at": "2026-11-16T09:30:00"}),
        # a number is no instant (pydantic alone reads seconds, and milliseconds past 2e10)
        ("/api/v1/services/checkout/pages", {"at": "1700000000"}),
        ("/api/v1/engineers/P87AU5B/pages", {"at": "1700000000"}),
        ("/api/v1/handoffs/payments", {"since": "99999999999"}),
        ("/api/v1/handoffs/payments", {"until": "0"}),
        ("/api/v1/engineers/P87AU5B/pages", {"window": "7 days"}),
        ("/api/v1/engineers/P87AU5B/pages", {"window": "1000d"}),
        ("/api/v1/memos/checkout", {"format": "pdf"}),
        ("/api/v1/handoffs/payments", {"since": "2026-11-16T09:30:00+00:00", "until": "2026-11-15T09:30:00+00:00"}),
    ],
)
def test_error_shape_on_422(api_client: TestClient, path: str, params: dict) -> None:
    _error(api_client.get(path, headers=AUTH, params=params), 422, "invalid_request")


def test_not_ready_without_a_snapshot() -> None:
    st = ServeState(ServeConfig(), [TOKEN])
    with TestClient(create_app(st)) as c:
        assert c.get("/healthz").status_code == 200
        _error(c.get("/readyz"), 503, "not_ready")
        assert c.head("/readyz").status_code == 503
        _error(c.get("/api/v1/findings", headers=AUTH), 503, "not_ready")
        r = c.get("/metrics")
        # nothing of a snapshot; the scheduler's runs (a first collection failing for ever is seen there)
        names = {ln.split("{")[0].split()[0] for ln in r.text.splitlines() if ln and not ln.startswith("#")}
        assert r.status_code == 200 and names == {"ownership_scheduler_runs_total"}


def test_unexpected_errors_keep_the_shape(demo_snapshot: Snapshot, monkeypatch) -> None:
    st = ServeState.for_snapshot(demo_snapshot, tokens=[TOKEN])

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(st.view, "service_pages", boom)
    with TestClient(create_app(st), raise_server_exceptions=False) as c:
        r = c.get("/api/v1/services/checkout/pages", headers=AUTH)
        _error(r, 500, "internal")
        assert "boom" not in r.text  # no internals leak


# ---------------------------------------------------------------- documents (built by agent.reports)


def _reports(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        pytest.xfail(f"{module} not there yet")


def test_memo_route(api_client: TestClient) -> None:
    _reports("agent.reports.memo")
    md = api_client.get("/api/v1/memos/checkout", headers=AUTH, params={"format": "md"})
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown") and "checkout" in md.text
    html = api_client.get("/api/v1/memos/checkout", headers=AUTH, params={"format": "html"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    js = api_client.get("/api/v1/memos/checkout", headers=AUTH)
    assert js.status_code == 200 and isinstance(js.json(), dict)


def test_handoff_route(api_client: TestClient) -> None:
    _reports("agent.reports.handoff")
    params = {"since": "2026-11-09T09:30:00+00:00", "until": "2026-11-16T09:30:00+00:00"}
    md = api_client.get("/api/v1/handoffs/payments", headers=AUTH, params={**params, "format": "md"})
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    html = api_client.get("/api/v1/handoffs/payments", headers=AUTH, params={**params, "format": "html"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    js = api_client.get("/api/v1/handoffs/payments", headers=AUTH, params=params)
    assert js.status_code == 200 and isinstance(js.json(), dict)


# ---------------------------------------------------------------- OpenAPI and traces


def test_openapi_documents_bearer_auth_and_the_error_shape(api_client: TestClient) -> None:
    doc = api_client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    findings = doc["paths"]["/api/v1/findings"]["get"]
    assert findings["security"] == [{"HTTPBearer": []}]
    for status in ("401", "422", "503"):
        ref = findings["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorBody")
    assert "security" not in doc["paths"]["/healthz"]["get"]
    assert set(doc["paths"]) >= {
        "/api/v1/services",
        "/api/v1/services/{name}",
        "/api/v1/services/{name}/pages",
        "/api/v1/engineers/{id}/pages",
        "/api/v1/findings",
        "/api/v1/memos/{service}",
        "/api/v1/handoffs/{team}",
        "/api/v1/snapshots",
        "/api/v1/sources",
    }


def test_a_span_per_request(demo_state: ServeState) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with TestClient(create_app(demo_state, tracer_provider=provider)) as c:
        c.get("/api/v1/services/checkout/pages", headers=AUTH)
        c.get("/api/v1/services/nope", headers=AUTH)
        c.get("/healthz")
        c.get("/wp-admin/setup.php")  # no route: the span is named after the method alone
    spans = exporter.get_finished_spans()
    names = [s.name for s in spans]
    assert names == ["GET /api/v1/services/{name}/pages", "GET /api/v1/services/{name}", "GET /healthz", "GET"]
    assert spans[0].attributes["http.route"] == "/api/v1/services/{name}/pages"
    assert [s.attributes["http.response.status_code"] for s in spans] == [200, 404, 200, 404]
    assert spans[3].attributes["url.path"] == "/wp-admin/setup.php"


def test_one_server_span_per_request_with_a_global_tracer_provider(demo_state: ServeState, monkeypatch) -> None:
    """`ownership serve` with tracing sets the global provider: FastAPI 0.16x then traced each request itself,
    a second server span beside the agent's."""
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    with TestClient(create_app(demo_state, tracer_provider=provider)) as c:
        assert c.get("/healthz").status_code == 200
    servers = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert [s.name for s in servers] == ["GET /healthz"]
    assert not [s for s in exporter.get_finished_spans() if s.name.startswith("fastapi.")]


def test_service_pages_fast_path_answers_as_the_route(demo_snapshot: Snapshot) -> None:
    """The second request for a service's pages is answered from its serialised body without FastAPI:
    same status, bytes and headers as the route's answer; everything the route would refuse still goes
    to the route (bad or missing token, another scheme, `?at=`, unknown service), and the span is named
    after the route."""
    st = ServeState.for_snapshot(demo_snapshot, tokens=[TOKEN])
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    path = "/api/v1/services/checkout/pages"
    with TestClient(create_app(st, tracer_provider=provider)) as c:
        assert st.view.service_pages_json_cached("checkout") is None
        first = c.get(path, headers=AUTH)  # the route serialises and keeps the body
        assert st.view.service_pages_json_cached("checkout") == first.content
        with pytest.MonkeyPatch.context() as m:  # the fast path: the route (which calls this) is not reached
            m.setattr(type(st.view), "service_pages_json", lambda self, name: b"from the route")
            second = c.get(path, headers=AUTH)
        assert (second.status_code, second.content) == (200, first.content)
        assert {k: v for k, v in second.headers.items()} == {k: v for k, v in first.headers.items()}
        _error(c.get(path), 401, "unauthorized")
        _error(c.get(path, headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
        _error(c.get(path, headers={"Authorization": f"Basic {TOKEN}"}), 401, "unauthorized")
        assert c.get(path, headers={"Authorization": f"bearer {TOKEN}"}).content == first.content
        later = c.get(path, headers=AUTH, params={"at": "2026-11-21T03:00:00+00:00"})
        assert later.status_code == 200 and later.json()["at"].startswith("2026-11-21T03:00:00")
        _error(c.get("/api/v1/services/no-such-service/pages", headers=AUTH), 404, "not_found")
    spans = exporter.get_finished_spans()
    assert spans[1].name == "GET /api/v1/services/{name}/pages"
    assert spans[1].attributes["http.route"] == "/api/v1/services/{name}/pages"
    assert spans[1].attributes["http.response.status_code"] == 200


# ---------------------------------------------------------------- a real process


def test_serve_demo_as_a_real_process(tmp_path) -> None:
    """`ownership serve --demo --port P` in its own process: /healthz, /readyz and /metrics over real HTTP."""
    import os
    import re
    import signal
    import subprocess
    import sys
    import threading
    import time
    from pathlib import Path

    import httpx
    from prometheus_client.parser import text_string_to_metric_families
    from servers import free_port

    port = free_port()
    script = Path(sys.executable).parent / "ownership"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "agent"]
    env = {k: v for k, v in os.environ.items() if k != "OWNERSHIP_API_TOKENS"}
    env["XDG_STATE_HOME"] = str(tmp_path)  # the demo's SQLite file goes here, not in the user's state
    proc = subprocess.Popen(
        [*cmd, "serve", "--demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, "".join(lines)
        assert ready.json()["snapshot_id"] >= 1
        assert httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
        for probe in ("/healthz", "/readyz"):  # monitors that probe with HEAD: the status, no body
            head = httpx.head(f"{base}{probe}", timeout=5)
            assert head.status_code == 200 and head.content == b"", probe
        metrics = httpx.get(f"{base}/metrics", timeout=5)
        assert metrics.status_code == 200
        names = {f.name for f in text_string_to_metric_families(metrics.text)}
        assert {"ownership_findings", "ownership_source_up", "ownership_engineer_pages_7d"} <= names
        out = "".join(lines)
        tokens = re.findall(r"API token \(generated for this run, shown once\): (\S+)", out)
        assert len(tokens) == 1, out
        assert len(tokens[0]) >= 32
        assert httpx.get(f"{base}/api/v1/findings", timeout=5).status_code == 401
        ok = httpx.get(f"{base}/api/v1/findings", headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=10)
        assert ok.status_code == 200 and ok.json()["items"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    # uvicorn shuts down cleanly on SIGTERM, then re-raises the signal
    assert proc.returncode in (0, -signal.SIGTERM), "".join(lines)
    assert "Application shutdown complete" in "".join(lines)
    assert "".join(lines).count(tokens[0]) == 1  # printed once, never logged again


def test_scheduler_collects_stores_and_survives_a_failed_run(tmp_path, demo_loaded, monkeypatch) -> None:
    import time
    from datetime import timedelta

    from agent.api import Scheduler

    demo_now = demo_loaded.config.now
    st = ServeState(
        ServeConfig(), [TOKEN], demo_loaded, store_url=f"sqlite:///{tmp_path / 's.db'}", now=lambda: demo_now
    )
    st.scheduler = Scheduler(st, timedelta(seconds=0.2))
    with TestClient(create_app(st)) as c:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and st.scheduler.runs < 2:
            time.sleep(0.05)
        assert st.scheduler.runs >= 2
        assert c.get("/readyz").status_code == 200
        ids = [s["id"] for s in c.get("/api/v1/snapshots", headers=AUTH).json()["items"]]
        assert len(ids) >= 2 and ids == sorted(ids, reverse=True)
        served = st.view.id

        def broken(*a, **k):
            raise RuntimeError("source config vanished")

        monkeypatch.setattr("agent.pipeline.collect", broken)
        runs = st.scheduler.runs
        while time.monotonic() < deadline and st.scheduler.runs < runs + 2:
            time.sleep(0.05)
        assert st.last_error and "vanished" in st.last_error
        assert st.view.id is not None and st.view.id >= served  # still serving the last good snapshot
        metrics = c.get("/metrics").text
        failed = float(metrics.split('ownership_scheduler_runs_total{outcome="failure"} ')[1].split()[0])
        succeeded = float(metrics.split('ownership_scheduler_runs_total{outcome="success"} ')[1].split()[0])
        assert failed >= 2 and succeeded >= 2
        assert c.get("/readyz").status_code == 200
        assert c.get("/api/v1/findings", headers=AUTH).status_code == 200
    assert st.scheduler._thread is not None and not st.scheduler._thread.is_alive()


def test_scheduler_waits_for_a_store_that_cannot_be_reached_yet(tmp_path, demo_loaded, caplog) -> None:
    """A store not there at start (PostgreSQL starting beside the agent; here a SQLite file in a folder not made
    yet): /readyz is 503, each turn logs one line (no traceback) and tries again; once it can be reached the
    store is migrated and the collection published (the store was kept unmigrated after a failed start)."""
    import time
    from datetime import timedelta

    from agent.api import Scheduler
    from agent.api import state as state_mod
    from agent.errors import StoreError

    demo_now = demo_loaded.config.now
    folder = tmp_path / "not-yet"
    st = ServeState(ServeConfig(), [TOKEN], demo_loaded, store_url=f"sqlite:///{folder / 's.db'}", now=lambda: demo_now)
    with pytest.raises(StoreError):
        st.load_latest()  # what `serve` does first: it logs the error and serves nothing yet
    caplog.set_level("WARNING", logger="ownership.serve")
    st.scheduler = Scheduler(st, timedelta(seconds=0.2))
    with TestClient(create_app(st)) as c:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and st.run_outcomes["failure"] < 2:
            time.sleep(0.05)
        assert st.run_outcomes["failure"] >= 2 and st.run_outcomes["success"] == 0
        assert c.get("/readyz").status_code == 503
        warned = [r for r in caplog.records if r.name == "ownership.serve" and "trying again" in r.getMessage()]
        assert warned and all(r.exc_info is None for r in warned)
        assert "cannot" in warned[0].getMessage()
        folder.mkdir()
        while time.monotonic() < deadline and st.run_outcomes["success"] < 1:
            time.sleep(0.05)
        assert st.run_outcomes["success"] >= 1
        assert c.get("/readyz").status_code == 200
        assert c.get("/api/v1/snapshots", headers=AUTH).json()["items"]
    assert state_mod.STORE_RETRY_S >= 0.2  # the interval here is the shorter: it is the wait


def test_a_snapshot_stamped_ahead_by_another_replicas_clock_does_not_stop_collection(
    tmp_path, demo_loaded, demo_snapshot
) -> None:
    """A replica whose clock ran an hour ahead stored the latest snapshot: the next turn collects (it waited
    for real time to pass that stamp, an hour without a collection); one stamped just now does not."""
    from datetime import UTC, datetime, timedelta

    from agent.store import Store

    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store(url)
    store.migrate()
    ahead = demo_snapshot.model_copy(update={"id": None, "taken_at": datetime.now(UTC) + timedelta(hours=1)})
    store.save(ahead)
    store.close()
    demo_now = demo_loaded.config.now
    st = ServeState(ServeConfig(), [TOKEN], demo_loaded, store_url=url, now=lambda: demo_now)
    st.tick(timedelta(minutes=5))
    assert st.collections == 1
    st.tick(timedelta(minutes=5))  # the snapshot it just stored is recent: no second collection
    assert st.collections == 1
    st.close()


def test_serve_refuses_to_start_without_a_token_outside_the_demo(monkeypatch, capsys) -> None:
    from agent import cli, demo

    monkeypatch.delenv("OWNERSHIP_API_TOKENS", raising=False)
    assert cli.main(["--config", str(demo.config_path()), "serve", "--port", "1"]) == 2
    assert "no API token configured" in capsys.readouterr().err
