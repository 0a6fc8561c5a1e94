"""Live PostgreSQL: a deliberately slow statement appears in pg_stat_statements, read over a read-only session."""

from __future__ import annotations

import secrets
from pathlib import Path

import psycopg
import pytest

from agent.config import PostgresSource
from collectors.postgres import PostgresCollector

SLOW_FN = "ownership_test_slow_lookup"


@pytest.fixture(scope="module")
def reader(postgres_server):
    """A non-superuser role with pg_read_all_stats, and a slow function called three times."""
    password = secrets.token_hex(12)
    postgres_server.create_role("stats_reader", password)
    with psycopg.connect(postgres_server.dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE OR REPLACE FUNCTION {SLOW_FN}(n int) RETURNS int LANGUAGE sql AS $$ SELECT n FROM pg_sleep(0.3) $$"
        )
        for i in range(3):
            conn.execute(f"SELECT {SLOW_FN}(%s)", (i,))
        conn.execute("CREATE TABLE IF NOT EXISTS ownership_test_ro (x int)")
    return postgres_server, password


def _source(pg, **kw) -> PostgresSource:
    return PostgresSource.model_validate(
        {
            "name": "orders-db",
            "kind": "postgres",
            "url": f"postgresql://stats_reader@{pg.host}:{pg.port}/{pg.dbname}",
            "password": {"token_env": "OWNERSHIP_TEST_PG_PASSWORD"},
            **kw,
        }
    )


def test_slow_statement_with_its_mean_time(reader, monkeypatch: pytest.MonkeyPatch) -> None:
    pg, password = reader
    monkeypatch.setenv("OWNERSHIP_TEST_PG_PASSWORD", password)
    got = PostgresCollector(_source(pg, top_n=5), Path(".")).collect()
    slow = [s for s in got.facts.statements if SLOW_FN in s.query and "CREATE" not in s.query]
    assert slow, [s.query for s in got.facts.statements]
    top = slow[0]
    assert top.database == pg.dbname
    assert top.calls == 3
    assert 300 <= top.mean_exec_time_ms < 1500
    assert top.total_exec_time_ms == pytest.approx(top.mean_exec_time_ms * 3, rel=1e-6)
    assert top.rows == 3
    # top 5 by mean and top 5 by total: at most 10 per database, the slowest first
    ours = [s for s in got.facts.statements if s.database == pg.dbname]
    assert len(ours) <= 10
    assert [s.mean_exec_time_ms for s in ours] == sorted((s.mean_exec_time_ms for s in ours), reverse=True)
    assert ours[0].mean_exec_time_ms >= top.mean_exec_time_ms
    assert "top 5 by mean and by total time" in (got.detail or "")
    assert password not in (got.detail or "") and "stats_reader@127.0.0.1" in (got.detail or "")
    # the catalog maps the database to its service
    catalog_databases = {"checkout": [pg.dbname]}
    owners = {db: svc for svc, dbs in catalog_databases.items() for db in dbs}
    assert owners[top.database] == "checkout"


def test_database_filter(reader, monkeypatch: pytest.MonkeyPatch) -> None:
    pg, password = reader
    monkeypatch.setenv("OWNERSHIP_TEST_PG_PASSWORD", password)
    got = PostgresCollector(_source(pg, databases=["no-such-db"]), Path(".")).collect()
    assert got.facts.statements == []


def test_the_session_is_read_only(reader, monkeypatch: pytest.MonkeyPatch) -> None:
    pg, password = reader
    monkeypatch.setenv("OWNERSHIP_TEST_PG_PASSWORD", password)
    with PostgresCollector(_source(pg), Path(".")).connect() as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        assert conn.execute("SHOW transaction_read_only").fetchone()[0] == "on"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO ownership_test_ro VALUES (1)")


def test_password_literals_are_redacted(reader, monkeypatch: pytest.MonkeyPatch) -> None:
    """pg_stat_statements keeps `ALTER ROLE ... PASSWORD '...'` verbatim: the collector must not."""
    pg, password = reader
    monkeypatch.setenv("OWNERSHIP_TEST_PG_PASSWORD", password)
    got = PostgresCollector(_source(pg, top_n=1000), Path(".")).collect()
    texts = [s.query for s in got.facts.statements]
    assert any("PASSWORD '<redacted>'" in t for t in texts), texts
    assert password not in got.facts.model_dump_json()


def test_every_form_of_a_password_literal_is_redacted(reader, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL 15 keeps these utility statements verbatim too: an escape string E'..', a Unicode string
    U&'..', and a comment between PASSWORD and the literal (only '..' and $$..$$ were redacted)."""
    pg, password = reader
    secrets_ = {f"leak{k}{secrets.token_hex(6)}": k for k in ("e", "u", "c", "d", "n")}
    forms = {
        "e": "CREATE ROLE ownership_leak_e PASSWORD E'{}'",
        "u": "CREATE ROLE ownership_leak_u PASSWORD U&'{}'",
        "c": "CREATE ROLE ownership_leak_c PASSWORD /* set it */ '{}'",
        "d": "CREATE ROLE ownership_leak_d ENCRYPTED PASSWORD -- new\n '{}'",
        "n": "CREATE ROLE ownership_leak_n PASSWORD 'first-half-'\n'{}'",  # one literal continued on a new line
    }
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        for secret, k in secrets_.items():
            conn.execute(f"DROP ROLE IF EXISTS ownership_leak_{k}")
            conn.execute(forms[k].format(secret))
    monkeypatch.setenv("OWNERSHIP_TEST_PG_PASSWORD", password)
    got = PostgresCollector(_source(pg, top_n=1000), Path(".")).collect()
    text = got.facts.model_dump_json()
    kept = [s.query for s in got.facts.statements if "ownership_leak_" in s.query and "CREATE" in s.query]
    assert len(kept) == 5, kept  # they are read, and shown redacted
    for secret in secrets_:
        assert secret not in text


def test_a_server_that_answers_with_an_error_is_not_unreachable() -> None:
    """pg_stat_statements not preloaded is an OperationalError with SQLSTATE 55000: the server answered."""
    import psycopg

    from collectors.http import SourceUnreachable

    c = PostgresCollector(
        PostgresSource.model_validate({"name": "db", "kind": "postgres", "url": "postgresql://r@h/d"}), Path(".")
    )
    answered = psycopg.errors.ObjectNotInPrerequisiteState(
        "pg_stat_statements must be loaded via shared_preload_libraries"
    )
    err = c._error(answered, "r@h/d", None)
    assert not isinstance(err, SourceUnreachable)
    assert str(err) == "db: query failed on r@h/d: pg_stat_statements must be loaded via shared_preload_libraries"
    assert isinstance(c._error(psycopg.OperationalError("connection refused"), "r@h/d", None), SourceUnreachable)
