"""Read side of the workflow store: runs, items, histories and run status (aggregates only)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, and_, case, func, select

from workflows import clock
from workflows.fence import (
    EVENTS,
    ITEM_COLUMNS,
    ITEMS,
    WORKING_VALUES,
    item_from_row,
)
from workflows.records import EventRow, RunInfo, RunStatus, Wakeup, WorkItem
from workflows.status import read_run, read_runs, run_status


class StoreReads:
    """Queries of :class:`workflows.store.WorkflowStore`; nothing here loads a whole run."""

    engine: Engine
    writer: Engine
    _postgres: bool

    def wakeup(self, run_id: int | None, owner: str) -> Wakeup:
        """When a WORKING item of the run can next be claimed, and how many others lease now."""
        now = clock.now()
        leased_by_other = and_(
            ITEMS.c.lease_owner.is_not(None),
            ITEMS.c.lease_owner != owner,
            ITEMS.c.lease_expires_at >= now,
        )
        ready_at = case(
            (
                and_(ITEMS.c.lease_owner.is_not(None), ITEMS.c.lease_expires_at >= now),
                func.max(ITEMS.c.lease_expires_at, ITEMS.c.next_attempt_at)
                if not self._postgres
                else func.greatest(ITEMS.c.lease_expires_at, ITEMS.c.next_attempt_at),
            ),
            else_=ITEMS.c.next_attempt_at,
        )
        query = select(func.min(ready_at), func.count().filter(leased_by_other)).where(
            ITEMS.c.status.in_(WORKING_VALUES)
        )
        if run_id is not None:
            query = query.where(ITEMS.c.run_id == run_id)
        with self.engine.connect() as conn:
            at, leased = conn.execute(query).one()
        return Wakeup(at=None if at is None else float(at), leased=int(leased or 0))

    # ------------------------------------------------------------------------------

    def run(self, run_id: int) -> RunInfo:
        """One run; raises :class:`NotFound`."""
        return read_run(self.engine, run_id)

    def runs(self) -> list[RunInfo]:
        """Every run, newest first."""
        return read_runs(self.engine)

    def get_item(self, item_id: int) -> WorkItem | None:
        """One item, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(*ITEM_COLUMNS).where(ITEMS.c.id == item_id)).first()
        return None if row is None else item_from_row(row)

    def items_by_id(self, item_ids: Iterable[int]) -> list[WorkItem]:
        """The items with these ids, in id order (one query per 500 ids)."""
        wanted = sorted(set(item_ids))
        found: list[WorkItem] = []
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                query = select(*ITEM_COLUMNS).where(ITEMS.c.id.in_(chunk)).order_by(ITEMS.c.id)
                found.extend(item_from_row(r) for r in conn.execute(query))
        return found

    def item_by_source(self, run_id: int, source_key: str) -> WorkItem | None:
        """The item of ``run_id`` for ``source_key``, or None."""
        query = select(*ITEM_COLUMNS).where(
            ITEMS.c.run_id == run_id, ITEMS.c.source_key == source_key
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else item_from_row(row)

    def items(
        self, run_id: int, state: str | None = None, limit: int = 100, after: int | None = None
    ) -> list[WorkItem]:
        """A page of a run's items by id (keyset: pass the last id seen as ``after``)."""
        query = select(*ITEM_COLUMNS).where(ITEMS.c.run_id == run_id)
        if state is not None:
            query = query.where(ITEMS.c.status == state)
        if after is not None:
            query = query.where(ITEMS.c.id > after)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(ITEMS.c.id).limit(limit))
            return [item_from_row(r) for r in rows]

    def events(self, item_id: int) -> list[EventRow]:
        """An item's history in order."""
        query = select(EVENTS).where(EVENTS.c.item_id == item_id).order_by(EVENTS.c.seq)
        with self.engine.connect() as conn:
            return [
                EventRow(
                    id=r.id,
                    item_id=r.item_id,
                    seq=r.seq,
                    trigger=r.trigger,
                    from_state=r.from_state,
                    to_state=r.to_state,
                    attempt=r.attempt,
                    error_code=r.error_code,
                    error=r.error,
                    at=r.at,
                    detail=dict(r.detail or {}),
                )
                for r in conn.execute(query)
            ]

    def status(self, run_id: int) -> RunStatus:
        """Counts per state, done/total, rate, ETA; marks the run finished when it is."""
        return run_status(self.engine, self.writer, run_id)
