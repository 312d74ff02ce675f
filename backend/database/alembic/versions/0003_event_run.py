"""Events carry their run; a partial index finds a run's recent completions quickly.

``migration_events.run_id`` (denormalised from the item) and the partial index
``ix_migration_events_final (run_id, at) WHERE to_state IN FINAL`` let the run-status rate
query read only the latest completions of one run instead of joining every recent event.

Revision ID: 0003_event_run
Revises: 0002_workflow
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_event_run"
down_revision = "0002_workflow"
branch_labels = None
depends_on = None

FINAL_EVENT = "to_state IN ('deleted', 'ignored', 'promoted', 'staged')"


def upgrade() -> None:
    """Add and backfill ``migration_events.run_id``; create the completions index."""
    op.add_column("migration_events", sa.Column("run_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE migration_events SET run_id = "
        "(SELECT run_id FROM migration_items WHERE migration_items.id = migration_events.item_id)"
    )
    with op.batch_alter_table("migration_events") as batch:
        batch.alter_column("run_id", existing_type=sa.Integer(), nullable=False)
    op.create_index(
        "ix_migration_events_final",
        "migration_events",
        ["run_id", "at"],
        sqlite_where=sa.text(FINAL_EVENT),
        postgresql_where=sa.text(FINAL_EVENT),
    )


def downgrade() -> None:
    """Drop the completions index and ``migration_events.run_id``."""
    op.drop_index("ix_migration_events_final", table_name="migration_events")
    with op.batch_alter_table("migration_events") as batch:
        batch.drop_column("run_id")
