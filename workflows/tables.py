"""ORM classes mapped on the workflow tables of :mod:`workflows.core_tables` (for code that
selects with mapped attributes or loads rows with a ``Session``), and that module's names.

Reads that need no ORM (run status, the engine set-up) import :mod:`workflows.core_tables`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import FromClause, Index, text
from sqlalchemy.orm import DeclarativeBase, Mapped

from workflows.core_tables import EVENTS as EVENTS
from workflows.core_tables import FINAL_EVENT_SQL as FINAL_EVENT_SQL
from workflows.core_tables import IMMEDIATE as IMMEDIATE
from workflows.core_tables import ITEMS as ITEMS
from workflows.core_tables import METADATA as METADATA
from workflows.core_tables import RUNS as RUNS
from workflows.core_tables import WORKING_ITEM_SQL as WORKING_ITEM_SQL
from workflows.core_tables import writer as writer

FINAL_EVENTS_INDEX = Index(
    "ix_migration_events_final",
    EVENTS.c.run_id,
    EVENTS.c.at,
    sqlite_where=text(FINAL_EVENT_SQL),
    postgresql_where=text(FINAL_EVENT_SQL),
)
"""The partial index of finishing events (migration 0003), on :data:`EVENTS` from here on:
its dialect options import SQLAlchemy's PostgreSQL dialect, which :mod:`workflows.core_tables`
(read by ``status``) does not import."""

WORKING_ITEMS_INDEX = Index(
    "ix_migration_items_working",
    ITEMS.c.run_id,
    ITEMS.c.id,
    sqlite_where=text(WORKING_ITEM_SQL),
    postgresql_where=text(WORKING_ITEM_SQL),
)
"""The items still to move in id order, for the claim (migration 0005); declared here for the
same reason as :data:`FINAL_EVENTS_INDEX`."""


class WorkflowBase(DeclarativeBase):
    """Declarative base of the workflow tables (their metadata is :data:`METADATA`).

    Each class's ``__table__`` is declared as the base declares it (a ``FromClause``), so code
    written for the declarative classes type-checks unchanged.
    """

    metadata = METADATA


class MigrationRun(WorkflowBase):
    """A row of :data:`workflows.core_tables.RUNS`."""

    __table__: ClassVar[FromClause] = RUNS

    id: Mapped[int]
    kind: Mapped[str]
    source_fingerprint: Mapped[str]
    options: Mapped[dict[str, Any]]
    created_at: Mapped[float]
    updated_at: Mapped[float]
    finished_at: Mapped[float | None]
    open_key: Mapped[str | None]


class MigrationItem(WorkflowBase):
    """A row of :data:`workflows.core_tables.ITEMS`."""

    __table__: ClassVar[FromClause] = ITEMS

    id: Mapped[int]
    run_id: Mapped[int]
    kind: Mapped[str]
    source_key: Mapped[str]
    sha256: Mapped[str | None]
    status: Mapped[str]
    failed_from_state: Mapped[str | None]
    attempts: Mapped[int]
    max_attempts: Mapped[int]
    crashes: Mapped[int]
    next_attempt_at: Mapped[float]
    lease_owner: Mapped[str | None]
    lease_expires_at: Mapped[float | None]
    last_error_code: Mapped[str | None]
    last_error: Mapped[str | None]
    warnings: Mapped[list[dict[str, Any]]]
    artifacts: Mapped[dict[str, Any]]
    strategy: Mapped[str | None]
    version: Mapped[int]
    updated_at: Mapped[float]


class MigrationEvent(WorkflowBase):
    """A row of :data:`workflows.core_tables.EVENTS`."""

    __table__: ClassVar[FromClause] = EVENTS

    id: Mapped[int]
    item_id: Mapped[int]
    run_id: Mapped[int]
    seq: Mapped[int]
    trigger: Mapped[str]
    from_state: Mapped[str]
    to_state: Mapped[str]
    attempt: Mapped[int]
    error_code: Mapped[str | None]
    error: Mapped[str | None]
    at: Mapped[float]
    detail: Mapped[dict[str, Any]]
