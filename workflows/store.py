"""Persistence of runs, items and events: claims, leases, fenced transitions, person actions.

Writes go through the writer engine (``BEGIN IMMEDIATE`` on SQLite). Hot paths use SQLAlchemy
Core on the ORM tables; nothing here loads all items of a run.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    select,
    update,
)
from sqlalchemy.orm import Session

from workflows import clock, runs
from workflows.claiming import ClaimWeight, claim_statement
from workflows.errors import NotFound
from workflows.fence import (
    FINAL_VALUES,
    ITEM_COLUMNS,
    ITEMS,
    RUNS,
    fail_crash_loop,
    item_from_row,
    write_transition,
)
from workflows.machine import WORKING, State, fire
from workflows.owner import parse_owner, pid_alive
from workflows.reads import StoreReads
from workflows.records import WorkItem
from workflows.runs import Items
from workflows.tables import writer


class WorkflowStore(StoreReads):
    """Runs, items and events of the workflow engine on one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.writer = writer(engine)
        self._postgres = engine.dialect.name == "postgresql"

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.writer.begin() as conn:
            yield conn

    # --- runs and items ---------------------------------------------------------------------

    def create_run(
        self,
        kind: str,
        fingerprint: str,
        options: dict[str, Any],
        items: Items,
        *,
        max_attempts: int = 5,
    ) -> int:
        """Create a run with one ``pending`` item per ``(source_key, sha256)``; its id.

        The run holds no key: use :meth:`create_or_find_run` / :meth:`join_open_run` for
        runs that must be the only one of their source.
        """
        with self._write() as conn:
            run_id = runs.insert_run(conn, kind, fingerprint, options, hold=False)
            assert run_id is not None
            runs.insert_items(conn, run_id, kind, items, max_attempts, skip=set())
        return run_id

    def create_or_find_run(
        self,
        kind: str,
        fingerprint: str,
        options: dict[str, Any],
        items: Items,
        *,
        max_attempts: int = 5,
    ) -> tuple[int, bool]:
        """The one run of ``(kind, fingerprint)``, ever: created with ``items``, or the one
        already there (left as it is); ``(run_id, created)``.

        One write transaction; the unique ``open_key`` index decides between concurrent
        callers of any process, and the loser reads the winner's run.
        """
        with self._write() as conn:
            while True:
                found = runs.holder(conn, kind, fingerprint)
                if found is not None:
                    return found, False
                run_id = runs.insert_run(conn, kind, fingerprint, options, hold=True)
                if run_id is not None:
                    runs.insert_items(conn, run_id, kind, items, max_attempts, skip=set())
                    return run_id, True

    def join_open_run(
        self,
        kind: str,
        fingerprint: str,
        options: dict[str, Any],
        items: Items,
        *,
        max_attempts: int = 5,
    ) -> tuple[int, bool]:
        """Add ``items`` to the open run of ``(kind, fingerprint)``, or create it with them;
        ``(run_id, created)``. Source keys the run already has are skipped.

        A run stays open while an item is outside the FINAL states; a run whose items all
        ended gives its key up here, so a new run takes it. One write transaction, guarded by
        the unique ``open_key`` index.
        """
        with self._write() as conn:
            while True:
                found = runs.holder(conn, kind, fingerprint)
                if found is not None:
                    if runs.is_open(conn, found):
                        runs.add_items(conn, found, kind, items, max_attempts)
                        return found, False
                    runs.release(conn, found)
                run_id = runs.insert_run(conn, kind, fingerprint, options, hold=True)
                if run_id is not None:
                    runs.insert_items(conn, run_id, kind, items, max_attempts, skip=set())
                    return run_id, True

    def add_items(self, run_id: int, items: Items, *, max_attempts: int = 5) -> int:
        """Add ``pending`` items to a run, skipping source keys it already has; how many."""
        with self._write() as conn:
            kind = conn.execute(select(RUNS.c.kind).where(RUNS.c.id == run_id)).scalar()
            if kind is None:
                raise NotFound(f"no run {run_id}")
            return runs.add_items(conn, run_id, kind, items, max_attempts)

    def find_run(self, kind: str, fingerprint: str, *, unfinished_only: bool = True) -> int | None:
        """Newest run of ``kind`` on ``fingerprint``; with ``unfinished_only`` only a run that
        still has an item outside the FINAL states (working, conflicted or failed)."""
        query = select(RUNS.c.id).where(
            RUNS.c.kind == kind, RUNS.c.source_fingerprint == fingerprint
        )
        if unfinished_only:
            open_items = select(ITEMS.c.id).where(
                ITEMS.c.run_id == RUNS.c.id, ITEMS.c.status.not_in(FINAL_VALUES)
            )
            query = query.where(open_items.exists())
        with self.engine.connect() as conn:
            found = conn.execute(query.order_by(RUNS.c.id.desc()).limit(1)).scalar()
        return None if found is None else int(found)

    # --- claims and leases ------------------------------------------------------------------

    def claim(
        self,
        run_id: int | None,
        owner: str,
        limit: int,
        lease_seconds: float,
        weight: ClaimWeight | None = None,
        *,
        suspects_only: bool = False,
    ) -> list[WorkItem]:
        """Lease up to ``limit`` claimable items (``run_id=None``: any run), lowest id first;
        with ``weight``, only as many as its budget allows (see :class:`ClaimWeight`); with
        ``suspects_only``, only items a driver died holding (``crashes`` > 0).

        One ``UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING`` inside ``BEGIN IMMEDIATE`` on
        SQLite, with ``FOR UPDATE SKIP LOCKED`` in the subquery on PostgreSQL. Taking over an
        expired lease counts as a crash; an item whose crashes reach ``max_attempts`` goes
        ``failed`` with ``crash_loop`` instead of being returned.
        """
        stmt = claim_statement(
            run_id, owner, limit, lease_seconds, weight, self._postgres, suspects_only=suspects_only
        )
        with self._write() as conn:
            rows = conn.execute(stmt).all()
            claimed = sorted((item_from_row(r) for r in rows), key=lambda i: i.id)
            looping = [i for i in claimed if i.crashes >= i.max_attempts]
            for item in looping:
                fail_crash_loop(conn, item, owner)
        return [i for i in claimed if i.crashes < i.max_attempts]

    def heartbeat(self, owner: str, lease_seconds: float) -> int:
        """Extend every lease ``owner`` holds; how many (0 means they were all lost)."""
        with self._write() as conn:
            result = conn.execute(
                update(ITEMS)
                .where(ITEMS.c.lease_owner == owner)
                .values(lease_expires_at=clock.now() + lease_seconds)
            )
        return int(result.rowcount)

    def release(self, owner: str, item_ids: Iterable[int] | None = None) -> int:
        """Drop ``owner``'s leases (only on ``item_ids`` when given: none for an empty list,
        without a write transaction); how many."""
        stmt = update(ITEMS).where(ITEMS.c.lease_owner == owner)
        if item_ids is not None:
            ids = list(item_ids)
            if not ids:
                return 0
            stmt = stmt.where(ITEMS.c.id.in_(ids))
        with self._write() as conn:
            result = conn.execute(stmt.values(lease_owner=None, lease_expires_at=None))
        return int(result.rowcount)

    def reclaim_dead(self, owner_host: str | None = None) -> int:
        """Release at once the leases of dead processes on this host; how many items.

        Each such item counts a crash; one whose crashes reach ``max_attempts`` goes ``failed``
        with ``crash_loop``.
        """
        host = owner_host if owner_host is not None else socket.gethostname()
        with self.engine.connect() as conn:
            owners = conn.execute(
                select(ITEMS.c.lease_owner).where(ITEMS.c.lease_owner.is_not(None)).distinct()
            ).scalars()
            dead = []
            for owner in owners:
                parsed = parse_owner(owner)
                if parsed is not None and parsed[0] == host and not pid_alive(parsed[1]):
                    dead.append(owner)
        if not dead:
            return 0
        stmt = (
            update(ITEMS)
            .where(ITEMS.c.lease_owner.in_(dead))
            .values(
                lease_owner=None,
                lease_expires_at=None,
                crashes=ITEMS.c.crashes + 1,
                version=ITEMS.c.version + 1,
            )
            .returning(*ITEM_COLUMNS)
        )
        with self._write() as conn:
            reclaimed = sorted((item_from_row(r) for r in conn.execute(stmt)), key=lambda i: i.id)
            for item in reclaimed:
                if item.crashes >= item.max_attempts and item.state in WORKING:
                    fail_crash_loop(conn, item, None)
        return len(reclaimed)

    # --- transitions ------------------------------------------------------------------------

    def commit_transition(
        self,
        session: Session,
        item: WorkItem,
        owner: str,
        trigger: str,
        from_state: str,
        to_state: str,
        *,
        error_code: str | None = None,
        error: str | None = None,
        detail: dict[str, Any] | None = None,
        next_attempt_at: float | None = None,
        keep_lease: bool = True,
        attempt: int | None = None,
    ) -> bool:
        """Write ``item``'s new state and its event inside the caller's transaction.

        Fenced on ``lease_owner = owner`` and ``version``: returns False (writing nothing) when
        the lease was lost; the caller then rolls back the item's savepoint.
        """
        return write_transition(
            session.connection(),
            item,
            trigger,
            from_state,
            to_state,
            owner=owner,
            error_code=error_code,
            error=error,
            detail=detail,
            next_attempt_at=next_attempt_at,
            keep_lease=keep_lease,
            attempt=attempt,
        )

    def record_backoff(
        self,
        item: WorkItem,
        owner: str,
        error: str,
        next_attempt_at: float,
        *,
        error_code: str = "transient",
    ) -> bool:
        """After a transient error: store attempts and error, release the lease, and write a
        ``backoff`` event (same from and to state). Fenced like a transition."""
        with self._write() as conn:
            return write_transition(
                conn,
                item,
                "backoff",
                item.state,
                item.state,
                owner=owner,
                error_code=error_code,
                error=error,
                detail={"next_attempt_at": next_attempt_at},
                next_attempt_at=next_attempt_at,
                keep_lease=False,
            )

    # --- person-driven actions --------------------------------------------------------------

    def _locked_item(self, conn: Connection, item_id: int) -> WorkItem:
        query = select(*ITEM_COLUMNS).where(ITEMS.c.id == item_id)
        if self._postgres:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no migration item {item_id}")
        return item_from_row(row)

    def _retry(
        self, conn: Connection, item: WorkItem, detail: dict[str, Any] | None = None
    ) -> None:
        from_state, to_state = fire(item, "retry")
        item.attempts = 0
        item.crashes = 0
        write_transition(
            conn,
            item,
            "retry",
            from_state,
            to_state,
            owner=None,
            detail=detail,
            next_attempt_at=0.0,
            keep_lease=False,
        )
        _reopen_run(conn, item.run_id)

    def retry_item(self, item_id: int) -> WorkItem:
        """Send a failed item back to the state it failed from, with fresh attempts."""
        with self._write() as conn:
            item = self._locked_item(conn, item_id)
            self._retry(conn, item)
        return item

    def retry_run(
        self,
        run_id: int,
        *,
        error_codes: Iterable[str] | None = None,
        detail: dict[str, Any] | None = None,
    ) -> list[int]:
        """Retry the failed items of a run (only those whose last error has one of
        ``error_codes`` when given; ``detail`` goes on each ``retry`` event); their ids."""
        query = select(ITEMS.c.id).where(
            ITEMS.c.run_id == run_id, ITEMS.c.status == State.failed.value
        )
        if error_codes is not None:
            query = query.where(ITEMS.c.last_error_code.in_(list(error_codes)))
        with self._write() as conn:
            ids = list(conn.execute(query.order_by(ITEMS.c.id)).scalars())
            for item_id in ids:
                self._retry(conn, self._locked_item(conn, item_id), detail)
        return ids

    def resolve_item(
        self,
        item_id: int,
        strategy: str,
        on_resolve: Callable[[Connection, WorkItem], None] | None = None,
    ) -> WorkItem:
        """Resolve a conflicted item with ``strategy`` (stored on the item and in the event).

        ``on_resolve`` runs inside the same transaction, after the move was allowed and before
        it is written, so a decision's side effects commit together with it.
        """
        with self._write() as conn:
            item = self._locked_item(conn, item_id)
            from_state, to_state = fire(item, "resolve", strategy=strategy)
            item.strategy = strategy
            if on_resolve is not None:
                on_resolve(conn, item)
            write_transition(
                conn,
                item,
                "resolve",
                from_state,
                to_state,
                owner=None,
                detail={"strategy": strategy},
                keep_lease=False,
            )
            if to_state in WORKING:
                _reopen_run(conn, item.run_id)
        return item


def _reopen_run(conn: Connection, run_id: int) -> None:
    conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(finished_at=None))
