"""Alembic environment: runs on the connection the vault hands it (no alembic.ini)."""

from __future__ import annotations

from alembic import context

from vault.storage.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - the vault always passes a connection
    raise RuntimeError("run migrations through `customer-vault db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata(),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
