"""Run reads that need only the Core tables: one run, every run, a run's status.

:class:`workflows.reads.StoreReads` answers with these; a short command (``status``) calls
them on an engine alone, without the store, the ORM or the state machine.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select, text, update

from workflows import clock
from workflows.core_tables import EVENTS, FINAL_EVENT_SQL, ITEMS, RUNS
from workflows.errors import NotFound
from workflows.records import RunInfo, RunStatus
from workflows.states import FINAL, WORKING, State

RATE_WINDOW_SECONDS = 60.0
RATE_SAMPLE = 10_000
"""The rate is measured over the last minute, or over the latest RATE_SAMPLE completions
when more than that happened in the minute (so the query stays bounded)."""

_FINAL_VALUES = sorted(s.value for s in FINAL)
_WORKING_VALUES = sorted(s.value for s in WORKING)


def read_run(engine: Engine, run_id: int) -> RunInfo:
    """One run; raises :class:`NotFound`."""
    with engine.connect() as conn:
        row = conn.execute(select(RUNS).where(RUNS.c.id == run_id)).first()
    if row is None:
        raise NotFound(f"no migration run {run_id}")
    return _run(row)


def read_runs(engine: Engine) -> list[RunInfo]:
    """Every run, newest first."""
    with engine.connect() as conn:
        return [_run(r) for r in conn.execute(select(RUNS).order_by(RUNS.c.id.desc()))]


def run_status(engine: Engine, writer: Engine, run_id: int) -> RunStatus:
    """Counts per state, done/total, rate, ETA; marks the run finished (through ``writer``)
    when it is.

    The counts come from the ``(run_id, status, …)`` index alone; the rate from the partial
    index of finishing events.
    """
    now = clock.now()
    since = now - RATE_WINDOW_SECONDS
    with engine.connect() as conn:
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
    done = sum(counts[s] for s in _FINAL_VALUES)
    waiting = counts[State.conflicted.value] + counts[State.failed.value]
    remaining = sum(counts[s] for s in _WORKING_VALUES)
    window = min(RATE_WINDOW_SECONDS, max(now - float(run.created_at), 1.0))
    if recent >= RATE_SAMPLE:
        window = min(window, max(now - float(oldest), 1.0))
    rate = int(recent) / window
    finished = remaining == 0
    if finished != (run.finished_at is not None):
        with writer.begin() as conn:
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
