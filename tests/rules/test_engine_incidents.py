"""rules.engine's incident windows: the bisection over incidents in time order answers what a scan of
every incident answers, and OWN008's latest pages likewise (incidents built directly, no files)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from collectors.facts import PagerDutyFacts, PDIncident, Snapshot, SourceResult, SourceStatus
from rules.checks.own008_noisy_alert import NoisyAlert
from rules.engine import CheckContext, incident_times, incident_window, incidents_in_order, load_pack
from rules.graph import OwnershipGraph

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
_SORTED = ("pagerduty", "incident_times_sorted")


def _graph(incidents: list[PDIncident]) -> OwnershipGraph:
    status = SourceStatus(name="pagerduty", kind="pagerduty", ok=True, collected_at=NOW, last_success_at=NOW)
    snap = Snapshot(
        taken_at=NOW, now=NOW, sources=[SourceResult(status=status, facts=PagerDutyFacts(incidents=incidents))]
    )
    return OwnershipGraph.build(snap)


def _incidents(rnd: random.Random, n: int, in_order: bool) -> list[PDIncident]:
    out = []
    for k in range(n):
        tz = timezone(timedelta(hours=rnd.choice([0, 2, -5, 9])))
        # whole hours, so that several incidents share an instant (written in different offsets)
        created = (NOW - timedelta(hours=rnd.randint(-24, 24 * 60))).astimezone(tz)
        out.append(PDIncident(id=f"Q{k}", title="t", status="resolved", service_id="P", created_at=created))
    if in_order:
        out.sort(key=lambda i: i.created_at)
    return out


def _scanned(g: OwnershipGraph, since: datetime, until: datetime) -> list[int]:
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    return [n for n, c in enumerate(incident_times(g)) if since <= c <= until]


@pytest.mark.parametrize("in_order", [False, True])
def test_window_is_what_a_scan_finds(in_order: bool) -> None:
    rnd = random.Random(3)
    g = _graph(_incidents(rnd, 800, in_order))
    assert incidents_in_order(g) == in_order
    for days in (0, 1, 7, 30, 90):
        for until in (
            NOW,
            NOW - timedelta(hours=5),
            (NOW + timedelta(days=2)).astimezone(timezone(timedelta(hours=3))),
        ):
            since = until - timedelta(days=days)
            assert list(incident_window(g, since, until)) == _scanned(g, since, until)


def test_an_incident_at_either_end_is_in_the_window() -> None:
    tz = timezone(timedelta(hours=2))
    at = [NOW - timedelta(days=7), NOW - timedelta(days=3), NOW]
    g = _graph(
        [
            PDIncident(id=f"Q{k}", title="t", status="s", service_id="P", created_at=c.astimezone(tz))
            for k, c in enumerate(at)
        ]
    )
    assert incidents_in_order(g)
    assert list(incident_window(g, NOW - timedelta(days=7), NOW)) == [0, 1, 2]
    assert list(incident_window(g, NOW - timedelta(days=7, seconds=-1), NOW - timedelta(seconds=1))) == [1]


def test_naive_beside_aware_is_not_in_order() -> None:
    incs = _incidents(random.Random(1), 3, True)
    incs[1].created_at = incs[1].created_at.replace(tzinfo=None)
    assert not incidents_in_order(_graph(incs))


def test_latest_pages_are_those_a_sort_finds() -> None:
    rnd = random.Random(5)
    g = _graph(_incidents(rnd, 300, True))
    ctx = CheckContext(graph=g, now=NOW, pack=load_pack())
    pages = [i for i in g.pagerduty.incidents if rnd.random() < 0.3]
    assert incidents_in_order(g)
    fast = NoisyAlert._latest(ctx, pages, 5)
    g._memo[_SORTED] = False  # the sort itself
    assert [i.id for i in fast] == [i.id for i in NoisyAlert._latest(ctx, pages, 5)]
    assert [i.id for i in fast] == [i.id for i in sorted(pages, key=lambda i: i.created_at)[-5:]]
