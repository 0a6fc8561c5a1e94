"""snapshots and source runs

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("now", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_snapshots_taken_at", "snapshots", ["taken_at"])
    op.create_table(
        "source_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("snapshot_id", sa.Integer(), sa.ForeignKey("snapshots.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("stale", sa.Boolean(), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("facts_json", sa.Text(), nullable=True),
    )
    op.create_index("ix_source_runs_snapshot_id", "source_runs", ["snapshot_id"])


def downgrade() -> None:
    op.drop_index("ix_source_runs_snapshot_id", "source_runs")
    op.drop_table("source_runs")
    op.drop_index("ix_snapshots_taken_at", "snapshots")
    op.drop_table("snapshots")
