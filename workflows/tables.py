"""The workflow engine's own tables: runs, items (one persisted state machine each), events.

They have their own metadata, so the engine needs nothing from ``backend``; the library's
Alembic environment reads this metadata beside the library's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Engine,
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

IMMEDIATE = "sqlite_immediate"
"""Execution option read by the engine's ``begin`` hook: ``BEGIN IMMEDIATE`` on SQLite."""


def writer(engine: Engine) -> Engine:
    """The same engine, but its SQLite transactions take the write lock up front."""
    return engine.execution_options(**{IMMEDIATE: True})


class WorkflowBase(DeclarativeBase):
    """Declarative base of the workflow tables."""


class MigrationRun(WorkflowBase):
    """One migration run (legacy or promotion); its status is derived from its items.

    ``open_key`` is the source fingerprint while the run is *the* run of its source; the unique
    index on ``(kind, open_key)`` makes "find or create the run" safe across processes. A run
    gives the key up (NULL) only when a newer run may take its place (see the store).
    """

    __tablename__ = "migration_runs"
    __table_args__ = (Index("uq_migration_runs_open_key", "kind", "open_key", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    source_fingerprint: Mapped[str] = mapped_column(String(128), default="")
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    open_key: Mapped[str | None] = mapped_column(String(128))


class MigrationItem(WorkflowBase):
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


class MigrationEvent(WorkflowBase):
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
