"""The workflow engine's own tables: runs, items (one persisted state machine each), events.

They are SQLAlchemy Core tables in their own metadata, so the engine needs nothing from
``backend`` and a read (run status) needs no ORM; the library's Alembic environment reads this
metadata beside the library's. :mod:`workflows.tables` maps ORM classes on them and adds the
one index with dialect options (their validation imports SQLAlchemy's PostgreSQL dialect,
~15 ms that a read of run status does not need); Alembic's environment imports that module.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

IMMEDIATE = "sqlite_immediate"
"""Execution option read by the engine's ``begin`` hook: ``BEGIN IMMEDIATE`` on SQLite."""


def writer(engine: Engine) -> Engine:
    """The same engine, but its SQLite transactions take the write lock up front."""
    return engine.execution_options(**{IMMEDIATE: True})


METADATA = MetaData()
"""The workflow tables' metadata (Alembic compares it with the database)."""

RUNS = Table(
    "migration_runs",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("source_fingerprint", String(128), nullable=False, default=""),
    Column("options", JSON, nullable=False, default=dict),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("open_key", String(128)),
    Index("uq_migration_runs_open_key", "kind", "open_key", unique=True),
)
"""One migration run (legacy or promotion); its status is derived from its items.

``open_key`` is the source fingerprint while the run is *the* run of its source; the unique
index on ``(kind, open_key)`` makes "find or create the run" safe across processes. A run
gives the key up (NULL) only when a newer run may take its place (see the store).
"""

ITEMS = Table(
    "migration_items",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("migration_runs.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("source_key", String(64), nullable=False),
    Column("sha256", String(64)),
    Column("status", String(24), nullable=False),
    Column("failed_from_state", String(24)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False, default=5),
    Column("crashes", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False, default=0.0),
    Column("lease_owner", String(128)),
    Column("lease_expires_at", Float),
    Column("last_error_code", String(64)),
    Column("last_error", Text),
    Column("warnings", JSON, nullable=False, default=list),
    Column("artifacts", JSON, nullable=False, default=dict),
    Column("strategy", String(16)),
    Column("version", Integer, nullable=False, default=0),
    Column("updated_at", Float, nullable=False, default=0.0),
    UniqueConstraint("run_id", "source_key", name="uq_migration_items_run_source"),
    Index("ix_migration_items_claim", "run_id", "status", "next_attempt_at"),
    Index("ix_migration_items_lease", "lease_owner"),
)
"""One persisted state machine: a legacy row or a pending model inside a run."""

WORKING_ITEM_SQL = "status IN ('images_processed', 'imported', 'pending', 'tags_synced')"
"""Items still to move; the claim's partial index and the claim share this text, so the
planner can see that the index covers the query (a bound ``IN`` list would hide it)."""

FINAL_EVENT_SQL = "to_state IN ('deleted', 'ignored', 'promoted', 'staged')"
"""Events that finish an item; the partial index and the status rate query share this text."""

EVENTS = Table(
    "migration_events",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", Integer, nullable=False),
    Column("run_id", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("from_state", String(24), nullable=False),
    Column("to_state", String(24), nullable=False),
    Column("attempt", Integer, nullable=False, default=0),
    Column("error_code", String(64)),
    Column("error", Text),
    Column("at", Float, nullable=False),
    Column("detail", JSON, nullable=False, default=dict),
    UniqueConstraint("item_id", "seq", name="uq_migration_events_item_seq"),
)
"""One transition in an item's history; ``seq`` is gap-free per item. ``item_id`` has no
foreign key (Alembic ``0006``): an event is written only while its item's row is locked at
its fence, and the key's per-row check was most of an event insert's cost on PostgreSQL.
Its partial index of finishing events (``ix_migration_events_final``) is declared in
:mod:`workflows.tables`."""
