"""Live PagerDuty collection through the real `pagerduty` client against the FastAPI fake (tests/fakes).

Acceptance for issue 5's PagerDuty part: a full read equals the fake's data; 429s are waited out as
asked; a 500, a timeout and invalid JSON each fail the source with a named error while the pipeline
keeps its previous facts; the token never shows; a later run is incremental; the export command
writes a folder the file collector reads back to the same facts.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx2
import pytest
from fakes import pagerduty_fake
from fakes.pagerduty_fake import FakeOrg, FakePagerDuty

from agent import cli
from agent.config import PagerDutySource, load_config
from agent.errors import InputError, SourceError
from agent.pipeline import collect
from collectors import pagerduty_live
from collectors.facts import PagerDutyFacts, PDIncident, PDLogEntry
from collectors.pagerduty import PagerDutyCollector
from collectors.pagerduty_export import facts_from_bodies, load_export_dir
from collectors.pagerduty_live import RateLimiter, asked_wait, merge_incremental, split_window
from collectors.secrets import fingerprint

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
SECRET = "pd-secret-7Fq2Zx9Lw3Kp"  # a known token value that must never show
CATALOG = Path(__file__).parent.parent / "testdata" / "org-small" / "catalog.yaml"
FAST = {"rate_limit_per_minute": 60_000, "concurrency": 4, "retries": 3}


@pytest.fixture(scope="module")
def fake():
    with FakePagerDuty(FakeOrg.generate(seed=3, now=NOW, services=50, incidents=500), token=SECRET) as pd:
        yield pd


@pytest.fixture
def pd(fake: FakePagerDuty, monkeypatch: pytest.MonkeyPatch) -> FakePagerDuty:
    """The shared fake with a fresh organisation, no faults and an empty request log."""
    monkeypatch.setenv("PD_TEST_TOKEN", SECRET)
    fake.org = FakeOrg.generate(seed=3, now=NOW, services=50, incidents=500)
    fake.token = SECRET
    fake.clear_faults()
    fake.clear_log()
    yield fake
    fake.clear_faults()


def source(**kw) -> PagerDutySource:
    settings = {"name": "pd", "kind": "pagerduty", "auth": {"token_env": "PD_TEST_TOKEN"}, **FAST, **kw}
    return PagerDutySource.model_validate(settings)


def read(pd: FakePagerDuty, now: datetime = NOW, previous: PagerDutyFacts | None = None, **kw):
    c = PagerDutyCollector(
        source(**kw), Path("."), now=now, previous_facts=previous, pagerduty_transport=pd.transport()
    )
    return c.collect()


def expected(pd: FakePagerDuty, now: datetime = NOW) -> PagerDutyFacts:
    return facts_from_bodies(pd.org.expected_bodies(now), "pd")


def as_set(items) -> set[str]:
    return {i.model_dump_json() for i in items}


def write_config(tmp_path: Path, **kw) -> Path:
    shutil.copy(CATALOG, tmp_path / "catalog.yaml")
    pd_src = {"name": "pd", "kind": "pagerduty", "auth": {"token_env": "PD_TEST_TOKEN"}, **FAST, **kw}
    cfg = {
        "apiVersion": "ownership-agent/v1",
        "kind": "Config",
        "store": {"url": "sqlite:///.ownership/test.db"},
        "sources": [{"name": "catalog", "kind": "catalog", "files": ["catalog.yaml"]}, pd_src],
    }
    path = tmp_path / "ownership.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def status(snap, name: str):
    return next(s for s in snap.sources if s.status.name == name)


# --------------------------------------------------------------------------- full read


def test_full_collection_equals_the_fake(pd: FakePagerDuty) -> None:
    got = read(pd)
    facts, want = got.facts, expected(pd)
    assert isinstance(facts, PagerDutyFacts)
    for ep in ("services", "escalation_policies", "schedules", "oncalls", "users", "teams", "maintenance_windows"):
        assert as_set(getattr(facts, ep)) == as_set(getattr(want, ep)), ep
    assert sorted(facts.incidents, key=lambda i: i.id) == sorted(want.incidents, key=lambda i: i.id)
    assert sorted(facts.log_entries, key=lambda e: e.id) == sorted(want.log_entries, key=lambda e: e.id)
    assert (len(facts.services), len(facts.incidents), len(facts.users)) == (50, 500, 25)
    # a few deep equalities, checked against the fake's own records
    svc = pd.org.services[3]
    got_svc = next(s for s in facts.services if s.id == svc["id"])
    assert [i.key_fingerprint for i in got_svc.integrations] == [
        fingerprint(pd.org.integration_keys[i]) for i in svc["integrations"]
    ]
    assert got_svc.escalation_policy_id == svc["escalation_policy"]["id"]
    policy = next(p for p in facts.escalation_policies if p.id == pd.org.policies[1]["id"])
    assert [(lv.level, [t.type for t in lv.targets]) for lv in policy.levels] == [(1, ["schedule"]), (2, ["user"])]
    acked = next(i for i in pd.org.incidents if i.status == "acknowledged")
    got_inc = next(i for i in facts.incidents if i.id == acked.id)
    assert got_inc.acknowledged_at == acked.acknowledged_at
    assert got_inc.assignees == [pagerduty_fake.pid("U", acked.assignee)]  # type: ignore[arg-type]
    assert any(o.schedule_id is None and o.start is None for o in facts.oncalls)
    # the windows asked for, and nothing else
    inc_req = next(r for r in pd.requests if r.endpoint == "incidents")
    assert ("since", "2026-08-18T09:30:00Z") in inc_req.params and ("until", "2026-11-16T09:30:00Z") in inc_req.params
    oncall_req = next(r for r in pd.requests if r.endpoint == "oncalls")
    assert ("until", "2026-11-30T09:30:00Z") in oncall_req.params
    assert ("include[]", "integrations") in next(r for r in pd.requests if r.endpoint == "services").params
    assert ("is_overview", "true") in next(r for r in pd.requests if r.endpoint == "log_entries").params
    assert pd.count(status=200) == pd.count()
    assert "full read" in (got.detail or "")


def test_windows_split_under_the_offset_cap(pd: FakePagerDuty, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the cap lowered to 500 (in the fake and the collector), lists that exceed it are read in windows."""
    for module in (pagerduty_live, pagerduty_fake):
        monkeypatch.setattr(module, "OFFSET_CAP", 500)
    monkeypatch.setattr(pagerduty_live, "WINDOW_TARGET", 400)
    pd.org = FakeOrg.generate(seed=5, now=NOW, services=200, incidents=2_000)
    facts = read(pd).facts
    want = expected(pd)
    assert len(want.incidents) == 2_000 and len(want.log_entries) > 4_000 and len(want.oncalls) > 500
    for ep in ("incidents", "log_entries", "oncalls", "services"):
        assert as_set(getattr(facts, ep)) == as_set(getattr(want, ep)), ep
    assert len(facts.oncalls) == len(want.oncalls)  # on-calls repeated across windows are kept once
    assert pd.count(status=400) == 0
    for r in pd.requests:
        p = dict(r.params)
        assert int(p["offset"]) + int(p["limit"]) <= 500
    # an incidents window was split more than once (the records are not even in time)
    windows = {dict(r.params)["since"] for r in pd.requests if r.endpoint == "incidents"}
    assert len(windows) >= 5


def test_a_list_without_time_window_beyond_the_cap_is_refused(pd: FakePagerDuty, monkeypatch) -> None:
    for module in (pagerduty_live, pagerduty_fake):
        monkeypatch.setattr(module, "OFFSET_CAP", 20)
    with pytest.raises(SourceError) as e:
        read(pd)
    assert "more than the 20 that classic pagination can reach" in str(e.value)
    assert str(e.value).startswith("pd: GET /")


# --------------------------------------------------------------------------- faults


def test_429_three_times_then_success_waits_as_asked(pd: FakePagerDuty) -> None:
    pd.throttle("incidents", times=3, retry_after=1)
    t0 = time.monotonic()
    got = read(pd)
    elapsed = time.monotonic() - t0
    assert sorted(got.facts.incidents, key=lambda i: i.id) == sorted(expected(pd).incidents, key=lambda i: i.id)
    assert pd.count("incidents", status=429) == 3
    first = [r.at for r in pd.requests if r.endpoint == "incidents"][:4]
    gaps = [b - a for a, b in zip(first, first[1:], strict=False)]
    assert all(g >= 0.95 for g in gaps), gaps  # each retry waited the Retry-After second
    assert 3.0 <= elapsed < 10


def test_429_retries_are_bounded(pd: FakePagerDuty) -> None:
    pd.throttle("teams", times=None, retry_after=0.1, header="ratelimit-reset")  # PagerDuty's own header
    with pytest.raises(SourceError) as e:
        read(pd, retries=2)
    assert str(e.value).startswith("pd: GET /teams: HTTP 429 Too Many Requests after 2 retries")
    assert pd.count("teams") == 3


def test_500_on_one_endpoint_keeps_previous_facts(pd: FakePagerDuty, tmp_path: Path) -> None:
    loaded = load_config(write_config(tmp_path, retries=1))
    good = collect(loaded, NOW, pagerduty_transport=pd.transport())
    assert all(s.status.ok for s in good.sources)
    pd.fail("escalation_policies")  # every time
    bad = collect(loaded, NOW, previous=good, pagerduty_transport=pd.transport())
    res = status(bad, "pd")
    assert not res.status.ok and res.status.stale
    assert res.status.error.startswith("pd: GET /escalation_policies: HTTP 500 Internal Server Error after 1 retry")
    assert res.facts == status(good, "pd").facts  # never replaced by an empty answer
    assert status(bad, "catalog").status.ok  # the other source is complete
    assert pd.count("escalation_policies", status=500) == 2


PAYMENT_REQUIRED = (
    "GET /teams: HTTP 402 Payment Required: Required abilities are unavailable; "
    "The teams account ability is required to access teams (code 2014)"
)


def test_402_on_teams_reads_everything_else(pd: FakePagerDuty, caplog: pytest.LogCaptureFixture) -> None:
    """An account without the `teams` ability: GET /teams answers 402 (the spec's PaymentRequired). Teams
    are optional: no teams, a warning and a note in the detail, and the source is not failed."""
    caplog.set_level(logging.WARNING, logger="ownership.collect.pagerduty")
    pd.lacks_ability("teams")
    got = read(pd)
    facts, want = got.facts, expected(pd)
    assert facts.teams == [] and want.teams
    for ep in ("services", "escalation_policies", "schedules", "oncalls", "users", "incidents", "log_entries"):
        assert as_set(getattr(facts, ep)) == as_set(getattr(want, ep)), ep
    assert (pd.count("teams"), pd.count("teams", status=402)) == (1, 1)  # not retried
    assert (got.detail or "").endswith(f"full read, {pd.count()} requests; teams not read: {PAYMENT_REQUIRED}")
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"pd: {PAYMENT_REQUIRED}: the account lacks the ability; read without teams"
    ]


def test_402_on_teams_keeps_the_source_ok_in_the_pipeline(pd: FakePagerDuty, tmp_path: Path) -> None:
    loaded = load_config(write_config(tmp_path))
    first = collect(loaded, NOW, pagerduty_transport=pd.transport())
    assert status(first, "pd").facts.teams
    pd.lacks_ability("teams")
    second = collect(loaded, NOW + timedelta(minutes=10), previous=first, pagerduty_transport=pd.transport())
    res = status(second, "pd")
    assert res.status.ok and not res.status.stale, res.status.error
    assert res.facts.teams == [] and len(res.facts.services) == 50
    assert "incremental" in (res.status.detail or "") and f"teams not read: {PAYMENT_REQUIRED}" in (
        res.status.detail or ""
    )


@pytest.mark.parametrize("endpoint", ["services", "incidents"])
def test_402_on_a_list_the_facts_need_fails_the_source(pd: FakePagerDuty, endpoint: str) -> None:
    """Services are required; /incidents answers 402 only for ability-gated parameters the collector never
    sends: both stay errors."""
    pd.fail(endpoint, 402)
    with pytest.raises(SourceError) as e:
        read(pd)
    assert (
        str(e.value)
        == f"pd: GET /{endpoint}: HTTP 402 Payment Required: Required abilities are unavailable (code 2014)"
    )


def test_request_timeout_is_a_named_error(pd: FakePagerDuty) -> None:
    pd.slow("users", 2.0)
    with pytest.raises(SourceError) as e:
        read(pd, request_timeout_s=0.5, retries=1)
    assert str(e.value) == "pd: GET /users: no answer within 0.5s (2 attempts)"


def test_source_timeout_stops_the_collection(pd: FakePagerDuty) -> None:
    pd.slow("incidents", 1.0)
    t0 = time.monotonic()
    with pytest.raises(SourceError) as e:
        read(pd, timeout_s=0.4)
    assert str(e.value).startswith("pd: timed out after 0.4s")
    assert time.monotonic() - t0 < 2.5


def test_source_timeout_ends_retry_waits_and_sends_nothing_after(pd: FakePagerDuty) -> None:
    """A request waiting out a Retry-After when the deadline passes neither holds the source past it nor
    sends its retry later (it would run beside the next collection, under another rate limiter)."""
    pd.throttle("maintenance_windows", times=None, retry_after=2)
    t0 = time.monotonic()
    with pytest.raises(SourceError) as e:
        read(pd, timeout_s=0.5, retries=3)
    assert str(e.value).startswith("pd: timed out after 0.5s")
    assert time.monotonic() - t0 < 1.9  # before the first Retry-After is over (it was 6 s: 3 retries of 2 s)
    # (not incidents: a slow request of the test before may still be answered while this one runs)
    assert pd.count("maintenance_windows") == 1  # the first answer was the 429: its retry waits
    time.sleep(2.5)  # the wait asked for is over: the waiting request would retry now
    assert pd.count("maintenance_windows") == 1


def test_invalid_json_is_a_named_error(pd: FakePagerDuty) -> None:
    pd.invalid_json("schedules")
    with pytest.raises(SourceError) as e:
        read(pd)
    assert str(e.value) == "pd: GET /schedules: the answer is not valid JSON (HTTP 200)"


def test_token_never_shows(pd: FakePagerDuty, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    (tmp_path / "token").write_text(SECRET + "\n")
    loaded = load_config(write_config(tmp_path, retries=1, auth={"token_file": "token"}))
    good = collect(loaded, NOW, pagerduty_transport=pd.transport())
    assert status(good, "pd").status.ok
    texts = [good.model_dump_json()]
    for fault in ("status", "invalid_json", "refused"):
        pd.clear_faults()
        if fault == "status":
            pd.fail("users", status=503)
        elif fault == "invalid_json":
            pd.invalid_json("teams")
        else:
            pd.token = "another-token"  # the API refuses ours: 401
        snap = collect(loaded, NOW, previous=good, pagerduty_transport=pd.transport())
        res = status(snap, "pd")
        assert not res.status.ok and res.status.error
        texts += [res.status.error, snap.model_dump_json()]
    assert "401 Unauthorized: the token was refused (check pd.auth)" in texts[-2]
    assert caplog.text  # the client and httpx2 did log at DEBUG
    for text in [*texts, caplog.text]:
        assert SECRET not in text
        assert SECRET[-8:] not in text


# --------------------------------------------------------------------------- incremental


def test_incremental_second_collection(pd: FakePagerDuty, tmp_path: Path) -> None:
    loaded = load_config(write_config(tmp_path))
    first = collect(loaded, NOW, pagerduty_transport=pd.transport())
    assert status(first, "pd").status.ok
    org = pd.org
    older_open = [i.id for i in org.incidents if i.status != "resolved"][:20]
    assert len(older_open) == 20
    new_ids = org.add_incidents(50, NOW + timedelta(minutes=1), NOW + timedelta(minutes=50))
    org.resolve(older_open, NOW + timedelta(minutes=55))
    later = NOW + timedelta(hours=1)
    pd.clear_log()
    second = collect(loaded, later, previous=first, pagerduty_transport=pd.transport())
    res = status(second, "pd")
    assert res.status.ok, res.status.error
    assert pd.count("incidents") + pd.count("log_entries") <= 5
    assert "incremental" in (res.status.detail or "") and "50 new, 20 updated" in (res.status.detail or "")
    facts = res.facts
    want = expected(pd, later)
    got = {i.id: i for i in facts.incidents}
    for ident in [*new_ids, *older_open]:  # all 70 right
        assert got[ident] == next(i for i in want.incidents if i.id == ident)
    for ident in older_open:
        assert got[ident].status == "resolved" and got[ident].assignees == []
    assert sorted(facts.incidents, key=lambda i: i.id) == sorted(want.incidents, key=lambda i: i.id)
    assert sorted(facts.log_entries, key=lambda e: e.id) == sorted(want.log_entries, key=lambda e: e.id)


def test_incremental_applies_escalations_delegations_and_urgency_changes(pd: FakePagerDuty, tmp_path: Path) -> None:
    """Incidents created before the watermark and escalated, delegated, reassigned or with their urgency
    changed between two collections read as a full read reads them (an acknowledged one escalated or
    reassigned is triggered again), also when resolved after the change; new incidents too."""
    loaded = load_config(write_config(tmp_path))
    first = collect(loaded, NOW, pagerduty_transport=pd.transport())
    assert status(first, "pd").status.ok
    org = pd.org
    acked = [i.id for i in org.incidents if i.status == "acknowledged"]
    triggered = [i.id for i in org.incidents if i.status == "triggered"]
    assert len(acked) >= 11 and len(triggered) >= 4
    at = NOW + timedelta(minutes=5)
    new_ids = org.add_incidents(5, NOW + timedelta(minutes=1), NOW + timedelta(minutes=4))
    org.escalate([*acked[0:2], triggered[0], new_ids[0]], at)
    org.delegate([*acked[2:4], triggered[1], new_ids[1]], at + timedelta(minutes=1))
    org.change_urgency([*acked[4:6], triggered[2], new_ids[2]], at + timedelta(minutes=2))
    org.reassign(acked[6:8], at + timedelta(minutes=3))
    org.acknowledge([triggered[3]], at + timedelta(minutes=4))
    # changed, then resolved before the next collection: the open list no longer holds them
    org.delegate([acked[8]], at + timedelta(minutes=5))
    org.change_urgency([acked[9]], at + timedelta(minutes=5))
    org.escalate([acked[10]], at + timedelta(minutes=5))
    org.resolve(acked[8:11], at + timedelta(minutes=6))
    later = NOW + timedelta(hours=1)
    pd.clear_log()
    second = collect(loaded, later, previous=first, pagerduty_transport=pd.transport())
    res = status(second, "pd")
    assert res.status.ok, res.status.error
    detail = res.status.detail or ""
    assert "incremental" in detail and "5 new, 15 updated" in detail, detail
    # new incidents, open incidents, log entries, and the two resolved ones whose new policy or urgency
    # no log entry says, each read again: still a few requests
    assert pd.count("incidents") + pd.count("log_entries") <= 5, pd.counts()
    assert f"{pd.count()} requests" in detail
    facts = res.facts
    want = expected(pd, later)
    by_id = {i.id: i for i in want.incidents}
    got = {i.id: i for i in facts.incidents}
    changed = [*acked[:11], *triggered[:4], *new_ids]
    for ident in changed:
        assert got[ident] == by_id[ident], ident
    # what changed, as the fake's own records say
    records = {i.id: i for i in org.incidents}
    before = {i.id: i for i in status(first, "pd").facts.incidents}
    for ident in [*acked[0:2], triggered[0]]:  # escalated: the second level's user, triggered again
        assert got[ident].status == "triggered"
        assert got[ident].assignees == [pagerduty_fake.pid("U", records[ident].assignee)]  # type: ignore[arg-type]
        assert got[ident].assignees != before[ident].assignees
    for ident in [*acked[2:4], triggered[1], acked[8]]:  # delegated: another escalation policy
        assert got[ident].escalation_policy_id == org.policies[records[ident].policy]["id"]  # type: ignore[index]
        assert got[ident].escalation_policy_id != before[ident].escalation_policy_id
    for ident in [*acked[4:6], triggered[2], acked[9]]:
        assert got[ident].urgency != before[ident].urgency
    for ident in acked[6:8]:
        assert got[ident].status == "triggered" and got[ident].assignees != before[ident].assignees
    assert [got[i].status for i in acked[8:11]] == ["resolved"] * 3
    # everything equals a full read at the same instant, and the fake's expected bodies
    assert sorted(facts.incidents, key=lambda i: i.id) == sorted(want.incidents, key=lambda i: i.id)
    assert sorted(facts.log_entries, key=lambda e: e.id) == sorted(want.log_entries, key=lambda e: e.id)
    full = read(pd, now=later).facts
    assert sorted(facts.incidents, key=lambda i: i.id) == sorted(full.incidents, key=lambda i: i.id)


def test_incremental_reads_the_open_incidents_over_the_whole_window(pd: FakePagerDuty, tmp_path: Path) -> None:
    loaded = load_config(write_config(tmp_path))
    first = collect(loaded, NOW, pagerduty_transport=pd.transport())
    pd.clear_log()
    later = NOW + timedelta(minutes=30)
    second = collect(loaded, later, previous=first, pagerduty_transport=pd.transport())
    assert status(second, "pd").status.ok
    asked = [r.params for r in pd.requests if r.endpoint == "incidents"]
    statuses = [[v for k, v in params if k == "statuses[]"] for params in asked]
    assert sorted(statuses) == [[], ["triggered", "acknowledged"]]  # the new incidents, the open ones
    open_list = dict(asked[statuses.index(["triggered", "acknowledged"])])
    assert (open_list["since"], open_list["until"]) == ("2026-08-18T10:00:00Z", "2026-11-16T10:00:00Z")


def test_merge_applies_a_resolve_to_an_incident_of_the_fresh_lists() -> None:
    """Resolved between the open list read and the log entries read: the resolve entry still applies
    (resolved is terminal); an incident open before that no list holds and no entry resolves is resolved."""
    t0 = NOW - timedelta(days=1)

    def inc(ident: str, status: str) -> PDIncident:
        return PDIncident(id=ident, title=ident, status=status, service_id="PV1", created_at=t0, assignees=["PU1"])

    previous = PagerDutyFacts(incidents=[inc("A", "triggered"), inc("B", "acknowledged")])
    resolve = PDLogEntry(id="L1", type="resolve_log_entry", created_at=NOW, incident_id="A")
    fresh = PagerDutyFacts(log_entries=[resolve])
    merged, new, updated = merge_incremental(previous, fresh, NOW - timedelta(days=90), [inc("A", "acknowledged")])
    got = {i.id: i for i in merged.incidents}
    assert (got["A"].status, got["A"].resolved_at, got["A"].assignees) == ("resolved", NOW, [])
    assert (got["B"].status, got["B"].assignees) == ("resolved", [])
    assert (new, updated) == (0, 2)


def test_old_previous_facts_mean_a_full_read(pd: FakePagerDuty) -> None:
    old = read(pd, now=NOW - timedelta(days=200)).facts
    got = read(pd, previous=old)
    assert "full read" in (got.detail or "")


# --------------------------------------------------------------------------- export


def test_export_then_file_collector_equals_live(pd: FakePagerDuty, tmp_path: Path, monkeypatch) -> None:
    cfg = write_config(tmp_path)
    monkeypatch.setattr(pagerduty_live, "default_transport", pd.transport)
    out = tmp_path / "export"
    rc = cli.main(["--config", str(cfg), "--now", NOW.isoformat(), "export", "pagerduty", str(out)])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{ep}.json" for ep in pagerduty_fake.ENDPOINTS)
    body = json.loads((out / "services.json").read_text())
    assert set(body) == {"services", "limit", "offset", "more", "total"} and len(body["services"]) == 50
    from_files = load_export_dir(out, "pd")
    live = read(pd).facts
    assert from_files == live


def test_export_says_which_list_the_account_may_not_read(
    pd: FakePagerDuty, tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path)
    monkeypatch.setattr(pagerduty_live, "default_transport", pd.transport)
    pd.lacks_ability("teams")
    out = tmp_path / "export"
    rc = cli.main(["--config", str(cfg), "--now", NOW.isoformat(), "--format", "json", "export", "pagerduty", str(out)])
    assert rc == 0
    got = json.loads(capsys.readouterr().out)
    assert got["files"]["teams.json"] == 0 and "HTTP 402" in got["not_read"]["teams"]
    assert json.loads((out / "teams.json").read_text())["teams"] == []
    rc = cli.main(["--config", str(cfg), "--now", NOW.isoformat(), "export", "pagerduty", str(out)])
    assert rc == 0
    assert "pd: teams written empty, not read: GET /teams: HTTP 402" in capsys.readouterr().err


def test_export_refuses_a_files_source(tmp_path: Path) -> None:
    shutil.copytree(Path(__file__).parent.parent / "testdata" / "org-small", tmp_path / "org")
    rc = cli.main(["--config", str(tmp_path / "org" / "ownership.yaml"), "export", "pagerduty", str(tmp_path / "x")])
    assert rc == 2


# --------------------------------------------------------------------------- units


def test_asked_wait_reads_retry_after_and_ratelimit_reset() -> None:
    def resp(headers: dict[str, str]) -> httpx2.Response:
        return httpx2.Response(429, headers=headers)

    assert asked_wait(resp({"Retry-After": "7"})) == 7
    assert asked_wait(resp({"ratelimit-reset": "12"})) == 12
    assert asked_wait(resp({"Retry-After": "2", "ratelimit-reset": "30"})) == 2
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (asked_wait(resp({"Retry-After": when})) or 0) <= 30
    assert asked_wait(resp({})) is None


def test_rate_limiter_spaces_requests_and_pauses() -> None:
    clock = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        clock[0] += s

    lim = RateLimiter(960, clock=lambda: clock[0], sleep=sleep)
    for _ in range(4):
        lim.acquire()
    assert slept == pytest.approx([0.0625] * 3)
    lim.pause(5)
    lim.acquire()
    assert slept[-1] == pytest.approx(5)


def test_split_window_covers_the_window_in_whole_seconds() -> None:
    w = (NOW - timedelta(days=90), NOW)
    parts = split_window(w, 12)
    assert len(parts) == 12 and parts[0][0] == w[0] and parts[-1][1] == w[1]
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:], strict=False))
    assert split_window((NOW, NOW + timedelta(seconds=3)), 10) == [
        (NOW + timedelta(seconds=i), NOW + timedelta(seconds=i + 1)) for i in range(3)
    ]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "set export_dir (an export folder) or auth"),
        ({"auth": {"token_env": "X"}, "base_url": "http://api.pagerduty.com"}, "base_url"),
        (
            {"auth": {"token_env": "X"}, "incidents_window": "200d"},
            "incidents_window must be more than 0 and at most 180d",
        ),
        ({"auth": {"token_env": "X"}, "oncalls_future": "14x"}, "not a valid duration"),
    ],
)
def test_config_is_checked(tmp_path: Path, settings: dict, message: str) -> None:
    cfg = {
        "apiVersion": "ownership-agent/v1",
        "kind": "Config",
        "sources": [{"name": "pd", "kind": "pagerduty", **settings}],
    }
    (tmp_path / "ownership.yaml").write_text(json.dumps(cfg))
    with pytest.raises(InputError) as e:
        load_config(tmp_path / "ownership.yaml")
    assert message in str(e.value)
