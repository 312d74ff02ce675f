"""Statements that create runs and add their items, inside the caller's write transaction.

A run that is *the* run of its source holds ``open_key`` (its fingerprint) under a unique
index per kind; :func:`insert_run` inserts with ``ON CONFLICT DO NOTHING``, so of two callers
that both found no run, exactly one inserts and the other reads the winner's run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from workflows import clock
from workflows.fence import FINAL_VALUES, ITEMS, RUNS
from workflows.machine import State
from workflows.rowsets import BulkInsert

INSERT_CHUNK = 5_000

Items = Iterable[tuple[str, str | None]]
"""``(source_key, sha256)`` of the items to create."""


def _postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def insert_run(
    conn: Connection, kind: str, fingerprint: str, options: dict[str, Any], *, hold: bool
) -> int | None:
    """Insert a run; with ``hold`` it takes ``open_key`` and None means another run holds it
    (nothing inserted; on PostgreSQL after waiting for that run's transaction to end)."""
    now = clock.now()
    values = {
        "kind": kind,
        "source_fingerprint": fingerprint,
        "open_key": fingerprint if hold else None,
        "options": options,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
    }
    if not hold:
        return int(conn.execute(insert(RUNS).values(values).returning(RUNS.c.id)).scalar_one())
    dialect_insert = postgresql_insert if _postgres(conn) else sqlite_insert
    stmt = dialect_insert(RUNS).values(values).on_conflict_do_nothing().returning(RUNS.c.id)
    found = conn.execute(stmt).scalar()
    return None if found is None else int(found)


def holder(conn: Connection, kind: str, fingerprint: str) -> int | None:
    """The run holding ``(kind, fingerprint)``, locked on PostgreSQL until the transaction
    ends (so adders of one run queue up)."""
    query = select(RUNS.c.id).where(RUNS.c.kind == kind, RUNS.c.open_key == fingerprint)
    if _postgres(conn):
        query = query.with_for_update()
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def is_open(conn: Connection, run_id: int) -> bool:
    """Whether an item of the run is outside the FINAL states (working, conflicted, failed)."""
    open_items = select(ITEMS.c.id).where(
        ITEMS.c.run_id == run_id, ITEMS.c.status.not_in(FINAL_VALUES)
    )
    return bool(conn.execute(select(open_items.exists())).scalar())


def release(conn: Connection, run_id: int) -> None:
    """The run stops holding its key: a newer run of the same source may take it."""
    conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(open_key=None))


def add_items(conn: Connection, run_id: int, kind: str, items: Items, max_attempts: int) -> int:
    """Add ``pending`` items, skipping source keys the run has; reopens it; how many."""
    skip = set(conn.execute(select(ITEMS.c.source_key).where(ITEMS.c.run_id == run_id)).scalars())
    added = insert_items(conn, run_id, kind, items, max_attempts, skip=skip)
    if added:
        conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(finished_at=None))
    return added


def insert_items(
    conn: Connection,
    run_id: int,
    kind: str,
    items: Items,
    max_attempts: int,
    *,
    skip: set[str],
) -> int:
    """Insert one ``pending`` item per source key not in ``skip``, in chunks; how many."""
    now = clock.now()
    batch: list[dict[str, Any]] = []
    added = 0
    for source_key, sha256 in items:
        if source_key in skip:
            continue
        skip.add(source_key)
        batch.append(
            {
                "run_id": run_id,
                "kind": kind,
                "source_key": source_key,
                "sha256": sha256,
                "status": State.pending.value,
                "failed_from_state": None,
                "attempts": 0,
                "max_attempts": max_attempts,
                "crashes": 0,
                "next_attempt_at": 0.0,
                "warnings": [],
                "artifacts": {},
                "version": 0,
                "updated_at": now,
            }
        )
        if len(batch) >= INSERT_CHUNK:
            added += _insert(conn, batch)
            batch = []
    return added + _insert(conn, batch)


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert item rows: ``executemany`` on SQLite, ``COPY`` on PostgreSQL."""
    _INSERT_ITEMS.execute(conn, rows)
    return len(rows)


_ITEM_COLUMNS = (
    "run_id",
    "kind",
    "source_key",
    "sha256",
    "status",
    "failed_from_state",
    "attempts",
    "max_attempts",
    "crashes",
    "next_attempt_at",
    "warnings",
    "artifacts",
    "version",
    "updated_at",
)
_INSERT_ITEMS = BulkInsert(ITEMS, _ITEM_COLUMNS)
