"""A failed or stale source keeps its last good facts, marked stale with its error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from agent.config import load_config
from agent.pipeline import collect

SMALL_ORG = Path(__file__).parent.parent / "testdata" / "org-small"
NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


def by_name(snap, name):
    return next(s for s in snap.sources if s.status.name == name)


def test_all_sources_ok(org: Path) -> None:
    snap = collect(load_config(org / "ownership.yaml"), NOW)
    assert [s.status.ok for s in snap.sources] == [True] * 5
    assert not any(s.status.stale for s in snap.sources)


def test_failed_source_keeps_last_good_facts(org: Path) -> None:
    loaded = load_config(org / "ownership.yaml")
    good = collect(loaded, NOW)
    pd = by_name(good, "pagerduty")
    assert len(pd.facts.oncalls) == 2
    (org / "pagerduty" / "oncalls.json").write_text('{"oncalls": [')  # truncated answer
    bad = collect(loaded, NOW, previous=good)
    res = by_name(bad, "pagerduty")
    assert not res.status.ok and res.status.stale
    assert "oncalls.json:1: invalid JSON" in res.status.error
    assert res.facts == pd.facts  # never replaced by an empty answer
    assert res.status.last_success_at == pd.status.last_success_at
    # the other sources are fresh and fine
    assert all(s.status.ok for s in bad.sources if s.status.name != "pagerduty")


def test_failed_source_without_history_has_no_facts(org: Path) -> None:
    (org / "alertmanager.yml").write_text("route: [\n")
    snap = collect(load_config(org / "ownership.yaml"), NOW)
    res = by_name(snap, "am")
    assert not res.status.ok and res.facts is None
    assert res.status.error.startswith(str(org / "alertmanager.yml") + ":")


def test_old_recording_is_stale(org: Path) -> None:
    rec = {
        "apiVersion": "ownership-agent/v1",
        "kind": "RecordedStatements",
        "recorded_at": "2026-11-11T09:30:00+00:00",
        "databases": {
            "orders": [
                {
                    "queryid": "1",
                    "query": "select 1",
                    "calls": 3,
                    "total_exec_time": 3.0,
                    "mean_exec_time": 1.0,
                    "rows": 3,
                }
            ]
        },
    }
    (org / "pg.json").write_text(json.dumps(rec))
    cfg = org / "ownership.yaml"
    cfg.write_text(cfg.read_text() + "  - name: pg\n    kind: postgres\n    recording: pg.json\n")
    snap = collect(load_config(cfg), NOW)
    res = by_name(snap, "pg")
    assert res.status.ok and res.status.stale
    assert "older than 1d" in res.status.detail
    assert len(res.facts.statements) == 1
