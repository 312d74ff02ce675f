"""v2 library tables and the hash cache.

Revision ID: 0001_library
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_library"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the v2 library tables."""
    op.create_table(
        "models",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("meta_json", sa.Text(), nullable=False),
    )
    op.create_index("ix_models_path", "models", ["path"])
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text(), nullable=False, unique=True),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "model_tags",
        sa.Column(
            "model_hash",
            sa.String(64),
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
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("meta_json", sa.Text(), nullable=False),
        sqlite_autoincrement=True,
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
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "hash_cache",
        sa.Column("path", sa.Text(), primary_key=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("hashed_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    """Drop the v2 library tables."""
    for table in (
        "hash_cache",
        "db_meta",
        "pending_model_tags",
        "pending_import",
        "model_tags",
        "tags",
    ):
        op.drop_table(table)
    op.drop_index("ix_models_path", table_name="models")
    op.drop_table("models")
