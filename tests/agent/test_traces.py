"""Spans for a collection run, each collector and each check, captured with the SDK's in-memory exporter."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agent.pipeline
import rules.engine
from agent.config import load_config
from rules.graph import OwnershipGraph

SMALL_ORG = Path(__file__).parent.parent / "testdata" / "org-small"


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(agent.pipeline, "tracer", provider.get_tracer("test"))
    monkeypatch.setattr(rules.engine, "tracer", provider.get_tracer("test"))
    return exporter


def test_collection_and_check_spans(spans: InMemorySpanExporter) -> None:
    loaded = load_config(SMALL_ORG / "ownership.yaml")
    now = loaded.config.now
    snap = agent.pipeline.collect(loaded, now)
    rules.engine.run_checks(OwnershipGraph.build(snap), now)
    names = [s.name for s in spans.get_finished_spans()]
    assert "collection" in names
    assert {f"collect {s.name}" for s in loaded.config.sources} <= set(names)
    assert "check OWN000" in names and "check OWN001" in names
    # the rule evaluation is one trace: every check's span under one `checks` span
    [checks] = [s for s in spans.get_finished_spans() if s.name == "checks"]
    per_check = [s for s in spans.get_finished_spans() if s.name.startswith("check OWN")]
    assert per_check and all(s.parent is not None and s.parent.span_id == checks.context.span_id for s in per_check)
    run = next(s for s in spans.get_finished_spans() if s.name == "collection")
    children = [s for s in spans.get_finished_spans() if s.parent and s.parent.span_id == run.context.span_id]
    assert len(children) == len(loaded.config.sources)
    kinds = {s.attributes["source.kind"] for s in children}
    assert kinds == {s.kind for s in loaded.config.sources}


def test_the_configured_otlp_endpoint_receives_the_spans_of_a_command(tmp_path: Path) -> None:
    """`tracing.otlp_endpoint` in the config: the command's spans reach an OTLP/HTTP receiver (protobuf
    bodies POSTed to the endpoint), flushed before the process exits; without it, nothing is sent."""
    import shutil
    import subprocess
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    bodies: list[tuple[str, str, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            bodies.append((self.path, self.headers.get("Content-Type", ""), body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    org = tmp_path / "org"
    shutil.copytree(SMALL_ORG, org, ignore=shutil.ignore_patterns(".ownership"))
    cfg = org / "ownership.yaml"
    plain = cfg.read_text()

    def collect() -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "agent", "--config", str(cfg), "collect"],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr

    try:
        collect()
        assert bodies == []  # off by default
        endpoint = f"http://127.0.0.1:{srv.server_address[1]}/v1/traces"
        cfg.write_text(plain + f"tracing:\n  otlp_endpoint: {endpoint}\n")
        collect()
    finally:
        srv.shutdown()
    assert bodies and all(p == "/v1/traces" and t == "application/x-protobuf" for p, t, _ in bodies)
    names: list[str] = []
    services: set[str] = set()
    for _, _, body in bodies:
        req = ExportTraceServiceRequest.FromString(body)
        for rs in req.resource_spans:
            services |= {a.value.string_value for a in rs.resource.attributes if a.key == "service.name"}
            names += [s.name for ss in rs.scope_spans for s in ss.spans]
    assert services == {"ownership-agent"}
    assert "collection" in names and "check OWN001" in names
    loaded = load_config(cfg)
    assert {f"collect {s.name}" for s in loaded.config.sources} <= set(names)
