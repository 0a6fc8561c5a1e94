"""Checks that read no paging answer, run in a forked child beside the resolution (rules.forked): the same
findings as in-process, and any failure of the child is the parent's to repair by running them itself."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, ClassVar

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import rules.checks
import rules.forked
from agent.api.state import View
from agent.config import load_config
from agent.pipeline import collect
from collectors.facts import Snapshot
from rules.checks import CHECKS
from rules.engine import run_checks
from rules.forked import _NoAlerts, fork_checks, needs_alerts
from rules.graph import OwnershipGraph
from rules.paging import PagingResolver

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this system")

ORGS = [Path(__file__).parents[2] / "testdata" / "org-small", Path(__file__).parents[3] / "agent" / "demo" / "org"]


@pytest.fixture(scope="module", params=ORGS, ids=["org-small", "demo"])
def snap(request: pytest.FixtureRequest) -> Snapshot:
    loaded = load_config(request.param / "ownership.yaml")
    assert loaded.config.now is not None
    return collect(loaded, loaded.config.now, progress=False)


def _dump(findings: list[Any]) -> list[dict[str, Any]]:
    return [f.model_dump(mode="json") for f in findings]


def _in_process(snap: Snapshot) -> list[Any]:
    graph = OwnershipGraph.build(snap)
    return run_checks(graph, snap.now)


def _forked(snap: Snapshot, **kw: Any) -> tuple[list[Any], Any]:
    graph = OwnershipGraph.build(snap)
    resolver = PagingResolver(graph)
    forked = fork_checks(graph, snap.now, None, resolver, min_alerts=0, **kw)
    alerts = [resolver.resolve(sr, snap.now) for sr in graph.alert_rules()]
    return run_checks(graph, snap.now, resolver=resolver, alerts=alerts, forked=forked), forked


def test_the_marked_checks_read_no_paging_answer(snap: Snapshot) -> None:
    graph = OwnershipGraph.build(snap)
    ctx = _NoAlerts(graph=graph, now=snap.now, pack=rules.engine.load_pack(), resolver=PagingResolver(graph))
    marked = [c for c in CHECKS if not needs_alerts(c)]
    assert {c.id for c in marked} >= {"OWN002", "OWN009"}
    for c in marked:
        list(c().run(ctx))  # reading ctx.alerts or ctx.rules_by_service raises
    with pytest.raises(RuntimeError):
        _ = ctx.alerts


def test_forked_checks_find_what_in_process_checks_find(snap: Snapshot) -> None:
    want = _in_process(snap)
    got, forked = _forked(snap)
    assert forked is not None and set(forked.ids) == {c.id for c in CHECKS if not needs_alerts(c)}
    assert set(forked.results()) == set(forked.ids)  # the child answered every one
    assert _dump(got) == _dump(want)
    assert want, "an organisation without findings would compare nothing"


def test_a_failing_child_is_repaired_in_process(
    snap: Snapshot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Cheats:
        """Claims to read no paging answer, but does."""

        id: ClassVar[str] = "OWN099"
        severity: ClassVar[str] = "info"
        summary: ClassVar[str] = "cheats"
        needs_alerts: ClassVar[bool] = False

        def run(self, ctx: Any) -> list[Any]:
            return [] if ctx.alerts is None else []

    want = _in_process(snap)
    monkeypatch.setattr(rules.checks, "CHECKS", (*CHECKS, Cheats))
    with caplog.at_level(logging.WARNING, logger="ownership.checks"):
        got, forked = _forked(snap)
    assert forked.results() == {}  # the child reported the error: nothing taken from it
    assert "read the paging answers" in caplog.text
    assert _dump(got) == _dump(want)


def test_a_killed_child_is_repaired_in_process(snap: Snapshot, monkeypatch: pytest.MonkeyPatch) -> None:
    want = _in_process(snap)
    graph = OwnershipGraph.build(snap)
    resolver = PagingResolver(graph)
    forked = fork_checks(graph, snap.now, None, resolver, min_alerts=0)
    assert forked is not None
    os.kill(forked.pid, 9)
    assert forked.results() == {}
    alerts = [resolver.resolve(sr, snap.now) for sr in graph.alert_rules()]
    assert _dump(run_checks(graph, snap.now, resolver=resolver, alerts=alerts, forked=forked)) == _dump(want)


def test_small_organisations_and_the_switch_stay_in_process(snap: Snapshot, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = OwnershipGraph.build(snap)
    assert fork_checks(graph, snap.now, None, None) is None  # below FORK_MIN_ALERTS
    monkeypatch.setenv("OWNERSHIP_FORK", "0")
    assert fork_checks(graph, snap.now, None, None, min_alerts=0) is None


def test_view_forks_and_records_the_child_checks_spans(snap: Snapshot, monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(rules.forked, "tracer", provider.get_tracer("test"))
    monkeypatch.setattr(rules.forked, "FORK_MIN_ALERTS", 0)
    view = View(snap)
    view.start_checks()
    assert view._forked is not None
    assert _dump(view.findings) == _dump(_in_process(snap))
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert "check OWN002" in spans and spans["check OWN002"].attributes["ownership.forked"] is True
    assert spans["check OWN002"].end_time >= spans["check OWN002"].start_time
