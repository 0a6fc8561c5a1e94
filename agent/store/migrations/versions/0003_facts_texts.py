"""facts texts stored once: source runs refer to them

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # one row per distinct facts text: a source whose facts have the content key of a stored text (the same
    # key, the same facts) refers to that row instead of holding a copy (an unchanged 50 MB PagerDuty export
    # was copied into every snapshot: a 5-minute interval made 14 GB a day)
    op.create_table(
        "facts_texts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("facts_key", sa.String(64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_facts_texts_key", "facts_texts", ["name", "kind", "facts_key"])
    with op.batch_alter_table("source_runs") as batch:
        batch.add_column(sa.Column("facts_id", sa.Integer(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT id, name, kind, facts_key FROM source_runs WHERE facts_json IS NOT NULL ORDER BY id")
    ).all()
    seen: dict[tuple[str, str, str], int] = {}
    for run_id, name, kind, key in rows:
        text_id = seen.get((name, kind, key)) if key is not None else None
        if text_id is None:  # the text copied inside the database, not through Python
            text_id = conn.execute(
                sa.text(
                    "INSERT INTO facts_texts (name, kind, facts_key, text) "
                    "SELECT name, kind, facts_key, facts_json FROM source_runs WHERE id = :id RETURNING id"
                ),
                {"id": run_id},
            ).scalar_one()
            if key is not None:
                seen[(name, kind, key)] = text_id
        conn.execute(sa.text("UPDATE source_runs SET facts_id = :t WHERE id = :id"), {"t": text_id, "id": run_id})
    op.drop_index("ix_source_runs_facts_key", "source_runs")
    with op.batch_alter_table("source_runs") as batch:
        batch.drop_column("facts_json")
        batch.drop_column("facts_key")
        batch.create_foreign_key("fk_source_runs_facts_id", "facts_texts", ["facts_id"], ["id"])
    op.create_index("ix_source_runs_facts_id", "source_runs", ["facts_id"])


def downgrade() -> None:
    op.drop_index("ix_source_runs_facts_id", "source_runs")
    with op.batch_alter_table("source_runs") as batch:
        batch.drop_constraint("fk_source_runs_facts_id", type_="foreignkey")
        batch.add_column(sa.Column("facts_json", sa.Text(), nullable=True))
        batch.add_column(sa.Column("facts_key", sa.String(64), nullable=True))
    op.execute(
        "UPDATE source_runs SET "
        "facts_json = (SELECT text FROM facts_texts WHERE facts_texts.id = source_runs.facts_id), "
        "facts_key = (SELECT facts_key FROM facts_texts WHERE facts_texts.id = source_runs.facts_id)"
    )
    with op.batch_alter_table("source_runs") as batch:
        batch.drop_column("facts_id")
    op.create_index("ix_source_runs_facts_key", "source_runs", ["name", "kind", "facts_key"])
    op.drop_index("ix_facts_texts_key", "facts_texts")
    op.drop_table("facts_texts")
