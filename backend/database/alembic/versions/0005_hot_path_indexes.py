"""Indexes for the hot path: one the claim needs, one nothing reads.

The claim takes the lowest ids among a run's working items. With only the index on
``(run_id, status, next_attempt_at)`` every claim sorted all of the run's working items, so a
run of N items cost O(N²) over its claims. The partial index on ``(run_id, id)`` over the
working states hands them over in id order and the claim stops at its limit.

``ix_migration_events_at`` goes: no query reads events by ``at`` alone (the rate reads the
partial index on ``(run_id, at)`` of finishing events), and every event paid for it.

Revision ID: 0005_hot_path_indexes
Revises: 0004_one_run_per_source
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_hot_path_indexes"
down_revision = "0004_one_run_per_source"
branch_labels = None
depends_on = None

WORKING = "status IN ('images_processed', 'imported', 'pending', 'tags_synced')"


def upgrade() -> None:
    """Create the claim's partial index; drop the unread index on ``at``."""
    op.create_index(
        "ix_migration_items_working",
        "migration_items",
        ["run_id", "id"],
        sqlite_where=sa.text(WORKING),
        postgresql_where=sa.text(WORKING),
    )
    op.drop_index("ix_migration_events_at", table_name="migration_events")


def downgrade() -> None:
    """Put the index on ``at`` back; drop the claim's partial index."""
    op.create_index("ix_migration_events_at", "migration_events", ["at"])
    op.drop_index("ix_migration_items_working", table_name="migration_items")
