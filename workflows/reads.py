"""Read side of the workflow store: runs, items, histories and run status (aggregates only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, and_, case, func, select, text, update

from workflows import clock
from workflows.errors import NotFound
from workflows.fence import (
    EVENTS,
    FINAL_VALUES,
    ITEM_COLUMNS,
    ITEMS,
    RUNS,
    WORKING_VALUES,
    item_from_row,
)
from workflows.machine import State
from workflows.records import EventRow, RunInfo, RunStatus, Wakeup, WorkItem
from workflows.tables import FINAL_EVENT_SQL

RATE_WINDOW_SECONDS = 60.0
RATE_SAMPLE = 10_000
"""The rate is measured over the last minute, or over the latest RATE_SAMPLE completions
when more than that happened in the minute (so the query stays bounded)."""


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
        with self.engine.connect() as conn:
            row = conn.execute(select(RUNS).where(RUNS.c.id == run_id)).first()
        if row is None:
            raise NotFound(f"no migration run {run_id}")
        return _run(row)

    def runs(self) -> list[RunInfo]:
        """Every run, newest first."""
        with self.engine.connect() as conn:
            return [_run(r) for r in conn.execute(select(RUNS).order_by(RUNS.c.id.desc()))]

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
        now = clock.now()
        since = now - RATE_WINDOW_SECONDS
        with self.engine.connect() as conn:
            run = conn.execute(
                select(RUNS.c.created_at, RUNS.c.finished_at).where(RUNS.c.id == run_id)
            ).first()
            if run is None:
                raise NotFound(f"no migration run {run_id}")
            per_state = conn.execute(
                select(ITEMS.c.status, func.count())
                .where(ITEMS.c.run_id == run_id)
                .group_by(ITEMS.c.status)
            ).all()
            # The latest completions (at most RATE_SAMPLE) through the partial index.
            latest = (
                select(EVENTS.c.at)
                .where(EVENTS.c.run_id == run_id, EVENTS.c.at >= since, text(FINAL_EVENT_SQL))
                .order_by(EVENTS.c.at.desc())
                .limit(RATE_SAMPLE)
                .subquery()
            )
            recent, oldest = conn.execute(select(func.count(), func.min(latest.c.at))).one()
        counts = {s.value: 0 for s in State}
        for state, count in per_state:
            counts[state] = counts.get(state, 0) + int(count)
        total = sum(counts.values())
        done = sum(counts[s] for s in FINAL_VALUES)
        waiting = counts[State.conflicted.value] + counts[State.failed.value]
        remaining = sum(counts[s] for s in WORKING_VALUES)
        window = min(RATE_WINDOW_SECONDS, max(now - float(run.created_at), 1.0))
        if recent >= RATE_SAMPLE:
            window = min(window, max(now - float(oldest), 1.0))
        rate = int(recent) / window
        finished = remaining == 0
        if finished != (run.finished_at is not None):
            with self.writer.begin() as conn:
                conn.execute(
                    update(RUNS)
                    .where(RUNS.c.id == run_id)
                    .values(finished_at=now if finished else None, updated_at=now)
                )
        return RunStatus(
            run_id=run_id,
            counts=counts,
            total=total,
            done=done,
            waiting=waiting,
            remaining=remaining,
            rate=rate,
            eta_seconds=remaining / rate if rate > 0 else None,
            resumable=remaining > 0,
            finished=finished,
        )


def _run(row: Any) -> RunInfo:
    return RunInfo(
        id=row.id,
        kind=row.kind,
        fingerprint=row.source_fingerprint,
        options=dict(row.options or {}),
        created_at=row.created_at,
        finished_at=row.finished_at,
    )
