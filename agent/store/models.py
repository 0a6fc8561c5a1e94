"""Tables: a snapshot per collection run, one row per source in it (its status), and each distinct facts
text once (the rows of unchanged facts refer to the same text).

SQLAlchemy Core tables, not ORM classes: the store reads and writes a handful of rows per snapshot, and
the ORM's import alone was 60-80 ms of every process's start (the serve process, each CLI command)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

snapshots = Table(
    "snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("taken_at", DateTime(timezone=True), nullable=False, index=True),
    Column("now", DateTime(timezone=True), nullable=False),
)

source_runs = Table(
    "source_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("snapshot_id", ForeignKey("snapshots.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(50), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("stale", Boolean, nullable=False, default=False),
    Column("collected_at", DateTime(timezone=True), nullable=False),
    Column("last_success_at", DateTime(timezone=True), nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_s", Float, nullable=False, default=0.0),
    Column("detail", Text, nullable=True),
    Column("facts_id", ForeignKey("facts_texts.id"), nullable=True, index=True),  # None: no facts
)

facts_texts = Table(
    "facts_texts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(50), nullable=False),
    # SourceStatus.facts_key, else the sha256 of the text: equal keys, equal facts (Store.save refers to the
    # newest text of the source with the key instead of storing another). None only in texts migrated from
    # runs without a key
    Column("facts_key", String(64), nullable=True),
    Column("text", Text, nullable=False),  # agent.store.codec's
    Index("ix_facts_texts_key", "name", "kind", "facts_key"),
)
