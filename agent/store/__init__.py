"""Snapshot store: SQLAlchemy 2 Core tables (agent.store.models), Alembic migrations; SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, delete, event, func, insert, select, text
from sqlalchemy.engine import Connection, Engine, ExceptionContext, Row
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import SQLAlchemyError

from agent.errors import StoreError  # (raised here; imported from here by callers too)
from agent.gcpause import bulk_build, release_freed_heap
from agent.store import codec
from agent.store.models import facts_texts, snapshots, source_runs
from collectors.facts import Snapshot, SourceResult, SourceStatus
from collectors.yamlfile import content_hash

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger("ownership.store")

MIGRATIONS = Path(__file__).parent / "migrations"
# the newest migration's revision (a test checks it equals Alembic's head): a store already there is
# not handed to Alembic at all, whose import alone costs half a second of every command's start
HEAD_REVISION = "0003"
COLLECT_LOCK_ID = 0x0A6E7  # advisory lock key: "one collector at a time"


def alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def _db_error(e: BaseException) -> str:
    """A database error for a log line: its class and the driver's message, not the statement or its parameters
    (SQLAlchemy adds them on the lines after the first)."""
    lines = str(e).splitlines()
    return f"{type(e).__name__}: {lines[0] if lines else ''}"


def store_name(url: URL) -> str:
    """The store's URL with its password as *** and without its query (which may hold the password too): what an
    error may show."""
    return url.set(query={}).render_as_string(hide_password=True)


def _cannot_connect(ctx: ExceptionContext) -> None:
    """SQLAlchemy's handle_error hook: a failure to connect becomes a StoreError (what a user can act on, instead
    of SQLAlchemy's traceback). Errors on an open connection are left as they are."""
    if ctx.connection is not None or ctx.is_pre_ping or ctx.engine is None:
        return
    url = ctx.engine.url
    lines = str(ctx.original_exception).strip().splitlines()
    reason = lines[0].strip() if lines else type(ctx.original_exception).__name__
    for secret in (url.password, url.query.get("password")):  # never the password, should a driver repeat it
        for s in [secret] if isinstance(secret, str) else (secret or ()):
            if s:
                reason = reason.replace(str(s), "***")
    raise StoreError(f"cannot connect to {store_name(url)}: {reason}", source="store") from None


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class Store:
    """Writes one snapshot per collection run; keeps history."""

    def __init__(self, url: str):
        # the URL (it may hold the database's password) is kept by the engine only, whose URL shows it as ***
        # a pooled PostgreSQL connection is checked before use: after a server restart (or a connection cut by a
        # proxy) the first request of each replica failed with OperationalError, a 500
        self.engine = create_engine(url, future=True, pool_pre_ping=not url.startswith("sqlite"))
        event.listen(self.engine, "handle_error", _cannot_connect)

    def migrate(self, revision: str = "head") -> None:
        before = self.revision()
        if revision == "head" and before == HEAD_REVISION:
            return
        from alembic import command

        command.upgrade(alembic_config(self.engine), revision)
        before_texts = ("0001", "0002")  # the revisions before facts_texts
        moved = before in before_texts and self.revision() not in (*before_texts, None)
        if moved and self.engine.dialect.name == "sqlite":
            # 0003 moved every facts text into a table of its own: SQLite keeps the space the old rows held in
            # its file (reused, never returned) until VACUUM rewrites it (a 178 MB store of two L snapshots:
            # 348 MB after the move, 119 MB after VACUUM)
            try:  # it needs as much free disk as the store: without it, the store works as it is
                with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM")
            except (SQLAlchemyError, StoreError) as e:
                log.warning("store not compacted after its upgrade (VACUUM): %s", _db_error(e))

    def revision(self) -> str | None:
        """The store's Alembic revision (None: empty or not an Alembic-managed database)."""
        try:
            with self.engine.connect() as conn:
                got = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        except SQLAlchemyError:
            return None
        return got[0] if len(got) == 1 else None

    def downgrade(self, revision: str) -> None:
        from alembic import command

        command.downgrade(alembic_config(self.engine), revision)

    def save(self, snap: Snapshot, numbered: Callable[[int], None] | None = None) -> int:
        """Store the snapshot in one transaction; sets `snap.id` (and calls `numbered(id)` as soon as the
        id is known, before the facts are written)."""
        with self.engine.begin() as conn:
            key = conn.execute(insert(snapshots).values(taken_at=snap.taken_at, now=snap.now)).inserted_primary_key
            assert key is not None
            sid: int = key[0]
            snap.id = sid
            if numbered is not None:
                numbered(sid)
            for src in snap.sources:  # one at a time, in order (the ids keep it): one facts text alive at a time
                st = src.status
                facts_id = None if src.facts is None else self._facts_id(conn, st, src)
                conn.execute(
                    insert(source_runs).values(
                        snapshot_id=sid,
                        name=st.name,
                        kind=st.kind,
                        ok=st.ok,
                        stale=st.stale,
                        collected_at=st.collected_at,
                        last_success_at=st.last_success_at,
                        error=st.error,
                        duration_s=st.duration_s,
                        detail=st.detail,
                        facts_id=facts_id,
                    )
                )
            return sid

    @staticmethod
    def _facts_id(conn: Connection, st: SourceStatus, src: SourceResult) -> int:
        """The stored text of the source's facts: the newest of this source with their content key when there is
        one, else a new one. The key is SourceStatus.facts_key (the same key, the same facts) when the collector
        gave one, else the digest of the text (a live source: an unchanged answer, such as a routing tree or a
        catalog, is stored once too; both are sha256 digests, of different inputs).

        Referring to a stored text costs a lookup: serialising the facts held the GIL beside the analysis (L:
        ~0.9 s, PagerDuty's 93 MB alone 0.7 s), and a copy took the text's space again in every snapshot. On
        PostgreSQL the text found is locked against deletion (FOR KEY SHARE) until the save commits: another
        process's retention deletes only texts no run refers to. (SQLite runs one writer at a time, and this
        transaction writes from its first statement.)"""
        c = facts_texts.c

        def stored(key: str) -> int | None:
            found: int | None = conn.execute(
                select(c.id)
                .where(c.name == st.name, c.kind == st.kind, c.facts_key == key)
                .order_by(c.id.desc())
                .limit(1)
                .with_for_update(key_share=True)
            ).scalar()
            return found

        key = st.facts_key
        if key is not None and (found := stored(key)) is not None:
            return found
        assert src.facts is not None
        text = codec.text_for(src.facts, src.stored_text())
        if key is None:
            key = content_hash(text)
            if (found := stored(key)) is not None:
                return found
        got = conn.execute(insert(facts_texts).values(name=st.name, kind=st.kind, facts_key=key, text=text))
        new_id: int = got.inserted_primary_key[0]  # type: ignore[index]
        return new_id

    def save_in_background(self, snap: Snapshot) -> Future[int]:
        """`save` in a thread of its own: the database's share of the work (SQLite's or the network's)
        runs without the GIL, beside the analysis of the same snapshot. Returns once `snap.id` is set
        (the row is numbered first), so what is computed meanwhile can carry the id; the future says
        whether the whole save committed (when not, `snap.id` is None again). An in-memory SQLite database
        is saved in this thread: each thread would see a database of its own."""
        fut: Future[int] = Future()
        numbered = threading.Event()

        def run() -> None:
            try:
                fut.set_result(self.save(snap, lambda _id: numbered.set()))
            except BaseException as e:  # handed to whoever waits for the save
                snap.id = None  # the row was rolled back with the rest
                fut.set_exception(e)
            finally:
                numbered.set()

        if self.engine.dialect.name == "sqlite" and self.engine.url.database in (None, "", ":memory:"):
            run()
            return fut
        threading.Thread(target=run, name="store-save", daemon=True).start()
        numbered.wait()
        return fut

    def _load(self, conn: Connection, row: Row[Any]) -> Snapshot:
        runs = conn.execute(
            select(source_runs, facts_texts.c.text)
            .outerjoin(facts_texts, facts_texts.c.id == source_runs.c.facts_id)
            .where(source_runs.c.snapshot_id == row.id)
            .order_by(source_runs.c.id)
        ).all()
        sources = []
        for r in runs:
            status = SourceStatus(
                name=r.name,
                kind=r.kind,
                ok=r.ok,
                stale=r.stale,
                collected_at=_aware(r.collected_at),
                last_success_at=_aware(r.last_success_at),
                error=r.error,
                duration_s=r.duration_s,
                detail=r.detail,
            )
            # the status as read back from JSON (its datetimes with pydantic's tzinfo, as the facts' own)
            status = SourceStatus.model_validate_json(status.model_dump_json())
            # The facts text validated alone, not pasted into a `SourceResult` text first: that copied
            # every source's JSON once more (L: 140 MB; measured 0.13-0.19 s less CPU per load and the
            # load's peak 886 -> 816 MiB).
            # `SourceResult(...)` takes the validated models as they are (pydantic does not revalidate
            # instances): the same result, fields-set included.
            facts = codec.loads(r.text) if r.text is not None else None
            sources.append(SourceResult(status=status, facts=facts))
        return Snapshot(id=row.id, taken_at=_aware(row.taken_at), now=_aware(row.now), sources=sources)

    def latest(self) -> Snapshot | None:
        with self.engine.connect() as conn, bulk_build():
            row = conn.execute(select(snapshots).order_by(snapshots.c.id.desc()).limit(1)).first()
            got = self._load(conn, row) if row else None
        release_freed_heap()  # the facts' JSON texts and pydantic-core's trees of them (L: about 215 MiB)
        return got

    def get(self, snapshot_id: int) -> Snapshot | None:
        with self.engine.connect() as conn, bulk_build():
            row = conn.execute(select(snapshots).where(snapshots.c.id == snapshot_id)).first()
            got = self._load(conn, row) if row else None
        release_freed_heap()
        return got

    def history(self, limit: int = 50) -> list[tuple[int, datetime, datetime]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(snapshots).order_by(snapshots.c.id.desc()).limit(limit)).all()
            return [(r.id, _aware(r.taken_at), _aware(r.now)) for r in rows]  # type: ignore[misc]

    def prune(self, keep_days: float, daily_days: float | None = None, now: datetime | None = None) -> int:
        """Retention: every snapshot of the last `keep_days`, then one per UTC day (its last) for `daily_days`
        (None: for ever), by when each was taken, and always the newest; returns how many were deleted.

        `now` by default: on PostgreSQL the database's clock, which every replica shares (a collecting replica
        whose own clock ran days ahead deleted days of history); on SQLite, one host's, this process's."""
        with self.engine.begin() as conn:
            if now is None and self.engine.dialect.name == "postgresql":
                now = _aware(conn.execute(select(func.now())).scalar())
            now = now or datetime.now(UTC)
            cutoff = now - timedelta(days=keep_days)
            daily_cutoff = now - timedelta(days=daily_days) if daily_days is not None else None
            old = conn.execute(select(snapshots.c.id, snapshots.c.taken_at).where(snapshots.c.taken_at < cutoff)).all()
            keep: dict[str, tuple[datetime, int]] = {}
            for sid, raw in old:
                taken = raw if raw.tzinfo else raw.replace(tzinfo=UTC)
                day = taken.date().isoformat()
                if day not in keep or (taken, sid) > keep[day]:
                    keep[day] = (taken, sid)
            kept = {sid for taken, sid in keep.values() if daily_cutoff is None or taken >= daily_cutoff}
            # never the newest: it is what every replica serves and the next collection's previous facts (a
            # retention of 0s, or a clock set back, would leave an empty store)
            newest = conn.execute(select(func.max(snapshots.c.id))).scalar()
            doomed = [sid for sid, _ in old if sid not in kept and sid != newest]
            # by 500 (a year of 5-minute snapshots at once is past SQLite's bound variables)
            for i in range(0, len(doomed), 500):
                some = doomed[i : i + 500]
                conn.execute(delete(source_runs).where(source_runs.c.snapshot_id.in_(some)))
                conn.execute(delete(snapshots).where(snapshots.c.id.in_(some)))
            if doomed:  # and the texts no run refers to any more
                referred = select(source_runs.c.id).where(source_runs.c.facts_id == facts_texts.c.id).exists()
                conn.execute(delete(facts_texts).where(~referred))
            return len(doomed)

    def apply_retention(self, keep_days: float, daily_days: float | None) -> int:
        """`prune` now, by the clock, for the process that just stored a collection; a failure is logged, never
        raised (the collection is stored: the next one prunes again). Returns how many were deleted."""
        try:
            deleted = self.prune(keep_days, daily_days)
        except Exception as e:  # noqa: BLE001 - a database error must not fail the collection it follows
            log.warning("store retention failed error=%r", _db_error(e))
            return 0
        if deleted:
            log.info("store retention deleted=%d keep_days=%g daily_days=%s", deleted, keep_days, daily_days)
        return deleted

    @contextmanager
    def collector_lock(self) -> Iterator[bool]:
        """Exactly one collector at a time across replicas: a PostgreSQL advisory lock (session level),
        or an exclusive file lock beside a SQLite file. Yields whether this process holds it."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                got = bool(conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({COLLECT_LOCK_ID})").scalar())
                stop = threading.Event()
                beat: threading.Thread | None = None
                if got:
                    beat = self._keep_lock_alive(conn, stop)
                try:
                    yield got
                finally:
                    stop.set()
                    if beat is not None:
                        beat.join()
                    if got:
                        conn.exec_driver_sql(f"SELECT pg_advisory_unlock({COLLECT_LOCK_ID})")
                    conn.commit()
            return
        import fcntl

        db = self.engine.url.database
        path = Path(f"{db}.collect.lock") if db and db != ":memory:" else None
        if path is None:
            yield True
            return
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # a holder of the collector lock that stops (frozen, swapped out, its node cut off) loses it after this
    # long: PostgreSQL ends its session, which releases the lock, and another replica collects
    lock_idle_timeout_s: float = 60.0

    def _keep_lock_alive(self, conn: Connection, stop: threading.Event) -> threading.Thread:
        """While the lock is held its session sits idle in its transaction: PostgreSQL ends it once idle for
        `lock_idle_timeout_s` (a frozen process held the lock for ever, and every replica stopped collecting)
        or once its client stops answering TCP keepalives (a node cut off: ~2 h by the kernel's defaults). A
        thread touches the session meanwhile, so that a live collector keeps it."""
        timeout_ms = max(1000, int(self.lock_idle_timeout_s * 1000))
        conn.exec_driver_sql(f"SET idle_in_transaction_session_timeout = {timeout_ms}")
        for name, value in (("tcp_keepalives_idle", 30), ("tcp_keepalives_interval", 10), ("tcp_keepalives_count", 3)):
            conn.exec_driver_sql(f"SET {name} = {value}")

        def beat() -> None:
            every = max(0.2, self.lock_idle_timeout_s / 4)
            while not stop.wait(every):
                try:
                    conn.exec_driver_sql("SELECT 1")
                except Exception as e:  # noqa: BLE001 - the session is gone: the lock with it
                    log.warning("collector lock lost error=%r", _db_error(e))
                    return

        t = threading.Thread(target=beat, name="ownership-lock-heartbeat", daemon=True)
        t.start()
        return t

    def close(self) -> None:
        self.engine.dispose()
