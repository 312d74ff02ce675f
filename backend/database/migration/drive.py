"""Driving runs: one batch, a whole run (with worker processes), the worker loop, and the
clean-up of pending originals after each commit."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from backend.database.migration import pending_files
from backend.database.migration.artifacts import Artifacts
from backend.database.migration.batching import BatchSizer
from backend.database.migration.errors import InvalidInputError
from backend.database.migration.faults import checkpoint
from backend.database.migration.library import LibraryRepository
from backend.database.migration.mapping import batch_size_or
from backend.database.migration.resources import run_info
from backend.database.migration.results import (
    AdvanceResult,
    ItemReportRecord,
    RunKind,
    RunStatusRecord,
)
from backend.database.migration.run_reads import run_status as read_run_status
from backend.database.migration.run_reads import status_record
from backend.database.migration.wiring import Wiring
from backend.database.migration.workers import EarlyWorkers, run_with_workers
from workflows.collector import batch_collections
from workflows.driver import ItemReport
from workflows.records import RunStatus

ProgressFn = Callable[[RunStatusRecord], None]
ONE_BATCH = 256
"""Default size of a single ``advance`` (one request, no adaptive sizing): the loops start
batches at one item and double them up to the configured ``batch_size`` while a batch takes
under a second, but one request of a thousand image items would take minutes."""


def run_status(wiring: Wiring, run_id: int) -> RunStatusRecord:
    """Counts per state, done/total, rate, ETA and whether the run can resume."""
    return read_run_status(wiring.engine, run_id)


def advance(wiring: Wiring, run_id: int, batch_size: int | None = None) -> AdvanceResult:
    """Run one batch of a run (at most :data:`ONE_BATCH` items unless ``batch_size`` says
    otherwise); returns what happened to each claimed item."""
    kind = run_info(wiring.store, run_id).kind
    size = batch_size_or(batch_size, min(wiring.settings.batch_size, ONE_BATCH))
    reports = wiring.drivers.current().advance(run_id, size)
    after_batch(wiring, reports, kind)
    return AdvanceResult(
        run_id=run_id,
        items=[ItemReportRecord.model_validate(r, from_attributes=True) for r in reports],
        status=run_status(wiring, run_id),
    )


def check_workers(workers: int) -> None:
    """InvalidInputError unless ``workers`` is in 1..64."""
    if workers < 1 or workers > 64:
        raise InvalidInputError("workers must be between 1 and 64")


def run_until_done(
    wiring: Wiring,
    run_id: int,
    *,
    workers: int = 1,
    batch_size: int | None = None,
    on_progress: ProgressFn | None = None,
    early: EarlyWorkers | None = None,
) -> RunStatusRecord:
    """Drive a run until no item can move; ``workers`` > 1 adds worker processes (the
    ``early`` ones first, see :func:`early_workers`)."""
    info = run_info(wiring.store, run_id)
    check_workers(workers)
    size = batch_size_or(batch_size, wiring.settings.batch_size)

    def progress(status: RunStatus) -> None:
        if on_progress is not None:
            on_progress(status_record(info.kind, status))

    def drive() -> None:
        _loop(wiring, run_id, size, progress if on_progress is not None else None)

    try:
        run_with_workers(wiring.settings, run_id, workers, drive, early)
    except BaseException:
        # Stopped (a signal) or failed: once the workers are gone, drop what they and this
        # thread's driver may still hold, so no lease outlives the command (what a signal
        # left open, run_with_workers has let go of: see workflows.stopping).
        with contextlib.suppress(Exception):
            driver = wiring.drivers.current()
            driver.store.release(driver.owner)
            wiring.store.reclaim_dead()
        raise
    sweep(wiring)
    return run_status(wiring, run_id)


def work(
    wiring: Wiring, run_id: int | None, *, once: bool = False, batch_size: int | None = None
) -> int:
    """Worker loop: process claimable items (of one run, or of any run) until none is left
    to claim, or one batch with ``once``; returns how many items it handled."""
    size = batch_size_or(batch_size, wiring.settings.batch_size)
    return _loop(wiring, run_id, size, once=once)


def _loop(
    wiring: Wiring,
    run_id: int | None,
    max_batch: int,
    on_status: Callable[[RunStatus], None] | None = None,
    *,
    once: bool = False,
) -> int:
    driver = wiring.drivers.current()
    store = wiring.store
    sizer = BatchSizer(max_batch)
    kind = None if run_id is None else run_info(store, run_id).kind
    handled = 0
    with batch_collections():
        while True:
            reports = driver.advance(run_id, sizer.start(), give_back=True)
            sizer.done(len(reports))
            after_batch(wiring, reports, kind)
            handled += len(reports)
            if once or (run_id is None and not reports):
                return handled
            if run_id is None or (reports and on_status is None):
                continue  # nobody watches the progress: ask for the status only when idle
            status = store.status(run_id)
            if on_status is not None:
                on_status(status)
            if status.finished:
                return handled
            if not reports:
                driver.run_until_done(run_id, sizer.size, on_status)
                return handled


def after_batch(wiring: Wiring, reports: Sequence[ItemReport], kind: str | None) -> None:
    """After the commit: remove originals of promoted / deleted pending models."""
    checkpoint("batch_committed")
    if kind == RunKind.LEGACY:
        return
    done = [r.item_id for r in reports if r.to_state in ("promoted", "deleted")]
    if not done:
        return
    for item in wiring.store.items_by_id(done):
        pending_files.remove(wiring.env.pending_dir, Artifacts.of(item).remove_files)


def sweep(wiring: Wiring) -> int:
    """Remove pending originals that no pending row references; returns how many."""
    with wiring.sessions() as session:
        referenced = LibraryRepository(session).pending_image_names()
    return pending_files.sweep(
        wiring.env.pending_dir, referenced, min_age_seconds=2 * wiring.settings.lease_seconds
    )
