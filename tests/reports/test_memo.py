"""The design-memo skeleton: golden files on the demo organisation, then/now from snapshot history,
escaping of everything a source says, a real Chromium rendering, and the CLI with the store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from reports.reports_support import check_golden, in_ci

from agent import demo
from agent.errors import InputError
from agent.reports.memo import Memo, build_memo, render_memo
from collectors.facts import Snapshot
from rules.findings import Finding
from rules.graph import OwnershipGraph
from rules.paging import PagingResolver

SCRIPT = "<script>alert(1)</script>"
SLOW_QUERY = "-4719263187501266313"  # the demo's planted slow ledger statement (OWN010)


def memo_of(graph: OwnershipGraph, findings: list[Finding], service: str, now: datetime, history=None) -> Memo:
    return build_memo(graph, PagingResolver(graph), findings, service, now, history, base_dir=demo.org_dir())


def with_info_runbook_finding(findings: list[Finding]) -> list[Finding]:
    """As a pack override `OWN004: {severity: info}` would make it: a low-severity finding to postpone."""
    out = [f.model_copy(deep=True) for f in findings]
    for f in out:
        if f.check == "OWN004":
            f.severity = "info"
    return out


CASES = {
    "ledger": lambda fs: fs,  # no SLO: implicit expectation; slow query, queue lag, alert routed nowhere
    "checkout": with_info_runbook_finding,  # two SLOs; a low-severity finding to postpone
    "storefront-web": lambda fs: fs,  # an SLO and a noisy alert
    "legacy-cron": lambda fs: fs,  # no team, no alert, nothing pages
}


@pytest.mark.parametrize("service", sorted(CASES))
@pytest.mark.parametrize("fmt", ["md", "html"])
def test_memo_golden(request, org_graph, org_findings, org_now, service: str, fmt: str) -> None:
    memo = memo_of(org_graph, CASES[service](org_findings), service, org_now)
    text = render_memo(memo, fmt)  # type: ignore[arg-type]
    assert str(demo.org_dir()) not in text and "/work/" not in text  # no absolute paths
    check_golden(request, f"memo-{service}.{fmt}", text)


def test_memo_is_deterministic(org_graph, org_findings, org_now) -> None:
    a = render_memo(memo_of(org_graph, org_findings, "checkout", org_now), "md")
    b = render_memo(memo_of(OwnershipGraph.build(org_graph.snapshot), org_findings, "checkout", org_now), "md")
    assert a == b


def test_six_questions_each_with_evidence_sources_and_an_empty_judgment(org_graph, org_findings, org_now) -> None:
    memo = memo_of(org_graph, org_findings, "checkout", org_now)
    assert [q.number for q in memo.questions] == [1, 2, 3, 4, 5, 6]
    for q in memo.questions:
        assert q.evidence, f"question {q.number} has no evidence"
        assert q.judgment == ""
        for c in q.evidence:
            assert c.source and c.kind and c.at is not None, (q.number, c)
        assert all(s.suggestion for s in q.suggestions)
    md = render_memo(memo, "md")
    assert md.count("\nYour judgment:\n") == 6
    assert md.count("**Suggestion:**") == sum(len(q.suggestions) for q in memo.questions)
    html = render_memo(memo, "html")
    assert html.count('<p class="judgment">Your judgment:</p>') == 6


def test_memo_content_on_the_demo(org_graph, org_findings, org_now) -> None:
    ledger = memo_of(org_graph, org_findings, "ledger", org_now)
    q1 = ledger.questions[0]
    assert q1.evidence[0].text.startswith("no SLO: the implicit expectation is")
    assert {"LedgerDown", "LedgerConsumerLagHigh", "LedgerBalanceMismatch"} <= {
        c.text.split(" ", 1)[0] for c in q1.evidence[1:]
    }
    # bottlenecks: the planted slow statement (a finding) first, the queue lag (a signal) listed too
    first = ledger.bottlenecks[0]
    assert (first.category, first.subject, first.finding) == ("database", SLOW_QUERY, "OWN010")
    assert any(b.category == "queue" and b.subject == "ledger.events" for b in ledger.bottlenecks)
    # the one-week change is the top finding and its fix; the metric proves it with today's value
    assert ledger.questions[3].suggestions[0].finding == f"OWN010 {SLOW_QUERY}"
    assert ledger.metric is not None and ledger.metric.spec.kind == "slow_query_mean_ms"
    assert ledger.metric.now.value == pytest.approx(1843.6)
    assert ledger.metric.then is None

    checkout = memo_of(org_graph, with_info_runbook_finding(org_findings), "checkout", org_now)
    assert [c.text.split(":")[0] for c in checkout.questions[0].evidence if c.tag == "SLO"] == [
        "SLO requests-availability",
        "SLO requests-latency",
    ]
    # the failure mode that hurts users first: the SLO's fast-burn page
    assert "CheckoutAvailabilityBurnRate" in checkout.questions[2].suggestions[0].text
    assert [s.finding for s in checkout.questions[4].suggestions] == ["OWN004 CheckoutPaymentProviderErrors"]

    web = memo_of(org_graph, org_findings, "storefront-web", org_now)
    assert web.bottlenecks[0].category == "noisy alerts" and web.bottlenecks[0].subject == "StorefrontWebHighLatency"
    assert web.metric is not None and web.metric.spec.kind == "alert_fires_30d" and web.metric.now.value == 27

    cron = memo_of(org_graph, org_findings, "legacy-cron", org_now)
    assert "no alert pages anyone" in cron.questions[0].evidence[0].text


def test_unknown_service_and_format(org_graph, org_findings, org_now) -> None:
    with pytest.raises(InputError):
        memo_of(org_graph, org_findings, "no-such-service", org_now)
    with pytest.raises(ValueError):
        render_memo(memo_of(org_graph, org_findings, "ledger", org_now), "pdf")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- then and now


def earlier(snap: Snapshot, at: datetime, mean_ms: float, lag: float) -> Snapshot:
    """The demo snapshot as it would have been at `at`, with other signal values."""
    s = snap.model_copy(deep=True)
    s.now = at
    s.id = None
    for res in s.sources:
        f = res.facts
        if f is not None and f.kind == "postgres":
            for st in f.statements:
                if st.queryid == SLOW_QUERY:
                    st.mean_exec_time_ms = mean_ms
        if f is not None and f.kind == "prometheus_signals":
            for q in f.queue_lag:
                if q.queue == "ledger.events":
                    q.value = lag
    return s


def test_later_memo_shows_the_metric_then_and_now(request, org_snapshot, org_findings, org_now) -> None:
    then_at = org_now - timedelta(days=14)
    mid_at = org_now - timedelta(days=7)
    current = org_snapshot.model_copy(deep=True)
    current.id = 3
    history = [
        (2, mid_at, OwnershipGraph.build(earlier(org_snapshot, mid_at, 2100.0, 9000))),
        (1, then_at, earlier(org_snapshot, then_at, 2400.0, 12000)),  # a Snapshot is accepted too
        (4, org_now + timedelta(days=1), earlier(org_snapshot, org_now, 1.0, 1)),  # after now: ignored
    ]
    memo = memo_of(OwnershipGraph.build(current), org_findings, "ledger", org_now, history)
    m = memo.metric
    assert m is not None and m.spec.kind == "slow_query_mean_ms"
    assert m.then is not None and (m.then.snapshot_id, m.then.at, m.then.value) == (1, then_at, 2400.0)
    assert [(p.snapshot_id, p.value) for p in m.history] == [(1, 2400.0), (2, 2100.0)]
    assert m.now.value == pytest.approx(1843.6) and m.now.snapshot_id == 3
    assert m.change == pytest.approx(1843.6 - 2400.0)
    md = render_memo(memo, "md")
    assert "then (snapshot 1 as of 2026-11-02 09:30 UTC): 2,400 ms" in md
    assert "now (snapshot 3 as of 2026-11-16 09:30 UTC): 1,843.6 ms" in md
    check_golden(request, "memo-ledger-history.md", md)
    html = render_memo(memo, "html")
    assert "2,400 ms" in html and "2,100 ms" in html


def test_a_fixed_findings_metric_is_still_measured_then_and_now(org_snapshot, org_loaded, org_now) -> None:
    """The memo of two weeks ago chose the slow statement's mean (its top finding, OWN010). The fix worked: the
    statement now takes 2 ms and OWN010 is gone, so today's top finding would choose another metric; the memo
    keeps the earlier choice and shows the statement's mean then and now."""
    from rules.engine import run_checks

    pack = org_loaded.pack()
    then_at = org_now - timedelta(days=14)
    fixed = earlier(org_snapshot, org_now, 2.0, 1)
    fixed.now, fixed.id = org_now, 3
    for res in fixed.sources:
        if res.facts is not None and res.facts.kind == "postgres":
            for st in res.facts.statements:
                if st.queryid == SLOW_QUERY:
                    st.total_exec_time_ms = 2.0 * st.calls
    graph = OwnershipGraph.build(fixed)
    findings = run_checks(graph, org_now, pack)
    assert not [f for f in findings if f.check == "OWN010" and f.subject == SLOW_QUERY]
    history = [(1, then_at, earlier(org_snapshot, then_at, 1843.6, 12000))]
    memo = build_memo(graph, PagingResolver(graph), findings, "ledger", org_now, history, pack=pack)
    m = memo.metric
    assert m is not None and m.spec.kind == "slow_query_mean_ms" and m.spec.subject == SLOW_QUERY
    assert m.then is not None and m.then.value == pytest.approx(1843.6) and m.now.value == pytest.approx(2.0)
    assert "the memo of 2026-11-02 09:30 UTC chose" in m.why
    # without the earlier choice (no pack): today's top finding chooses, the statement is not shown
    other = build_memo(graph, PagingResolver(graph), findings, "ledger", org_now, history).metric
    assert other is not None and other.spec.subject != SLOW_QUERY


def test_queue_metric_then_and_now(org_snapshot, org_findings, org_now) -> None:
    """A queue finding's metric (OWN009 on notifications-sms) read from two snapshots with other lag values."""
    then_at = org_now - timedelta(days=7)
    old = org_snapshot.model_copy(deep=True)
    old.now = then_at
    for res in old.sources:
        if res.facts is not None and res.facts.kind == "prometheus_signals":
            for q in res.facts.queue_lag:
                if q.queue == "notifications-sms":
                    q.value = 300.0
    findings = [f for f in org_findings if f.service != "notifications" or f.check == "OWN009"]
    memo = memo_of(org_graph_of(org_snapshot), findings, "notifications", org_now, [(7, then_at, old)])
    m = memo.metric
    assert m is not None and m.spec.kind == "queue_lag" and m.spec.subject == "notifications-sms"
    assert (m.then and m.then.value, m.now.value, m.unit) == (300.0, 1260.0, "seconds")


def org_graph_of(snap: Snapshot) -> OwnershipGraph:
    return OwnershipGraph.build(snap)


# --------------------------------------------------------------------------- escaping


def hostile(snap: Snapshot) -> Snapshot:
    """The demo with a script where sources put free text: an annotation, a service name, an incident title."""
    s = snap.model_copy(deep=True)
    for res in s.sources:
        f = res.facts
        if f is None:
            continue
        if f.kind == "prometheus":
            for r in f.rules:
                if r.name in ("LedgerDown", "LedgerConsumerLagHigh"):
                    r.annotations["summary"] = SCRIPT
        if f.kind == "catalog":
            for svc in f.services:
                if svc.name == "ledger":
                    svc.name = "ledger" + SCRIPT
                    svc.description = SCRIPT
            for t in f.teams:
                if t.name == "payments":
                    t.display_name = SCRIPT
        if f.kind == "pagerduty":
            for i in f.incidents:
                if i.service_id == "PF07UQN" and i.status != "resolved":
                    i.title = SCRIPT
    return s


def test_html_escapes_everything_from_a_source(org_snapshot, org_findings, org_now) -> None:
    from agent.reports.handoff import build_handoff, render_handoff

    g = OwnershipGraph.build(hostile(org_snapshot))
    memo = memo_of(g, org_findings, "ledger" + SCRIPT, org_now)
    html = render_memo(memo, "html")
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "ledger&lt;script&gt;" in html  # the service name in the title
    md = render_memo(memo, "md")
    assert SCRIPT not in md and r"\<script\>alert(1)\</script\>" in md

    h = build_handoff(g, PagingResolver(g), org_findings, "payments", org_now - timedelta(days=1), org_now)
    assert any(r.title == SCRIPT for r in h.open_incidents)
    assert any(a.summary == SCRIPT for a in h.firing_now)
    page = render_handoff(h, "html")
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # team name, incident title, annotation
    assert SCRIPT not in render_handoff(h, "md")


# --------------------------------------------------------------------------- a real browser


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def screenshot(html: Path, png: Path, profile: Path) -> None:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--screenshot={png}",
        "--window-size=1200,1600",
        html.as_uri(),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert png.exists(), f"chromium wrote no screenshot (exit {p.returncode}): {p.stderr[-2000:]}"


def test_html_memo_renders_in_chromium(tmp_path: Path, org_graph, org_findings, org_now) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        reason = "chromium not installed; apt-get install -y --no-install-recommends chromium"
        if in_ci():
            pytest.fail(f"CI is set but {reason}", pytrace=False)
        pytest.skip(reason)
    from PIL import Image

    html = tmp_path / "memo.html"
    html.write_text(render_memo(memo_of(org_graph, org_findings, "checkout", org_now), "html"), encoding="utf-8")
    png = tmp_path / "memo.png"
    screenshot(html, png, tmp_path / "profile")
    with Image.open(png) as img:
        assert img.size == (1200, 1600)
        rgb = img.convert("RGB")
        grey = rgb.convert("L").histogram()
        colours = rgb.getcolors(maxcolors=1 << 20) or []
    total = sum(grey)
    inked = sum(grey[:200])  # text, tags, borders: darker than the white page and its light grey frame
    assert inked > 0.01 * total, f"screenshot looks blank: {inked} dark pixels of {total}"
    assert len(colours) > 20, f"screenshot has {len(colours)} colours: nothing rendered"


# --------------------------------------------------------------------------- the command line


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env
    )


def test_cli_memo_uses_earlier_snapshots_from_the_store(tmp_path: Path, org_snapshot, org_now) -> None:
    from agent.store import Store

    db = tmp_path / "state" / "ownership-agent" / "demo.db"
    db.parent.mkdir(parents=True)
    store = Store(f"sqlite:///{db}")
    store.migrate()
    store.save(earlier(org_snapshot, org_now - timedelta(days=7), 2400.0, 12000))
    store.close()

    p = run_cli(tmp_path, "--demo", "memo", "ledger")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("# Design memo: ledger\n")
    assert "then (snapshot 1 as of 2026-11-09 09:30 UTC): 2,400 ms" in p.stdout
    assert "now (snapshot 2 as of 2026-11-16 09:30 UTC): 1,843.6 ms" in p.stdout

    p = run_cli(tmp_path, "memo", "ledger", "--demo", "--format", "html", "--output", "memo.html")
    assert p.returncode == 0, p.stderr
    page = (tmp_path / "memo.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Design memo: ledger" in page

    p = run_cli(tmp_path, "--demo", "--format", "json", "memo", "checkout")
    assert p.returncode == 0, p.stderr
    assert Memo.model_validate_json(p.stdout).service == "checkout"

    p = run_cli(tmp_path, "--demo", "memo", "nope")
    assert p.returncode == 2 and 'unknown service "nope"' in p.stderr
    p = run_cli(tmp_path, "--demo", "--format", "sarif", "memo", "ledger")
    assert p.returncode == 2
