"""MigrationService: the single entry point of the CLI and the HTTP API.

It takes primitives and returns pydantic records; callers never see sessions or ORM rows.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from backend.config import Settings
from backend.database import export, schema
from backend.database.export import ExportResult
from backend.database.migration import pending_files
from backend.database.migration import promotion as promotion_service
from backend.database.migration.audit.records import AuditReport
from backend.database.migration.audit.report import AuditSources, RowSink
from backend.database.migration.audit.report import audit as run_audit
from backend.database.migration.backup import backup_sqlite, sqlite_path
from backend.database.migration.batching import BatchSizer
from backend.database.migration.conflicts import Strategy
from backend.database.migration.errors import InvalidInputError, NotFoundError, WrongStateError
from backend.database.migration.faults import checkpoint
from backend.database.migration.hashing import HashCache
from backend.database.migration.legacy.prefetch import PrefetchingRows
from backend.database.migration.legacy.reader import LegacyReader
from backend.database.migration.legacy.rows import LegacyPreflight
from backend.database.migration.library import LibraryRepository
from backend.database.migration.mapping import (
    STATES,
    batch_size_or,
    delete_pending_row,
    item_record,
    legacy_summary,
    parse_strategy,
    run_record,
    status_record,
)
from backend.database.migration.preview import conflict_preview
from backend.database.migration.records import PendingModelRecord
from backend.database.migration.results import (
    AdvanceResult,
    ConflictPreview,
    EventRecord,
    HealthRecord,
    ItemDetail,
    ItemPage,
    ItemRecord,
    ItemReportRecord,
    LegacyMigrationResult,
    PromotionResult,
    RetryResult,
    RunRecord,
    RunStatusRecord,
    ScanResult,
)
from backend.database.migration.steps.context import StepEnv
from backend.database.migration.steps.legacy import LEGACY, legacy_steps
from backend.database.migration.steps.promotion import PROMOTION, promotion_steps
from backend.database.migration.summary import ModelLookup, items_page, summarize
from backend.database.migration.types import TypeMap
from backend.database.migration.workers import run_with_workers
from backend.database.session import make_session_factory, writer
from workflows.driver import Driver, ItemReport
from workflows.errors import InvalidTransition, NotFound
from workflows.records import RunInfo, RunStatus, WorkItem
from workflows.store import WorkflowStore

ProgressFn = Callable[[RunStatusRecord], None]
TRANSIENT_EXHAUSTED = "retries_exhausted"


class MigrationService:
    """Stage 1 (legacy runs), stage 2 (promotion runs), and everything to inspect and fix them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = schema.open_library(settings)
        self.sessions = make_session_factory(self.engine)
        self.write_sessions = make_session_factory(writer(self.engine))
        self.store = WorkflowStore(self.engine)
        self._readers: dict[tuple[int, int], PrefetchingRows] = {}
        self._readers_lock = threading.Lock()
        self._thread = threading.local()
        self._options: dict[int, dict[str, Any]] = {}
        self.env = StepEnv(
            sessions=self.sessions,
            write_sessions=self.write_sessions,
            images_dir=settings.images_dir,
            pending_dir=settings.pending_images_dir,
            webp_method=settings.webp_method,
            reader_for_run=self._reader_for_run,
            run_options=self._run_options,
            hash_cache=HashCache(self.write_sessions),
            import_roots=settings.import_roots,
            types=TypeMap.load(settings.data_dir),
        )
        self.steps = {LEGACY: legacy_steps(self.env), PROMOTION: promotion_steps(self.env)}
        self.models = ModelLookup(
            self.sessions, settings.images_dir, self._reader_for_run, self.env.types
        )

    @property
    def scratch_dir(self) -> Path:
        """Where private snapshots of a legacy DB are read from (``DATA_DIR/tmp``)."""
        return self.settings.data_dir / "tmp"

    def export_v2(self, v2_data_dir: Path) -> ExportResult:
        """Write this library's models, tags and pending rows into the v2 file there."""
        return export.export_v2(self.engine, self.settings, v2_data_dir)

    def close(self) -> None:
        """Close legacy readers and the engine's connections."""
        with self._readers_lock:
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()
        self.engine.dispose()

    # --- composition helpers ------------------------------------------------------------------

    @property
    def driver(self) -> Driver:
        """This thread's driver: one lease owner per thread, so concurrent requests never
        release each other's leases."""
        driver: Driver | None = getattr(self._thread, "driver", None)
        if driver is None:
            driver = Driver(self.engine, self.steps, lease_seconds=self.settings.lease_seconds)
            self._thread.driver = driver
        return driver

    def _run_info(self, run_id: int) -> RunInfo:
        try:
            return self.store.run(run_id)
        except (NotFound, KeyError) as exc:
            raise NotFoundError(f"no migration run with id {run_id}") from exc

    def _run_options(self, run_id: int) -> dict[str, Any]:
        if run_id not in self._options:
            self._options[run_id] = dict(self._run_info(run_id).options)
        return self._options[run_id]

    def _reader_for_run(self, run_id: int) -> PrefetchingRows:
        """A legacy reader per (run, thread): a sqlite3 connection is bound to its thread."""
        key = (run_id, threading.get_ident())
        with self._readers_lock:
            reader = self._readers.get(key)
        if reader is None:
            options = self._run_options(run_id)
            reader = PrefetchingRows(
                LegacyReader(
                    Path(options["legacy_db"]),
                    Path(options["images_dir"]),
                    scratch_dir=self.scratch_dir,
                )
            )
            with self._readers_lock:
                self._readers[key] = reader
        return reader

    def _backup_if_needed(self, label: str) -> str | None:
        db_file = sqlite_path(self.engine)
        if db_file is None or not db_file.exists():
            return None
        with self.sessions() as session:
            repo = LibraryRepository(session)
            empty = repo.count_models() == 0 and not repo.pending_ids()
        if empty:
            return None
        return str(backup_sqlite(db_file, self.settings.backups_dir, label))

    # --- stage 1 ------------------------------------------------------------------------------

    def preflight(self, legacy_db: Path, images_dir: Path) -> LegacyPreflight:
        """Read a legacy library (read-only) and report what a migration will meet."""
        with LegacyReader(legacy_db, images_dir, scratch_dir=self.scratch_dir) as reader:
            return reader.preflight(TypeMap.load(self.settings.data_dir))

    def start_legacy_run(
        self, legacy_db: Path, images_dir: Path, *, on_conflict: str | None = None
    ) -> RunRecord:
        """Create the stage-1 run (one item per legacy row), or return the one already there.

        Starting again on the same legacy library (same path, size and content) resumes it.
        """
        strategy = parse_strategy(on_conflict, allowed=("override", "merge", "ignore"))
        legacy_db, images_dir = legacy_db.resolve(), images_dir.resolve()
        with LegacyReader(legacy_db, images_dir, scratch_dir=self.scratch_dir) as reader:
            fingerprint = reader.fingerprint()
            vocabulary = reader.tag_names()
            existing = self.store.find_run(LEGACY, fingerprint, unfinished_only=False)
            if existing is not None:
                return self._resume_legacy_run(existing, strategy)  # its tags are in
            items: list[tuple[str, str | None]] = []
            owners: dict[str, int] = {}
            duplicates: dict[str, int] = {}
            for key, sha256 in reader.hashes():
                items.append((key, sha256))
                if sha256 is None:
                    continue
                legacy_id = int(key)  # a row with a hash has an integer id
                if sha256 in owners:
                    duplicates[sha256] = owners[sha256]
                else:
                    owners[sha256] = legacy_id
        backup = self._backup_if_needed("before-legacy")
        self._add_tags(vocabulary)
        options: dict[str, Any] = {
            "legacy_db": str(legacy_db),
            "images_dir": str(images_dir),
            "on_conflict": strategy.value if strategy else None,
            "duplicates": duplicates,
            "backup_path": backup,
        }
        run_id = self.store.create_run(
            LEGACY, fingerprint, options, items, max_attempts=self.settings.max_attempts
        )
        return run_record(self._run_info(run_id))

    def _resume_legacy_run(self, run_id: int, strategy: Strategy | None) -> RunRecord:
        """The run again: refuse another ``on_conflict`` than it was started with, and put
        back the items that failed only because their transient retries ran out."""
        info = self._run_info(run_id)
        started = info.options.get("on_conflict")
        if strategy is not None and strategy.value != started:
            raise InvalidInputError(
                f"legacy run {run_id} was started with --on-conflict {started or '(none)'}; "
                f"run it again with {'that' if started else 'no --on-conflict'}, and decide "
                "conflicted items with `model-migrate resolve ITEM STRATEGY`"
            )
        self.store.retry_run(
            run_id, error_codes=[TRANSIENT_EXHAUSTED], detail={"reason": "run resumed"}
        )
        return run_record(info, resumed=True)

    def _add_tags(self, names: Sequence[str]) -> None:
        """Every legacy tag, used or not, into the library by name (the user's vocabulary)."""
        with self.write_sessions() as session, session.begin():
            LibraryRepository(session).ensure_tags(names)

    def migrate_legacy(
        self,
        legacy_db: Path,
        images_dir: Path,
        *,
        on_conflict: str | None = None,
        workers: int = 1,
    ) -> LegacyMigrationResult:
        """Start (or resume) the stage-1 run and drive it to the end; v2-shaped summary."""
        run = self.start_legacy_run(legacy_db, images_dir, on_conflict=on_conflict)
        status = self.run_until_done(run.id, workers=workers)
        return legacy_summary(self.store, run, status)

    # --- driving ------------------------------------------------------------------------------

    def advance(self, run_id: int, batch_size: int | None = None) -> AdvanceResult:
        """Run one batch of a run; returns what happened to each claimed item."""
        kind = self._run_info(run_id).kind
        size = batch_size_or(batch_size, self.settings.batch_size)
        reports = self.driver.advance(run_id, size)
        self._after_batch(reports, kind)
        return AdvanceResult(
            run_id=run_id,
            items=[ItemReportRecord.model_validate(asdict(r)) for r in reports],
            status=self.run_status(run_id),
        )

    def run_until_done(
        self,
        run_id: int,
        *,
        workers: int = 1,
        batch_size: int | None = None,
        on_progress: ProgressFn | None = None,
    ) -> RunStatusRecord:
        """Drive a run until no item can move; ``workers`` > 1 adds worker processes."""
        info = self._run_info(run_id)
        if workers < 1 or workers > 64:
            raise InvalidInputError("workers must be between 1 and 64")
        size = batch_size_or(batch_size, self.settings.batch_size)

        def progress(status: RunStatus) -> None:
            if on_progress is not None:
                on_progress(status_record(info.kind, status))

        def drive() -> None:
            self._loop(run_id, size, progress if on_progress is not None else None)

        try:
            run_with_workers(self.settings, run_id, workers, drive)
        except BaseException:
            # Stopped (a signal) or failed: once the workers are gone, drop what they and this
            # thread's driver may still hold, so no lease outlives the command.
            with contextlib.suppress(Exception):
                self.driver.store.release(self.driver.owner)
                self.store.reclaim_dead()
            raise
        self.sweep()
        return self.run_status(run_id)

    def work(self, run_id: int | None, *, once: bool = False, batch_size: int | None = None) -> int:
        """Worker loop: process claimable items (of one run, or of any run) until none is left
        to claim, or one batch with ``once``; returns how many items it handled."""
        return self._loop(run_id, batch_size_or(batch_size, self.settings.batch_size), once=once)

    def _loop(
        self,
        run_id: int | None,
        max_batch: int,
        on_status: Callable[[RunStatus], None] | None = None,
        *,
        once: bool = False,
    ) -> int:
        sizer = BatchSizer(max_batch)
        kind = None if run_id is None else self._run_info(run_id).kind
        handled = 0
        while True:
            reports = self.driver.advance(run_id, sizer.start())
            sizer.done(len(reports))
            self._after_batch(reports, kind)
            handled += len(reports)
            if once or (run_id is None and not reports):
                return handled
            if run_id is None or (reports and on_status is None):
                continue  # nobody watches the progress: ask for the status only when idle
            status = self.store.status(run_id)
            if on_status is not None:
                on_status(status)
            if status.finished:
                return handled
            if not reports:
                self.driver.run_until_done(run_id, sizer.size, on_status)
                return handled

    def _after_batch(self, reports: Sequence[ItemReport], kind: str | None) -> None:
        """After the commit: remove originals of promoted / deleted pending models."""
        checkpoint("batch_committed")
        if kind == LEGACY:
            return
        for report in reports:
            if report.to_state not in ("promoted", "deleted"):
                continue
            item = self.store.get_item(report.item_id)
            if item is not None:
                pending_files.remove(self.env.pending_dir, item.artifacts.get("remove_files", []))

    def sweep(self) -> int:
        """Remove pending originals that no pending row references; returns how many."""
        with self.sessions() as session:
            referenced = LibraryRepository(session).pending_image_names()
        return pending_files.sweep(
            self.env.pending_dir, referenced, min_age_seconds=2 * self.settings.lease_seconds
        )

    # --- inspecting ---------------------------------------------------------------------------

    def audit(
        self, run_id: int | None = None, *, deep: bool = False, on_row: RowSink | None = None
    ) -> AuditReport:
        """Account for every legacy row of a stage-1 run (the newest when None); with
        ``on_row`` each row goes there as soon as it is audited instead of into the report."""
        sources = AuditSources(
            self.sessions, self.store, self.settings.images_dir, self.scratch_dir, self.env.types
        )
        return run_audit(sources, run_id, deep=deep, on_row=on_row)

    def health(self) -> HealthRecord:
        """Whether the library database answers, and whether its schema is at head."""
        head = schema.head_revision()
        try:
            revision = schema.current_revision(self.engine)
        except SQLAlchemyError:
            return HealthRecord(ok=False, database=False, schema_revision=None, head_revision=head)
        return HealthRecord(
            ok=revision == head, database=True, schema_revision=revision, head_revision=head
        )

    def run_status(self, run_id: int) -> RunStatusRecord:
        """Counts per state, done/total, rate, ETA and whether the run can resume."""
        info = self._run_info(run_id)
        return status_record(info.kind, self.store.status(run_id))

    def get_run(self, run_id: int) -> RunRecord:
        """A run as created."""
        return run_record(self._run_info(run_id))

    def list_runs(self) -> list[RunStatusRecord]:
        """Every run with its status, newest first."""
        runs = sorted(self.store.runs(), key=lambda r: r.id, reverse=True)
        return [status_record(r.kind, self.store.status(r.id)) for r in runs]

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
        self._run_info(run_id)
        if not 1 <= limit <= 1000:
            raise InvalidInputError("limit must be between 1 and 1000")
        if state is not None and state not in STATES:
            raise InvalidInputError(f"unknown state {state!r}; one of {', '.join(STATES)}")
        return items_page(
            self.store, self.models, run_id, state=state, limit=limit, after=after,
            type_=type, query=query,
        )  # fmt: skip

    def item_detail(self, item_id: int) -> ItemDetail:
        """An item (as a model) with its warnings and full event history."""
        item = self._item(item_id)
        events = [EventRecord.model_validate(asdict(e)) for e in self.store.events(item_id)]
        return ItemDetail(item=summarize(self.models, [item])[0], events=events)

    def conflict_preview(self, item_id: int) -> ConflictPreview:
        """A conflicted item's two models side by side and what each strategy would make."""
        return conflict_preview(self.store, self.models, item_id)

    def _item(self, item_id: int) -> WorkItem:
        item = self.store.get_item(item_id)
        if item is None:
            raise NotFoundError(f"no migration item with id {item_id}")
        return item

    # --- fixing -------------------------------------------------------------------------------

    def retry(self, *, item_id: int | None = None, run_id: int | None = None) -> RetryResult:
        """Put a failed item (or every failed item of a run) back where it failed."""
        if (item_id is None) == (run_id is None):
            raise InvalidInputError("give exactly one of item_id or run_id")
        if run_id is not None:
            self._run_info(run_id)
            return RetryResult(retried=self.store.retry_run(run_id))
        assert item_id is not None
        self._item(item_id)
        try:
            self.store.retry_item(item_id)
        except InvalidTransition as exc:
            raise WrongStateError(str(exc)) from exc
        return RetryResult(retried=[item_id])

    def resolve(self, item_id: int, strategy: str) -> ItemRecord:
        """Decide a conflicted item: override or merge re-run it; ignore / delete end it."""
        chosen = parse_strategy(strategy, allowed=tuple(s.value for s in Strategy))
        assert chosen is not None
        item = self._item(item_id)
        if chosen is Strategy.DELETE and item.kind == LEGACY:
            raise InvalidInputError("delete applies to pending models; use ignore for legacy rows")
        on_resolve = delete_pending_row if chosen is Strategy.DELETE else None
        try:
            resolved = self.store.resolve_item(item_id, chosen.value, on_resolve)
        except InvalidTransition as exc:
            raise WrongStateError(str(exc)) from exc
        pending_files.remove(self.env.pending_dir, resolved.artifacts.get("remove_files", []))
        return item_record(resolved)

    # --- stage 2 ------------------------------------------------------------------------------

    def start_promotion_run(
        self, ids: Sequence[int] | None, strategy: str | None = None
    ) -> RunRecord:
        """Add pending models (all when ``ids`` is None) to the open promotion run."""
        return promotion_service.start_promotion_run(self, ids, strategy)

    def promote_batch(
        self, ids: Sequence[Any] | None, strategy: str | None = None, *, workers: int = 1
    ) -> PromotionResult:
        """Promote pending models; per-item result in the v2 ``import_models`` shape."""
        return promotion_service.promote_batch(self, ids, strategy, workers=workers)

    def scan(self, dirs: Sequence[Path], extensions: Sequence[str] | None = None) -> ScanResult:
        """Register model files under ``dirs`` that the library does not know yet."""
        return promotion_service.scan(self, dirs, extensions)

    # --- pending models -------------------------------------------------------------------------

    def pending_models(self) -> list[PendingModelRecord]:
        """Every pending model with its tags."""
        with self.sessions() as session:
            return LibraryRepository(session).list_pending()

    def pending_model(self, pending_id: int) -> PendingModelRecord:
        """One pending model."""
        with self.sessions() as session:
            row = LibraryRepository(session).get_pending(pending_id)
        if row is None:
            raise NotFoundError(f"no pending model with id {pending_id}")
        return row
