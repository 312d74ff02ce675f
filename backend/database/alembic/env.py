"""Alembic environment: runs against the connection handed over in ``config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from backend.database.models import Base
from workflows.tables import WorkflowBase

target_metadata = [Base.metadata, WorkflowBase.metadata]


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on the connection provided by ``backend.database.schema``."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("backend.database.schema must pass a connection to Alembic")
    _run(connection)


run_migrations_online()
