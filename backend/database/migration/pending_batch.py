"""Pending rows a batch at a time: one read for a claim's rows (and their hash-cache rows),
one statement to save many hashes or remove many rows.

Every promotion item's first step needs its pending row and its file's cache row; read one by
one they cost four queries per item. :class:`PendingBatch` reads them when the driver claims
(``Driver(on_claim=...)``), for the claiming thread; a step takes its row once, and a later
step (or a retry) reads it afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from backend.database.migration.hashing import HashCache, Lookup
from backend.database.migration.library import pending_record
from backend.database.migration.library_statements import (
    DELETE_PENDING,
    DELETE_PENDING_TAGS,
    PENDING,
    PENDING_TAGS,
    SET_PENDING_SHA,
    TAGS,
)
from backend.database.migration.records import PendingModelRecord
from backend.database.migration.results import RunKind
from workflows.failures import is_transient
from workflows.machine import State
from workflows.records import WorkItem

CHUNK = 500

_ROWS = select(PENDING).where(PENDING.c.id.in_(bindparam("ids", expanding=True)))
_TAGS = (
    select(PENDING_TAGS.c.model_id, TAGS.c.name)
    .join(TAGS, PENDING_TAGS.c.tag_id == TAGS.c.id)
    .where(PENDING_TAGS.c.model_id.in_(bindparam("ids", expanding=True)))
    .order_by(TAGS.c.name)
)


def read_pending(session: Session, ids: Iterable[int]) -> dict[int, PendingModelRecord]:
    """Pending models with their tags by id, two queries per :data:`CHUNK` ids; an id without
    a row is left out. The same records as ``LibraryRepository.get_pending`` one by one."""
    wanted = sorted(set(ids))
    conn = session.connection()
    found: dict[int, PendingModelRecord] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        tags: dict[int, list[str]] = {pid: [] for pid in chunk}
        for pid, name in conn.execute(_TAGS, {"ids": chunk}):
            tags[pid].append(name)
        for row in conn.execute(_ROWS, {"ids": chunk}):
            found[row.id] = pending_record(row._mapping, tags[row.id])
    return found


def save_hashes(session: Session, hashes: Sequence[tuple[int, str]]) -> None:
    """Save computed hashes on their pending rows, one statement for all."""
    if hashes:
        params = [{"pid": pid, "new": sha256} for pid, sha256 in hashes]
        session.connection().execute(SET_PENDING_SHA, params)


def delete_rows(session: Session, ids: Sequence[int]) -> None:
    """Remove pending rows and their tag links, two statements for all."""
    if ids:
        conn = session.connection()
        params = [{"pid": pid} for pid in ids]
        conn.execute(DELETE_PENDING_TAGS, params)
        conn.execute(DELETE_PENDING, params)


@dataclass(frozen=True)
class Prefetched:
    """A claimed item's pending row (None: no such row) and what the hash cache holds for its
    file (None when it was not asked: the row has its hash, or a path that cannot be one)."""

    row: PendingModelRecord | None
    lookup: Lookup | None


class PendingBatch:
    """The pending rows of the items this thread claimed last, each handed out once."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._local = threading.local()

    def load(self, items: Sequence[WorkItem]) -> None:
        """Read the rows of the claimed promotion items about to be imported (the driver's
        ``on_claim``); what an earlier claim read is dropped."""
        ids = [
            int(item.source_key)
            for item in items
            if item.kind == RunKind.PROMOTION
            and item.state == State.pending.value
            and item.source_key.isdigit()
        ]
        batch: dict[int, Prefetched] = {}
        self._local.batch = batch
        if not ids:
            return
        try:
            with self._sessions() as session:
                rows = read_pending(session, ids)
            paths = {pid: row.path for pid, row in rows.items() if row.sha256 is None}
            keys = HashCache.keys(p for p in paths.values() if p.strip())  # no transaction open
            with self._sessions() as session:
                entries = HashCache.entries(session, keys.values())
        except Exception as exc:
            if not is_transient(exc):
                raise
            return  # a busy database: each step reads its row, and retries as any step does
        for pid in ids:
            key = keys.get(paths[pid]) if pid in paths else None
            lookup = None if key is None else Lookup(key, entries.get(key))
            batch[pid] = Prefetched(rows.get(pid), lookup)

    def take(self, pending_id: int) -> Prefetched | None:
        """The read-ahead of a pending id, once; None when it was not read ahead."""
        batch: dict[int, Prefetched] = getattr(self._local, "batch", {})
        return batch.pop(pending_id, None)
