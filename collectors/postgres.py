"""PostgreSQL collector: slow and heavy statements from `pg_stat_statements`, live or recorded.

Live: one read-only session (`default_transaction_read_only`, a READ ONLY transaction and a
statement timeout) reads the top N statements by mean and by total execution time of every
database the server tracks; the catalog maps databases to services. The password comes from a
SecretRef and never reaches a log line or an error: connection targets are shown without it.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any, ClassVar

from pydantic import SecretStr

from agent.config import PostgresSource
from agent.errors import SourceError
from collectors import Collected, SourceCollector
from collectors.http import SourceAuthError, SourceBadAnswer, SourceTimeout, SourceUnreachable
from collectors.recordings import load_statements, statements_from_rows
from collectors.source_cache import collect_cached

log = logging.getLogger("ownership.collect")

# what the collected facts of a recording depend on (collectors.source_cache; a live server is never cached)
CACHED_CODE = ("collectors/postgres.py", "collectors/recordings.py", "collectors/queue_queries.py")

# pg_stat_statements keeps one row per (user, database, query, toplevel): sum them per database
# and query, then keep the top N of each database by mean and by total execution time.
TOP_STATEMENTS = """
WITH per_query AS (
    SELECT d.datname,
           s.queryid,
           min(s.query) AS query,
           sum(s.calls)::bigint AS calls,
           sum(s.{total}) AS total_exec_time,
           sum(s.{total}) / nullif(sum(s.calls), 0) AS mean_exec_time,
           sum(s.rows)::bigint AS rows
      FROM pg_stat_statements s
      JOIN pg_database d ON d.oid = s.dbid
     WHERE s.queryid IS NOT NULL
       AND (cardinality(%(databases)s::text[]) = 0 OR d.datname = ANY(%(databases)s::text[]))
     GROUP BY d.datname, s.queryid
    HAVING sum(s.calls) >= %(min_calls)s
), ranked AS (
    SELECT *,
           row_number() OVER (PARTITION BY datname ORDER BY mean_exec_time DESC) AS by_mean,
           row_number() OVER (PARTITION BY datname ORDER BY total_exec_time DESC) AS by_total
      FROM per_query
)
SELECT datname, queryid, query, calls, total_exec_time, mean_exec_time, rows
  FROM ranked
 WHERE by_mean <= %(top_n)s OR by_total <= %(top_n)s
 ORDER BY datname, mean_exec_time DESC
"""


# pg_stat_statements keeps utility statements verbatim (before PostgreSQL 16 normalised their
# constants): `CREATE ROLE ... PASSWORD '...'`, user mappings and dblink conninfo carry secrets.
# after PASSWORD, any blanks and comments, then a string in any of its forms: E'..' (backslash escapes), U&'..'
# (Unicode escapes), '..', $tag$..$tag$
_PASSWORD_LITERAL = re.compile(
    r"(?i)(\bpassword(?:\s|/\*.*?\*/|--[^\n]*(?:\n|$))*)"
    # a string continued on the next line (`'sec'` newline `'ret'`: one literal in SQL) is redacted whole
    r"((?:e'(?:[^'\\]|\\.|'')*'|u&'(?:[^']|'')*'|'(?:[^']|'')*')(?:[ \t]*\n\s*'(?:[^']|'')*')*|\$(\w*)\$.*?\$\3\$)",
    re.S,
)
_PASSWORD_KEYWORD = re.compile(r"(?i)(\bpassword\s*=\s*)(?!\$\d)('(?:[^'\\]|\\.)*'|[^\s']+)")


def redact_statement(query: str, *secrets: str) -> str:
    """The statement text without password literals (nor any of `secrets`)."""
    query = _PASSWORD_LITERAL.sub(
        lambda m: f"{m.group(1)}{'' if m.group(1)[-1:].isspace() else ' '}'<redacted>'", query
    )
    query = _PASSWORD_KEYWORD.sub(lambda m: f"{m.group(1)}<redacted>", query)
    for secret in secrets:
        if secret:
            query = query.replace(secret, "<redacted>")
    return query


def shown_target(url: str) -> str:
    """user@host:port/db: the connection target without any password, for logs and errors."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    user = f"{u.username}@" if u.username else ""
    port = f":{u.port}" if u.port else ""
    return f"{user}{u.host or 'localhost'}{port}/{u.database or ''}"


def libpq_url(url: str) -> str:
    """A libpq URL from a SQLAlchemy-style one (`postgresql+psycopg://` -> `postgresql://`)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


class PostgresCollector(SourceCollector):
    kind: ClassVar[str] = "postgres"
    config_model = PostgresSource

    def collect(self) -> Collected:
        if self.config.url:
            return self._collect_live()
        if not self.config.recording:
            raise SourceError("set url (live) or recording", source=self.name)
        recording = self.base / self.config.recording
        return collect_cached(self, [recording], lambda reads: self._collect_recording(recording), CACHED_CODE)

    def _collect_recording(self, recording: Path) -> Collected:
        facts, at = load_statements(recording)
        return Collected(facts, observed_at=at, detail=f"{len(facts.statements)} statements")

    def _secret(self) -> SecretStr | None:
        return self.config.password.resolve(self.base, f"{self.name}.password") if self.config.password else None

    def connect(self) -> Any:
        """A read-only psycopg connection: read-only by session default and per transaction, with a statement timeout."""
        import psycopg

        assert self.config.url is not None
        target = shown_target(self.config.url)
        secret = self._secret()
        kwargs: dict[str, Any] = {
            "connect_timeout": max(1, math.ceil(self.config.timeout_s)),
            "application_name": "ownership-agent",
            "options": f"-c default_transaction_read_only=on -c statement_timeout={int(self.config.timeout_s * 1000)}",
            "autocommit": False,
        }
        if secret is not None:
            kwargs["password"] = secret.get_secret_value()
        log.debug("source=%s connecting to postgresql://%s (read-only)", self.name, target)
        try:
            conn = psycopg.connect(libpq_url(self.config.url), **kwargs)
        except psycopg.Error as e:
            raise self._error(e, target, secret) from None
        conn.read_only = True  # BEGIN READ ONLY, on top of the session default
        return conn

    def _collect_live(self) -> Collected:
        import psycopg

        assert self.config.url is not None
        target = shown_target(self.config.url)
        secret = self._secret()
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SET TRANSACTION READ ONLY")
                cur.execute("SELECT current_setting('server_version_num')::int")
                row = cur.fetchone()
                total = "total_exec_time" if row and int(row[0]) >= 130000 else "total_time"
                cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
                if cur.fetchone() is None:
                    raise SourceError(
                        f"pg_stat_statements is not installed in {target.rsplit('/', 1)[-1]!r} "
                        "(CREATE EXTENSION pg_stat_statements, and shared_preload_libraries)",
                        source=self.name,
                    )
                cur.execute(
                    TOP_STATEMENTS.format(total=total),
                    {
                        "databases": list(self.config.databases),
                        "min_calls": self.config.min_calls,
                        "top_n": self.config.top_n,
                    },
                )
                rows = cur.fetchall()
                conn.rollback()  # nothing to keep: end the read-only transaction
        except psycopg.Error as e:
            raise self._error(e, target, secret) from None
        by_db: dict[str, list[dict[str, Any]]] = {}
        hidden = 0
        for datname, queryid, query, calls, total_ms, mean_ms, nrows in rows:
            if query == "<insufficient privilege>":
                hidden += 1
            by_db.setdefault(datname, []).append(
                {
                    "queryid": queryid,
                    "query": redact_statement(query, secret.get_secret_value() if secret else ""),
                    "calls": calls,
                    "total_exec_time": total_ms,
                    "mean_exec_time": mean_ms or 0.0,
                    "rows": nrows,
                }
            )
        try:
            facts = statements_from_rows(by_db)
        except (KeyError, TypeError, ValueError) as e:
            raise SourceBadAnswer(f"unexpected pg_stat_statements row: {e}", source=self.name) from None
        detail = (
            f"live: {len(facts.statements)} statements in {len(by_db)} databases "
            f"(top {self.config.top_n} by mean and by total time) from {target}"
        )
        if hidden:
            detail += f"; {hidden} query texts hidden: grant pg_read_all_stats to the role"
        return Collected(facts, detail=detail)

    def _error(self, e: Exception, target: str, secret: SecretStr | None) -> SourceError:
        import psycopg

        text = " ".join(str(e).split())
        if secret is not None and secret.get_secret_value():
            text = text.replace(secret.get_secret_value(), "<secret>")
        sqlstate = getattr(e, "sqlstate", None) or getattr(getattr(e, "diag", None), "sqlstate", None)
        low = text.lower()
        if sqlstate in ("28P01", "28000") or "password authentication failed" in low or "no password supplied" in low:
            return SourceAuthError(f"authentication failed for {target}: {text}", source=self.name)
        if sqlstate == "57014" or "statement timeout" in low or "timeout expired" in low:
            return SourceTimeout(f"timed out after {self.config.timeout_s:g}s on {target}: {text}", source=self.name)
        if isinstance(e, psycopg.OperationalError) and sqlstate is None:
            # no SQLSTATE: libpq's own error (no connection); one with a SQLSTATE came from a server that answered
            # (e.g. 55000, pg_stat_statements not in shared_preload_libraries)
            return SourceUnreachable(f"unreachable: {target}: {text}", source=self.name)
        return SourceError(f"query failed on {target}: {text}", source=self.name)
