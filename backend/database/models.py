"""SQLAlchemy 2.0 typed ORM for the v2 library tables and the workflow tables.

The schema is created only by Alembic (``backend/database/alembic``); these classes mirror it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every table of the library database."""


# --- v2 library -------------------------------------------------------------------------------


class Model(Base):
    """A model in the v2 library, keyed by its lower-case SHA-256."""

    __tablename__ = "models"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    meta_json: Mapped[str] = mapped_column(Text)


class Tag(Base):
    """A tag; matched by lower-cased, trimmed name, never by id."""

    __tablename__ = "tags"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text, unique=True)


class ModelTag(Base):
    """Link between a library model and a tag."""

    __tablename__ = "model_tags"

    model_hash: Mapped[str] = mapped_column(
        ForeignKey("models.sha256", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class PendingImport(Base):
    """A model file known by path, waiting to be hashed and promoted into ``models``."""

    __tablename__ = "pending_import"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    sha256: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    meta_json: Mapped[str] = mapped_column(Text)


class PendingModelTag(Base):
    """Link between a pending model and a tag."""

    __tablename__ = "pending_model_tags"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("pending_import.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class DbMeta(Base):
    """Key/value facts about the library database."""

    __tablename__ = "db_meta"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class HashCache(Base):
    """SHA-256 of a file, valid while its (path, size, mtime_ns) are unchanged."""

    __tablename__ = "hash_cache"

    path: Mapped[str] = mapped_column(Text, primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    hashed_at: Mapped[float] = mapped_column(Float)


# --- workflow ---------------------------------------------------------------------------------


class MigrationRun(Base):
    """One migration run (legacy or promotion); its status is derived from its items."""

    __tablename__ = "migration_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    source_fingerprint: Mapped[str] = mapped_column(String(128), default="")
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)


class MigrationItem(Base):
    """One persisted state machine: a legacy row or a pending model inside a run."""

    __tablename__ = "migration_items"
    __table_args__ = (
        UniqueConstraint("run_id", "source_key", name="uq_migration_items_run_source"),
        Index("ix_migration_items_claim", "run_id", "status", "next_attempt_at"),
        Index("ix_migration_items_lease", "lease_owner"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("migration_runs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    source_key: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    failed_from_state: Mapped[str | None] = mapped_column(String(24))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    crashes: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=0.0)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[float | None] = mapped_column(Float)
    last_error_code: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    artifacts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    strategy: Mapped[str | None] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[float] = mapped_column(Float, default=0.0)


FINAL_EVENT_SQL = "to_state IN ('deleted', 'ignored', 'promoted', 'staged')"
"""Events that finish an item; the partial index and the status rate query share this text."""


class MigrationEvent(Base):
    """One transition in an item's history; ``seq`` is gap-free per item."""

    __tablename__ = "migration_events"
    __table_args__ = (
        UniqueConstraint("item_id", "seq", name="uq_migration_events_item_seq"),
        Index(
            "ix_migration_events_final",
            "run_id",
            "at",
            sqlite_where=text(FINAL_EVENT_SQL),
            postgresql_where=text(FINAL_EVENT_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("migration_items.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[float] = mapped_column(Float, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
