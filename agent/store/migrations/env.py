"""Alembic environment: the engine is handed in by agent.store.Store (no URL in an ini file)."""

from alembic import context

from agent.store.models import metadata

MIGRATE_LOCK_ID = 0x0A6E8  # advisory lock key: "one migration at a time" (beside the collector's 0x0A6E7)

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        # replicas starting together (a rollout) migrate one after the other: the lock is held until this
        # transaction ends, and Alembic reads the store's revision after it, so a later one finds the work done
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATE_LOCK_ID})")
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
