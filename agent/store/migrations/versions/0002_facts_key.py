"""source runs: the facts' content key

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a digest of what the facts depend on when they came from an on-disk cache (SourceStatus.facts_key):
    # a later run with the same key copies this row's facts text instead of serialising them again
    with op.batch_alter_table("source_runs") as batch:
        batch.add_column(sa.Column("facts_key", sa.String(64), nullable=True))
    # the save's lookup (name, kind, key; the newest first): without it, SQLite would read past every row's
    # facts text (the new column is stored after it) to compare the key
    op.create_index("ix_source_runs_facts_key", "source_runs", ["name", "kind", "facts_key"])


def downgrade() -> None:
    op.drop_index("ix_source_runs_facts_key", "source_runs")
    with op.batch_alter_table("source_runs") as batch:
        batch.drop_column("facts_key")
