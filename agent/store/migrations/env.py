"""Alembic environment: the engine is handed in by agent.store.Store (no URL in an ini file)."""

from alembic import context

from agent.store.models import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
