"""v2 library tables (the v2 app's own DDL) and the hash cache.

Revision ID: 0001_library
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backend.database.v2schema import META_ROWS, V2_DDL

revision = "0001_library"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the v2 library tables (the v2 app's DDL; no-ops where they exist) and ours.

    On SQLite the v2 tables are made by the v2 app's own ``CREATE … IF NOT EXISTS`` statements,
    so a library the v2 app created (checked beforehand by ``v2schema.check_adoptable``) is
    left exactly as it is and a new one is the file the v2 app would have made.
    """
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in V2_DDL:
            op.execute(statement)
    elif not sa.inspect(bind).has_table("models"):
        _create_v2_tables()
    for statement in META_ROWS:
        op.execute(statement)
    op.create_table(
        "hash_cache",
        sa.Column("path", sa.Text(), primary_key=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("hashed_at", sa.Float(), nullable=False),
    )


def _create_v2_tables() -> None:
    """The v2 tables on a server database: the same columns, 64-bit integers."""
    op.create_table(
        "models",
        sa.Column("sha256", sa.Text(), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("name", sa.Text()),
        sa.Column("type", sa.Text()),
        sa.Column("size_bytes", sa.BigInteger()),
        sa.Column("created_at", sa.BigInteger()),
        sa.Column("meta_json", sa.Text()),
    )
    op.create_index("idx_models_path", "models", ["path"])
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text(), nullable=False, unique=True),
    )
    op.create_table(
        "model_tags",
        sa.Column(
            "model_hash",
            sa.Text(),
            sa.ForeignKey("models.sha256", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "tag_id", sa.Integer(), sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True
        ),
    )
    op.create_table(
        "pending_import",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("path", sa.Text(), nullable=False, unique=True),
        sa.Column("sha256", sa.Text()),
        sa.Column("name", sa.Text()),
        sa.Column("type", sa.Text()),
        sa.Column("size_bytes", sa.BigInteger()),
        sa.Column("created_at", sa.BigInteger()),
        sa.Column("meta_json", sa.Text()),
    )
    op.create_table(
        "pending_model_tags",
        sa.Column(
            "model_id",
            sa.Integer(),
            sa.ForeignKey("pending_import.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "tag_id", sa.Integer(), sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True
        ),
    )
    op.create_table(
        "db_meta",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("value", sa.Text()),
    )


def downgrade() -> None:
    """Drop this project's table; the v2 tables (and the user's library in them) stay."""
    op.drop_table("hash_cache")
