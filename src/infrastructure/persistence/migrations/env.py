"""Runs the migrations on the connection that `migrate.py` hands over in
`config.attributes["connection"]`: no engine of its own and no `asyncio.run()`, so an upgrade
can run inside a running event loop (a test fixture, the app's start-up, the CLI)."""

from alembic import context

from infrastructure.persistence.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Run migrations through infrastructure.persistence.migrate (or `authsvc db upgrade`), "
        "which passes the connection to migrate."
    )

context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
