"""Events without a foreign key to their item.

Every transition writes an event, four or more per model, and on PostgreSQL each checked its
item through the foreign key's per-row trigger: with ``COPY``, that check was over half of
what inserting events cost the server (40,000 events: 0.35 s with it, 0.14 s without). An
event is only ever written in the transaction that holds its item's row locked at its fence
(:func:`workflows.fence.lock_fences`), and no code deletes items, so the key guarded nothing
the fence does not. The unique ``(item_id, seq)`` constraint stays.

Revision ID: 0006_events_without_item_fk
Revises: 0005_hot_path_indexes
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0006_events_without_item_fk"
down_revision = "0005_hot_path_indexes"
branch_labels = None
depends_on = None

POSTGRES_NAME = "migration_events_item_id_fkey"
"""The name PostgreSQL gave the unnamed key of revision 0002."""
SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s"}
"""SQLite keeps no name for it: batch mode finds it under this convention."""
SQLITE_NAME = "fk_migration_events_item_id"


def upgrade() -> None:
    """Drop the foreign key of ``migration_events.item_id``."""
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(POSTGRES_NAME, "migration_events", type_="foreignkey")
        return
    with op.batch_alter_table("migration_events", naming_convention=SQLITE_NAMES) as batch:
        batch.drop_constraint(SQLITE_NAME, type_="foreignkey")


def downgrade() -> None:
    """Put the foreign key (``ON DELETE CASCADE``) back."""
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(
            POSTGRES_NAME,
            "migration_events",
            "migration_items",
            ["item_id"],
            ["id"],
            ondelete="CASCADE",
        )
        return
    with op.batch_alter_table("migration_events", naming_convention=SQLITE_NAMES) as batch:
        batch.create_foreign_key(
            SQLITE_NAME, "migration_items", ["item_id"], ["id"], ondelete="CASCADE"
        )
