"""One run per source, guaranteed by the database.

``migration_runs.open_key`` holds the source fingerprint while a run is *the* run of its
source, under a unique index on ``(kind, open_key)``: two processes that find no run and both
insert one cannot both succeed. Existing runs are backfilled the way they were found before:
the newest legacy run of each fingerprint, and the newest promotion run of each fingerprint
that still has an item outside the final states.

Revision ID: 0004_one_run_per_source
Revises: 0003_event_run
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_one_run_per_source"
down_revision = "0003_event_run"
branch_labels = None
depends_on = None

FINAL = "('deleted', 'ignored', 'promoted', 'staged')"


def upgrade() -> None:
    """Add ``open_key``, backfill it, and make it unique per kind."""
    op.add_column("migration_runs", sa.Column("open_key", sa.String(128), nullable=True))
    op.execute(
        "UPDATE migration_runs SET open_key = source_fingerprint WHERE id IN ("
        " SELECT MAX(id) FROM migration_runs WHERE kind = 'legacy'"
        " GROUP BY source_fingerprint)"
    )
    op.execute(
        "UPDATE migration_runs SET open_key = source_fingerprint WHERE id IN ("
        " SELECT MAX(r.id) FROM migration_runs r WHERE r.kind = 'promotion' AND EXISTS ("
        f"  SELECT 1 FROM migration_items i WHERE i.run_id = r.id AND i.status NOT IN {FINAL})"
        " GROUP BY r.source_fingerprint)"
    )
    op.create_index(
        "uq_migration_runs_open_key", "migration_runs", ["kind", "open_key"], unique=True
    )


def downgrade() -> None:
    """Drop the unique index and ``open_key``."""
    op.drop_index("uq_migration_runs_open_key", table_name="migration_runs")
    with op.batch_alter_table("migration_runs") as batch:
        batch.drop_column("open_key")
