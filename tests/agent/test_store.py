"""The snapshot store on SQLite and on a real PostgreSQL: migrations up and down, history, round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect

from agent.config import load_config
from agent.pipeline import collect
from agent.store import Store, codec
from collectors.facts import Snapshot, SourceResult, SourceStatus

SMALL_ORG = Path(__file__).parent.parent / "testdata" / "org-small"
NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        pg = request.getfixturevalue("postgres_server")
        s = Store(pg.url)
        s.migrate()
        s.downgrade("base")  # start empty: the server is shared by the session
    yield s
    s.downgrade("base")
    s.close()


def test_migrations_up_and_down(store: Store) -> None:
    store.migrate()
    tables = set(inspect(store.engine).get_table_names())
    assert {"snapshots", "source_runs", "alembic_version"} <= tables
    store.downgrade("base")
    tables = set(inspect(store.engine).get_table_names())
    assert not ({"snapshots", "source_runs"} & tables)
    store.migrate()
    assert store.latest() is None


def test_upgrading_to_texts_stored_once_keeps_every_snapshot_and_downgrading_restores_the_rows(
    store: Store, org: Path
) -> None:
    """Migration 0003 on a store written by 0002 (each run holding its facts text and key): every snapshot
    reads back the same, runs with one source's key share one text, a run without a key keeps its own; the
    downgrade writes each run's text and key back."""
    from sqlalchemy import MetaData, Table, insert

    store.migrate("0002")
    snap = collect(load_config(org / "ownership.yaml"), NOW)
    texts = {s.status.name: codec.dumps(s.facts) for s in snap.sources if s.facts is not None}
    keyless = next(iter(texts))
    rows = []
    with store.engine.begin() as c:
        md = MetaData()
        snaps, runs = (Table(t, md, autoload_with=c) for t in ("snapshots", "source_runs"))
        for n in range(2):
            sid = c.execute(insert(snaps).values(taken_at=NOW + timedelta(hours=n), now=NOW)).inserted_primary_key[0]
            for s in snap.sources:
                st = s.status
                row = {
                    "snapshot_id": sid,
                    "name": st.name,
                    "kind": st.kind,
                    "ok": st.ok,
                    "stale": st.stale,
                    "collected_at": st.collected_at,
                    "duration_s": st.duration_s,
                    "detail": st.detail,
                    "facts_json": texts.get(st.name),
                    "facts_key": None if st.name == keyless or s.facts is None else f"key-{st.name}",
                }
                c.execute(insert(runs).values(**row))
                rows.append((st.name, row["facts_json"], row["facts_key"]))
    store.migrate()
    assert _texts(store) == len(texts) + 1  # the keyless source's text twice, every other once
    if store.engine.dialect.name == "sqlite":  # the space the moved texts held is given back (VACUUM)
        with store.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA freelist_count").scalar() == 0
    assert len(store.history()) == 2
    for sid, *_ in store.history():
        back = store.get(sid)
        assert back is not None
        assert [s.facts for s in back.sources] == [s.facts for s in snap.sources]
    store.downgrade("0002")
    with store.engine.connect() as c:
        got = c.exec_driver_sql("select name, facts_json, facts_key from source_runs order by id").fetchall()
    assert [tuple(r) for r in got] == rows
    store.migrate()


def test_replicas_starting_together_migrate_one_after_the_other(postgres_server) -> None:
    """Four processes upgrading one empty PostgreSQL store at once (a rollout of replicas): each waits for
    the others' migration (an advisory lock) and finds the work done; without the lock they raced to create
    the same tables."""
    import subprocess
    import sys
    import time

    store = Store(postgres_server.url)
    store.migrate()
    store.downgrade("base")
    # each process imports what a migration needs, then starts at the same instant as the others
    code = (
        "import sys, time, alembic.command; from agent.store import Store; s = Store(sys.argv[1]); "
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); s.migrate(); print(s.revision())"
    )
    start = str(time.time() + 3)  # after every process has imported (about 1-2 s for four on two cores)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, postgres_server.url, start],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-2000:] for _, err in outs]
    from agent.store import HEAD_REVISION

    assert {out.strip() for out, _ in outs} == {HEAD_REVISION}
    assert store.revision() == HEAD_REVISION
    store.downgrade("base")
    store.close()


def test_an_upgrade_whose_vacuum_fails_still_opens_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """VACUUM needs as much free disk as the store: when it fails the upgrade is kept, the store works, and the
    log says why it was not compacted."""
    import logging

    from sqlalchemy.engine import Connection
    from sqlalchemy.exc import OperationalError

    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate("0002")
    real = Connection.exec_driver_sql

    def full_disk(self, statement, *a, **k):  # type: ignore[no-untyped-def]
        if statement == "VACUUM":
            raise OperationalError(statement, None, Exception("database or disk is full"))
        return real(self, statement, *a, **k)

    monkeypatch.setattr(Connection, "exec_driver_sql", full_disk)
    with caplog.at_level(logging.WARNING, logger="ownership.store"):
        store.migrate()
    from agent.store import HEAD_REVISION

    assert store.revision() == HEAD_REVISION
    assert "not compacted" in caplog.text and "disk is full" in caplog.text
    assert store.save(_empty_snapshot(NOW)) and store.latest() is not None
    store.close()


def test_head_revision_is_alembics_head(store: Store) -> None:
    """`migrate` skips Alembic when the store is at HEAD_REVISION: that constant must be the newest migration."""
    from alembic.script import ScriptDirectory

    from agent.store import HEAD_REVISION, alembic_config

    assert ScriptDirectory.from_config(alembic_config(store.engine)).get_current_head() == HEAD_REVISION
    assert store.revision() is None  # empty: not skipped
    store.migrate()
    assert store.revision() == HEAD_REVISION
    store.downgrade("base")
    assert store.revision() is None
    store.migrate()  # from base again: Alembic runs, the tables are back
    assert {"snapshots", "source_runs"} <= set(inspect(store.engine).get_table_names())


def test_the_tables_are_what_the_migrations_make(store: Store) -> None:
    """The store's SQLAlchemy tables (agent.store.models) and the schema Alembic's migrations create agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from agent.store.models import metadata

    store.migrate()

    def ours(name: str | None, type_: str, parent: object) -> bool:
        # the PostgreSQL server is shared by the session: other tests' tables are not the store's business
        return type_ != "table" or name in metadata.tables

    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_name": ours})
        assert compare_metadata(ctx, metadata) == []


def test_snapshot_round_trip_and_history(store: Store, org: Path) -> None:
    store.migrate()
    loaded = load_config(org / "ownership.yaml")
    first = collect(loaded, NOW)
    id1 = store.save(first)
    second = collect(loaded, NOW + timedelta(hours=1), previous=first)
    id2 = store.save(second)
    assert id2 > id1
    latest = store.latest()
    assert latest is not None and latest.id == id2
    assert latest.now == NOW + timedelta(hours=1)
    # facts survive the trip exactly
    again = store.get(id1)
    assert isinstance(again, Snapshot)
    assert again.model_dump(exclude={"id"}) == first.model_dump(exclude={"id"})
    assert [h[0] for h in store.history()] == [id2, id1]


def test_a_loaded_source_is_its_facts_json_validated_whole(store: Store, org: Path) -> None:
    """The store validates each source's facts text alone (PagerDuty's in its columnar form, see
    agent/store/codec.py): the same result as validating one `SourceResult` text of the status and the
    facts' own JSON (what it did before), fields-set and datetimes' tzinfo included; a source without facts
    reads back as None."""
    store.migrate()
    snap = collect(load_config(org / "ownership.yaml"), NOW)
    snap.sources.append(
        SourceResult(status=SourceStatus(name="down", kind="postgres", ok=False, collected_at=NOW, error="x"))
    )
    texts = [s.facts.model_dump_json(by_alias=True) if s.facts is not None else None for s in snap.sources]
    store.save(snap)
    back = store.latest()
    assert back is not None and len(back.sources) == len(snap.sources)
    with store.engine.connect() as c:
        stored = [
            r[0]
            for r in c.exec_driver_sql(
                "select t.text from source_runs r left join facts_texts t on t.id = r.facts_id order by r.id"
            ).fetchall()
        ]
    assert [codec._format_of(t) for t in stored if t] == [
        f"{s.status.kind}-columns-1" if s.status.kind in ("pagerduty", "prometheus") else None
        for s in back.sources
        if s.facts is not None
    ]
    for got, text in zip(back.sources, texts, strict=True):
        whole = '{"status": ' + got.status.model_dump_json() + ', "facts": ' + (text or "null") + "}"
        want = SourceResult.model_validate_json(whole)
        assert got == want
        assert got.model_fields_set == want.model_fields_set
        assert got.model_dump_json() == want.model_dump_json()
        assert type(got.status.collected_at.tzinfo) is type(want.status.collected_at.tzinfo)
    assert back.sources[-1].facts is None


def test_store_never_holds_a_routing_key(store: Store, org: Path) -> None:
    store.migrate()
    loaded = load_config(org / "ownership.yaml")
    store.save(collect(loaded, NOW))
    with store.engine.connect() as c:
        rows = c.exec_driver_sql("select text from facts_texts").fetchall()
    blob = "\n".join(r[0] or "" for r in rows)
    assert "0123456789abcdef0123456789abcdef" not in blob
    assert "sha256:" in blob  # the fingerprint that joins receiver and integration


def _empty_snapshot(at: datetime) -> Snapshot:
    return Snapshot(taken_at=at, now=at, sources=[])


def _ten_days(store: Store) -> tuple[dict[datetime, int], datetime]:
    """Three snapshots a day (01:00, 12:00, 23:00) for ten days; the instant after the last day."""
    store.migrate()
    base = datetime(2026, 11, 1, tzinfo=UTC)
    ids = {}
    for day in range(10):
        for hour in (1, 12, 23):
            at = base + timedelta(days=day, hours=hour)
            ids[at] = store.save(_empty_snapshot(at))
    return ids, base + timedelta(days=10)


def test_retention_keeps_recent_snapshots_and_one_per_day(store: Store) -> None:
    ids, now = _ten_days(store)
    deleted = store.prune(keep_days=3, now=now)
    left = {h[1] for h in store.history(limit=100)}
    cutoff = now - timedelta(days=3)
    recent = {at for at in ids if at >= cutoff}
    daily_last = {at for at in ids if at < cutoff and at.hour == 23}
    assert left == recent | daily_last
    assert deleted == len(ids) - len(left)
    assert store.prune(keep_days=3, now=now) == 0


def test_retention_on_postgresql_goes_by_the_databases_clock(postgres_server, monkeypatch) -> None:
    """A collecting replica whose clock runs 8 days ahead deletes nothing of 3 days of hourly snapshots kept for
    7: the cutoff is the database's clock, shared by every replica (72 snapshots became 5)."""
    import agent.store as store_mod

    s = Store(postgres_server.url)
    s.migrate()
    s.downgrade("base")
    s.migrate()
    try:
        real = datetime.now(UTC)
        for h in range(72):
            s.save(_empty_snapshot(real - timedelta(hours=h)))

        class Ahead(datetime):
            @classmethod
            def now(cls, tz=None):  # type: ignore[override]
                return datetime.now(tz) + timedelta(days=8)

        monkeypatch.setattr(store_mod, "datetime", Ahead)
        assert s.apply_retention(7, 400) == 0
        assert len(s.history(limit=100)) == 72
    finally:
        s.downgrade("base")
        s.close()


def test_a_pooled_connection_the_server_closed_is_replaced(postgres_server) -> None:
    """After a PostgreSQL restart the pool's connections are dead: the next read opens a new one (was a 500)."""
    import psycopg

    s = Store(postgres_server.url)
    s.migrate()
    try:
        assert s.history(limit=1) is not None  # a pooled connection now
        with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        assert s.history(limit=1) is not None
    finally:
        s.close()


def test_retention_deletes_daily_snapshots_after_their_own_limit(store: Store) -> None:
    ids, now = _ten_days(store)
    store.prune(keep_days=3, daily_days=6, now=now)
    left = {h[1] for h in store.history(limit=100)}
    recent = {at for at in ids if at >= now - timedelta(days=3)}
    daily_last = {at for at in ids if now - timedelta(days=6) <= at < now - timedelta(days=3) and at.hour == 23}
    assert left == recent | daily_last and len(daily_last) == 3
    assert store.prune(keep_days=3, daily_days=0, now=now) == 3  # no daily ones at all
    assert {h[1] for h in store.history(limit=100)} == recent
    newest = store.history(limit=1)[0][0]
    assert store.prune(keep_days=0, daily_days=0, now=now + timedelta(days=30)) == len(recent) - 1
    assert [h[0] for h in store.history(limit=100)] == [newest]  # never the newest


def _aged_snapshots(store: Store, now: datetime) -> dict[int, datetime]:
    """Three snapshots a day over the last 9 days, none near a whole number of days old."""
    return {
        store.save(_empty_snapshot(now - timedelta(days=d, hours=h))): now - timedelta(days=d, hours=h)
        for d in range(9)
        for h in (3, 9, 15)
    }


def _assert_retained(store: Store, aged: dict[int, datetime], now: datetime, newest: int) -> None:
    """What a collection's retention leaves of `aged` with retention_full 2d and retention_daily 5d."""
    left = {sid for sid, *_ in store.history(limit=1000)}
    assert newest in left
    kept = {sid: at for sid, at in aged.items() if sid in left}
    assert {sid for sid, at in aged.items() if at > now - timedelta(days=2)} <= set(kept)  # all recent ones
    old = {sid: at for sid, at in kept.items() if at <= now - timedelta(days=2)}
    assert all(at > now - timedelta(days=5) for at in old.values())  # no daily one past its limit
    days = [at.date() for at in old.values()]
    assert len(days) == len(set(days)) >= 2  # one a day
    for sid, at in old.items():  # the last of its day (among those past the full retention)
        assert not any(o.date() == at.date() and at < o <= now - timedelta(days=2) for o in aged.values()), (sid, at)
    assert len(left) < len(aged)


def _with_retention(org: Path) -> None:
    cfg = org / "ownership.yaml"
    cfg.write_text(cfg.read_text().replace("store:\n", "store:\n  retention_full: 2d\n  retention_daily: 5d\n", 1))


def test_serves_collection_applies_the_retention_of_the_config(store: Store, org: Path) -> None:
    """The collecting process prunes the store after each stored collection (on SQLite and PostgreSQL)."""
    from agent.api.state import ServeState
    from agent.config import ServeConfig

    store.migrate()
    now = datetime.now(UTC)
    aged = _aged_snapshots(store, now)
    _with_retention(org)
    loaded = load_config(org / "ownership.yaml")
    assert loaded.config.store.retention_days() == (2.0, 5.0)
    st = ServeState(ServeConfig(), [], loaded, store_url=store.engine.url.render_as_string(False), now=lambda: NOW)
    view = st.collect_once()
    st.close()
    assert view.id is not None
    _assert_retained(store, aged, now, view.id)


def test_the_collect_command_applies_the_retention_of_the_config(
    store: Store, org: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.engine import URL

    from agent import cli

    store.migrate()
    now = datetime.now(UTC)
    aged = _aged_snapshots(store, now)
    _with_retention(org)
    cfg = org / "ownership.yaml"
    url = store.engine.url
    bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database)
    store_cfg = f"url: {bare.render_as_string(False)}"
    if url.password:  # the configured way: the password from the environment, never in the URL
        monkeypatch.setenv("TEST_STORE_PASSWORD", str(url.password))
        store_cfg += "\n  password: {token_env: TEST_STORE_PASSWORD}"
    cfg.write_text(cfg.read_text().replace("url: sqlite:///.ownership/test.db", store_cfg, 1))
    assert load_config(cfg).store_url() == url.render_as_string(False)
    assert cli.main(["--config", str(cfg), "--now", NOW.isoformat(), "collect"]) == 0
    newest = store.history(limit=1)[0][0]
    assert newest not in aged
    _assert_retained(store, aged, now, newest)


def test_retention_is_a_prometheus_duration() -> None:
    from pydantic import ValidationError

    from agent.config import StoreConfig

    assert StoreConfig().retention_days() == (7.0, 400.0)
    assert StoreConfig(retention_full="36h", retention_daily=None).retention_days() == (1.5, None)
    for bad in ("7 days", "-1d", ""):
        with pytest.raises(ValidationError):
            StoreConfig(retention_full=bad)


def test_collector_lock_is_exclusive(store: Store) -> None:
    store.migrate()
    assert not hasattr(store, "url")  # the URL, which may hold a password, is the engine's only
    password = store.engine.url.password
    assert not password or str(password) not in repr(store.engine.url)
    other = Store(store.engine.url.render_as_string(hide_password=False))
    try:
        with store.collector_lock() as first:
            assert first
            with other.collector_lock() as second:
                assert not second
        with other.collector_lock() as again:
            assert again
    finally:
        other.close()


def test_save_in_background_numbers_first_and_commits(store: Store, org: Path) -> None:
    """The id is known when save_in_background returns (what the analysis computes meanwhile carries it);
    the snapshot reads back whole once the future is done."""
    store.migrate()
    snap = collect(load_config(org / "ownership.yaml"), NOW)
    fut = store.save_in_background(snap)
    assert snap.id is not None
    assert fut.result(timeout=60) == snap.id
    back = store.latest()
    assert back is not None and back.id == snap.id
    assert [s.status.name for s in back.sources] == [s.status.name for s in snap.sources]
    assert back.sources[0].facts == snap.sources[0].facts


def test_collect_once_publishes_a_stored_snapshot_with_its_id(store: Store, org: Path) -> None:
    """serve's collection saves beside the analysis: the published view and its summary carry the stored id."""
    from agent.api.state import ServeState
    from agent.config import ServeConfig

    loaded = load_config(org / "ownership.yaml")
    url = store.engine.url.render_as_string(False)
    st = ServeState(ServeConfig(), [], loaded, store_url=url, now=lambda: NOW)
    view = st.collect_once()
    stored = st.store().latest()
    assert stored is not None and view.id == stored.id
    assert view.summary.snapshot_id == stored.id
    assert st.wait_prefilled(60)  # every service's pages serialised in the background, as the route would
    for svc in view.graph.catalog.services:
        assert view.service_pages_json_cached(svc.name) == view.service_pages(svc.name).model_dump_json().encode()
    st.close()


def test_a_failed_background_save_is_raised(store: Store, org: Path) -> None:
    store.migrate()
    snap = collect(load_config(org / "ownership.yaml"), NOW)
    store.downgrade("base")  # no tables: the insert fails
    fut = store.save_in_background(snap)
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error class differs by database
        fut.result(timeout=60)
    assert snap.id is None  # not the id of a row that was rolled back
    store.migrate()
    assert store.latest() is None


def test_save_in_background_in_memory_sqlite_is_the_same_database(org: Path) -> None:
    """An in-memory SQLite database is one per thread: its save runs in the caller's thread, so it can be read."""
    store = Store("sqlite://")
    store.migrate()
    snap = collect(load_config(org / "ownership.yaml"), NOW)
    assert store.save_in_background(snap).result(timeout=60) == snap.id
    back = store.latest()
    assert back is not None and back.id == snap.id


# --------------------------------------------------------------------------- facts copied by content key


def _stored_texts(store: Store, snapshot_id: int) -> dict[str, int | None]:
    """Each source of a snapshot: the id of the facts text its run refers to."""
    with store.engine.connect() as c:
        rows = c.exec_driver_sql(
            f"select name, facts_id from source_runs where snapshot_id = {int(snapshot_id)} order by id"
        ).fetchall()
    return {r[0]: r[1] for r in rows}


def _texts(store: Store) -> int:
    with store.engine.connect() as c:
        return int(c.exec_driver_sql("select count(*) from facts_texts").scalar_one())


def _count_serialised(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the facts serialised for the store (`codec.dumps` calls: their kinds, in call order)."""
    calls: list[str] = []
    original = codec.dumps

    def counting(facts):  # type: ignore[no-untyped-def]
        calls.append(facts.kind)
        return original(facts)

    monkeypatch.setattr(codec, "dumps", counting)
    return calls


def _with_facts(kind: str, key: str | None, facts) -> SourceResult:  # type: ignore[no-untyped-def]
    status = SourceStatus(name=kind, kind=kind, ok=True, collected_at=NOW, facts_key=key)
    return SourceResult(status=status, facts=facts)


def test_the_store_copies_the_facts_of_a_row_with_the_same_key(store: Store) -> None:
    """A source whose `facts_key` a stored row of the same source has gets that row's text (the store trusts
    the key: here the facts differ on purpose, to see which text was kept); another key, or none, is
    serialised."""
    from collectors.facts import Rule, SLOFacts

    store.migrate()

    def save(key: str | None, facts: SLOFacts) -> SLOFacts:
        sid = store.save(Snapshot(taken_at=NOW, now=NOW, sources=[_with_facts("slo", key, facts)]))
        got = store.get(sid)
        assert got is not None and isinstance(got.sources[0].facts, SLOFacts)
        return got.sources[0].facts

    one, two = SLOFacts(), SLOFacts(generated_rules=[Rule(type="recording", name="a:b", expr="vector(1)", group="g")])
    assert save("k1", one) == one
    assert save("k1", two) == one  # copied: the text of the first row
    assert save("k2", two) == two  # another key: serialised
    assert save(None, one) == one  # no key: serialised
    assert save("k2", one) == two  # the newest row with that key
    # another source with the same key is not a match
    sid = store.save(Snapshot(taken_at=NOW, now=NOW, sources=[_with_facts("slo2", "k1", two)]))
    got = store.get(sid)
    assert got is not None and got.sources[0].facts == two


def test_facts_without_a_key_are_stored_once_per_distinct_text(store: Store) -> None:
    """A live source's facts (no content key from a cache) are keyed by their text: the same answer again
    refers to the stored text, another answer is stored, per source."""
    from collectors.facts import Rule, SLOFacts

    store.migrate()
    one, two = SLOFacts(), SLOFacts(generated_rules=[Rule(type="recording", name="a:b", expr="vector(1)", group="g")])

    def save(name: str, facts: SLOFacts) -> int | None:
        sid = store.save(Snapshot(taken_at=NOW, now=NOW, sources=[_with_facts(name, None, facts)]))
        got = store.get(sid)
        assert got is not None and got.sources[0].facts == facts
        return _stored_texts(store, sid)[name]

    first = save("slo", one)
    assert save("slo", one) == first and _texts(store) == 1
    assert save("slo", two) != first and _texts(store) == 2
    assert save("slo", one) == first  # the newest text with that digest
    assert save("slo2", one) != first and _texts(store) == 3  # another source's text is not shared


def test_a_prune_racing_a_save_never_deletes_the_text_the_save_refers_to(postgres_server) -> None:
    """PostgreSQL: a save that found a stored text (FOR KEY SHARE) and a prune that sees that text unreferred
    (the save's run is not committed yet): the prune waits for the save, then fails on the foreign key, and
    the saved snapshot reads back whole."""
    import threading
    import time

    from sqlalchemy import insert

    from agent.store.models import snapshots, source_runs
    from collectors.facts import Rule, SLOFacts

    store = Store(postgres_server.url)
    store.migrate()
    store.downgrade("base")
    store.migrate()
    facts = SLOFacts(generated_rules=[Rule(type="recording", name="a:b", expr="vector(1)", group="g")])
    for days, key in ((30, "k1"), (29, "k2")):  # the first's text is what the save finds; the second is the newest
        at = NOW - timedelta(days=days)
        store.save(Snapshot(taken_at=at, now=at, sources=[_with_facts("slo", key, facts)]))
    pruned: dict[str, object] = {}

    def prune() -> None:
        try:
            pruned["deleted"] = store.prune(keep_days=1, daily_days=0, now=NOW)
        except Exception as e:  # noqa: BLE001 - what the race gives, checked below
            pruned["error"] = e

    with store.engine.connect() as conn:
        tx = conn.begin()
        sid = conn.execute(insert(snapshots).values(taken_at=NOW, now=NOW)).inserted_primary_key[0]
        src = _with_facts("slo", "k1", facts)
        text_id = Store._facts_id(conn, src.status, src)  # found, and locked until this transaction ends
        racer = threading.Thread(target=prune)
        racer.start()
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND starts_with(query, 'DELETE FROM facts_texts')"
        )
        deadline = time.monotonic() + 60
        blocked = False
        while not blocked and time.monotonic() < deadline:  # until the prune waits for this save's lock
            with store.engine.connect() as watch:  # (a transaction sees one snapshot of the statistics)
                blocked = bool(watch.exec_driver_sql(waiting).scalar())
            time.sleep(0.05)
        assert blocked and racer.is_alive()  # the prune waits to delete the text this save holds
        st = src.status
        conn.execute(
            insert(source_runs).values(
                snapshot_id=sid, name=st.name, kind=st.kind, ok=True, stale=False, collected_at=NOW, facts_id=text_id
            )
        )
        tx.commit()
    racer.join(60)
    assert not racer.is_alive()
    assert "error" in pruned and "foreign key" in str(pruned["error"]).lower(), pruned
    got = store.get(sid)
    assert got is not None and got.sources[0].facts == facts
    store.downgrade("base")
    store.close()


def test_an_unchanged_collection_is_stored_without_serialising_its_facts(
    store: Store, org: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Collected twice from unchanged files through the on-disk caches, every source's facts are copied from
    the first snapshot's rows (no `codec.dumps`) and read back the same; a changed file's source, or one
    without a key, is serialised."""
    monkeypatch.setenv("OWNERSHIP_CACHE_DIR", str(tmp_path / "cache"))
    store.migrate()
    loaded = load_config(org / "ownership.yaml")
    first = collect(loaded, NOW)
    second = collect(loaded, NOW + timedelta(hours=1), previous=first)
    (org / "catalog.yaml").write_text((org / "catalog.yaml").read_text() + "\n# changed\n")
    third = collect(loaded, NOW + timedelta(hours=2), previous=second)
    next(s for s in third.sources if s.status.kind == "slo").status.facts_key = None
    calls = _count_serialised(monkeypatch)
    kinds = [s.status.kind for s in first.sources]
    assert all(s.status.facts_key for s in first.sources)

    id1 = store.save(first)
    assert sorted(calls) == sorted(kinds)  # nothing stored yet: every source serialised
    calls.clear()
    id2 = store.save(second)
    assert calls == []  # every source's text referred to, not stored again
    assert _stored_texts(store, id2) == _stored_texts(store, id1)
    assert _texts(store) == len(kinds)
    latest = store.latest()
    assert latest is not None and latest.id == id2
    assert [s.facts for s in latest.sources] == [s.facts for s in second.sources]
    assert latest.model_dump(exclude={"id"}) == second.model_dump(exclude={"id"})

    store.save(third)
    assert sorted(calls) == ["catalog", "slo"]  # the changed file's source, and the one without a key
    latest = store.latest()
    assert latest is not None
    assert latest.model_dump(exclude={"id"}) == third.model_dump(exclude={"id"})


def test_each_distinct_text_is_stored_once_and_retention_deletes_the_unreferred(store: Store) -> None:
    """Snapshots of facts with one content key refer to one stored text; retention deletes a text once no
    snapshot left refers to it, and keeps one a kept snapshot refers to."""
    from collectors.facts import Rule, SLOFacts

    store.migrate()
    facts = SLOFacts(generated_rules=[Rule(type="recording", name="a:b", expr="vector(1)", group="g")])
    base = datetime(2026, 11, 1, 12, tzinfo=UTC)
    ids = [
        store.save(Snapshot(taken_at=base + timedelta(days=d), now=base, sources=[_with_facts("slo", key, facts)]))
        for d, key in enumerate(["k1", "k1", "k1", "k2", None])
    ]
    assert _texts(store) == 3  # k1 once, k2, and the one without a key (keyed by its text)
    assert len({_stored_texts(store, i)["slo"] for i in ids[:3]}) == 1
    store.prune(keep_days=1.5, daily_days=2.5, now=base + timedelta(days=5))  # keeps the snapshots of days 3, 4
    assert sorted(h[0] for h in store.history()) == ids[3:]
    assert _texts(store) == 2  # k1's text went with its last snapshot
    for sid in ids[3:]:
        got = store.get(sid)
        assert got is not None and got.sources[0].facts == facts
    store.prune(keep_days=0, daily_days=0, now=base + timedelta(days=5))
    assert [h[0] for h in store.history()] == ids[-1:] and _texts(store) == 1  # the newest and its text


def test_a_frozen_holder_of_the_collector_lock_loses_it(postgres_server, tmp_path: Path) -> None:
    """A replica frozen while collecting (SIGSTOP: its kernel still answers TCP) held the advisory lock for ever,
    and no replica collected again. Its session, idle in its transaction, is ended by PostgreSQL after the
    lock's idle timeout; a live holder keeps it by touching the session."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "holder.py"
    script.write_text(
        "import sys, time\n"
        "from agent.store import Store\n"
        "s = Store(sys.argv[1]); s.lock_idle_timeout_s = 2.0\n"
        "with s.collector_lock() as got:\n"
        "    print('held' if got else 'refused', flush=True)\n"
        "    time.sleep(float(sys.argv[2]))\n"
    )
    other = Store(postgres_server.url)

    def free() -> bool:
        with other.collector_lock() as got:
            return got

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root))
    live = subprocess.Popen(
        [sys.executable, str(script), postgres_server.url, "6"], stdout=subprocess.PIPE, text=True, env=env
    )
    frozen = None
    try:
        assert live.stdout is not None and live.stdout.readline().strip() == "held"
        time.sleep(4)  # twice the idle timeout: a live holder keeps the lock
        assert not free()
        live.wait(30)
        assert free()
        frozen = subprocess.Popen(
            [sys.executable, str(script), postgres_server.url, "600"], stdout=subprocess.PIPE, text=True, env=env
        )
        assert frozen.stdout is not None and frozen.stdout.readline().strip() == "held"
        os.kill(frozen.pid, signal.SIGSTOP)
        assert not free()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not free():
            time.sleep(0.5)
        assert free(), "the frozen holder still holds the collector lock"
    finally:
        for p in (live, frozen):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        other.close()
