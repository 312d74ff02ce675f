"""MigrationService: the facade the CLI and the HTTP API call, one short method per verb.

It takes primitives and returns pydantic records; callers never see sessions or ORM rows.
It is built by ``backend.bootstrap``; the work is done by the use-case modules (``runs``,
``drive``, ``promotion``, ``queries``), which never know who calls them.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from backend.config import Settings
from backend.database import export
from backend.database.export import ExportResult
from backend.database.migration import drive, promotion, queries, runs
from backend.database.migration.audit.records import AuditReport
from backend.database.migration.audit.report import AuditSources, RowSink
from backend.database.migration.audit.report import audit as run_audit
from backend.database.migration.drive import ProgressFn
from backend.database.migration.legacy.rows import LegacyPreflight
from backend.database.migration.mapping import legacy_summary
from backend.database.migration.records import PendingModelRecord
from backend.database.migration.results import (
    AdvanceResult,
    ConflictPreview,
    HealthRecord,
    ItemDetail,
    ItemPage,
    ItemRecord,
    LegacyMigrationResult,
    PromotionResult,
    RetryResult,
    RunRecord,
    RunStatusRecord,
    ScanResult,
)
from backend.database.migration.steps.context import StepEnv
from backend.database.migration.types import TypeMap
from backend.database.migration.wiring import Wiring
from backend.database.migration.workers import EarlyWorkers, early_workers
from workflows.store import WorkflowStore


class MigrationService:
    """Stage 1 (legacy runs), stage 2 (promotion runs), and everything to inspect and fix them."""

    def __init__(self, wiring: Wiring) -> None:
        self.wiring = wiring

    def close(self) -> None:
        """Close legacy readers and the engine's connections."""
        self.wiring.close()

    # --- collaborators (for tests and tools that look underneath) -----------------------------

    @property
    def settings(self) -> Settings:
        return self.wiring.settings

    @property
    def engine(self) -> Engine:
        return self.wiring.engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.wiring.sessions

    @property
    def write_sessions(self) -> sessionmaker[Session]:
        return self.wiring.write_sessions

    @property
    def store(self) -> WorkflowStore:
        return self.wiring.store

    @property
    def env(self) -> StepEnv:
        return self.wiring.env

    @property
    def scratch_dir(self) -> Path:
        return self.wiring.scratch_dir

    # --- stage 1 ------------------------------------------------------------------------------

    def preflight(self, legacy_db: Path, images_dir: Path) -> LegacyPreflight:
        """Read a legacy library (read-only) and report what a migration will meet."""
        types = TypeMap.load(self.settings.data_dir)  # as the data dir's cache is now
        return runs.preflight(legacy_db, images_dir, self.scratch_dir, types)

    def start_legacy_run(
        self, legacy_db: Path, images_dir: Path, *, on_conflict: str | None = None
    ) -> RunRecord:
        """Create the stage-1 run, or return (resume) the one already there."""
        return runs.start_legacy_run(self.wiring, legacy_db, images_dir, on_conflict=on_conflict)

    def migrate_legacy(
        self,
        legacy_db: Path,
        images_dir: Path,
        *,
        on_conflict: str | None = None,
        workers: int = 1,
    ) -> LegacyMigrationResult:
        """Start (or resume) the stage-1 run and drive it to the end; v2-shaped summary."""
        with self.early_workers(workers - 1) as early:
            run = self.start_legacy_run(legacy_db, images_dir, on_conflict=on_conflict)
            status = self.run_until_done(run.id, workers=workers, early=early)
        return legacy_summary(self.store, run, status)

    # --- driving ------------------------------------------------------------------------------

    def advance(self, run_id: int, batch_size: int | None = None) -> AdvanceResult:
        """Run one batch of a run; returns what happened to each claimed item."""
        return drive.advance(self.wiring, run_id, batch_size)

    def run_until_done(
        self,
        run_id: int,
        *,
        workers: int = 1,
        batch_size: int | None = None,
        on_progress: ProgressFn | None = None,
        early: EarlyWorkers | None = None,
    ) -> RunStatusRecord:
        """Drive a run until no item can move; ``workers`` > 1 adds worker processes (the
        ``early`` ones of :meth:`early_workers` first)."""
        return drive.run_until_done(
            self.wiring,
            run_id,
            workers=workers,
            batch_size=batch_size,
            on_progress=on_progress,
            early=early,
        )

    def early_workers(self, count: int) -> AbstractContextManager[EarlyWorkers | None]:
        """Start ``count`` worker processes now, before the run they will work on exists
        (they start up while this process creates the run); give them to
        :meth:`run_until_done`. Those not given a run exit at the end of the block."""
        drive.check_workers(count + 1)
        return early_workers(self.wiring.settings, count)

    def work(self, run_id: int | None, *, once: bool = False, batch_size: int | None = None) -> int:
        """Worker loop over claimable items; returns how many items it handled."""
        return drive.work(self.wiring, run_id, once=once, batch_size=batch_size)

    def sweep(self) -> int:
        """Remove pending originals that no pending row references; returns how many."""
        return drive.sweep(self.wiring)

    # --- inspecting ---------------------------------------------------------------------------

    def audit(
        self, run_id: int | None = None, *, deep: bool = False, on_row: RowSink | None = None
    ) -> AuditReport:
        """Account for every legacy row of a stage-1 run (the newest when None); with
        ``on_row`` each row goes there as soon as it is audited instead of into the report."""
        paths = (self.settings.images_dir, self.settings.pending_images_dir, self.scratch_dir)
        sources = AuditSources(self.sessions, self.store, *paths, self.env.types)
        return run_audit(sources, run_id, deep=deep, on_row=on_row)

    def health(self) -> HealthRecord:
        """Whether the library database answers, and whether its schema is at head."""
        return queries.health(self.wiring)

    def run_status(self, run_id: int) -> RunStatusRecord:
        """Counts per state, done/total, rate, ETA and whether the run can resume."""
        return drive.run_status(self.wiring, run_id)

    def get_run(self, run_id: int) -> RunRecord:
        """A run as created."""
        return queries.get_run(self.wiring, run_id)

    def list_runs(self) -> list[RunStatusRecord]:
        """Every run with its status, newest first."""
        return queries.list_runs(self.wiring)

    def list_items(
        self,
        run_id: int,
        *,
        state: str | None = None,
        limit: int = 100,
        after: int | None = None,
        type: str | None = None,
        query: str | None = None,
    ) -> ItemPage:
        """A keyset page of a run's items as models (name, type, thumbnail), optionally of one
        state and type, with a name containing ``query``."""
        return queries.list_items(
            self.wiring, run_id, state=state, limit=limit, after=after, type_=type, query=query
        )

    def item_detail(self, item_id: int) -> ItemDetail:
        """An item (as a model) with its warnings and full event history."""
        return queries.item_detail(self.wiring, item_id)

    def conflict_preview(self, item_id: int) -> ConflictPreview:
        """A conflicted item's two models side by side and what each strategy would make."""
        return queries.conflict_preview(self.wiring, item_id)

    # --- fixing -------------------------------------------------------------------------------

    def retry(self, *, item_id: int | None = None, run_id: int | None = None) -> RetryResult:
        """Put a failed item (or every failed item of a run) back where it failed."""
        return runs.retry(self.store, item_id=item_id, run_id=run_id)

    def resolve(self, item_id: int, strategy: str) -> ItemRecord:
        """Decide a conflicted item: override or merge re-run it; ignore / delete end it."""
        return runs.resolve(self.store, self.env.pending_dir, item_id, strategy)

    # --- stage 2 ------------------------------------------------------------------------------

    def start_promotion_run(
        self, ids: Sequence[int] | None, strategy: str | None = None
    ) -> RunRecord:
        """Add pending models (all when ``ids`` is None) to the open promotion run."""
        return promotion.start_promotion_run(self.wiring, ids, strategy)

    def promote_batch(
        self, ids: Sequence[Any] | None, strategy: str | None = None, *, workers: int = 1
    ) -> PromotionResult:
        """Promote pending models; per-item result in the v2 ``import_models`` shape."""
        return promotion.promote_batch(self.wiring, ids, strategy, workers=workers)

    def scan(self, dirs: Sequence[Path], extensions: Sequence[str] | None = None) -> ScanResult:
        """Register model files under ``dirs`` that the library does not know yet."""
        return promotion.scan(self.wiring, dirs, extensions)

    def export_v2(self, v2_data_dir: Path) -> ExportResult:
        """Write this library's models, tags and pending rows into the v2 file there."""
        return export.export_v2(self.engine, self.settings, v2_data_dir)

    # --- pending models -----------------------------------------------------------------------

    def pending_models(self) -> list[PendingModelRecord]:
        """Every pending model with its tags."""
        return queries.pending_models(self.wiring)

    def pending_model(self, pending_id: int) -> PendingModelRecord:
        """One pending model."""
        return queries.pending_model(self.wiring, pending_id)
