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
    run = next(s for s in spans.get_finished_spans() if s.name == "collection")
    children = [s for s in spans.get_finished_spans() if s.parent and s.parent.span_id == run.context.span_id]
    assert len(children) == len(loaded.config.sources)
    kinds = {s.attributes["source.kind"] for s in children}
    assert kinds == {s.kind for s in loaded.config.sources}
