"""Mapping between the engine's dataclasses and the service's records, and small checks of
the service's inputs."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from backend.database.migration.artifacts import Artifacts
from backend.database.migration.errors import InvalidInputError
from backend.database.migration.library import LibraryRepository
from backend.database.migration.results import (
    ItemRecord,
    LegacyMigrationResult,
    RunRecord,
    RunStatusRecord,
)
from workflows.machine import State
from workflows.records import RunInfo, WorkItem
from workflows.store import WorkflowStore


def run_record(info: RunInfo, *, resumed: bool = False) -> RunRecord:
    """A run as the service returns it."""
    return RunRecord(
        id=info.id,
        kind=info.kind,
        source_fingerprint=info.fingerprint,
        options=info.options,
        created_at=info.created_at,
        finished_at=info.finished_at,
        resumed=resumed,
        backup_path=info.options.get("backup_path"),
    )


def legacy_summary(
    store: WorkflowStore, run: RunRecord, status: RunStatusRecord
) -> LegacyMigrationResult:
    """The v2 ``migrate_legacy_db`` summary of a stage-1 run (one pass over its items)."""
    images = image_errors = 0
    after: int | None = None
    while True:
        page = store.items(run.id, None, 1000, after)
        for item in page:
            images += len(Artifacts.of(item).image_seqs)
            image_errors += sum(1 for w in item.warnings if w.get("code", "").startswith("image_"))
        if len(page) < 1000:
            break
        after = page[-1].id
    counts = status.counts
    return LegacyMigrationResult(
        status="completed" if status.finished and not status.waiting else "needs_attention",
        run_id=run.id,
        db_migration={
            "migrated": counts["promoted"],
            "pending": counts["staged"],
            "errors": counts["failed"],
            "conflicts": counts["conflicted"],
            "images_processed": images,
            "image_errors": image_errors,
        },
        counts=counts,
        backup_path=run.backup_path,
    )


STATES = tuple(state.value for state in State)


def delete_pending_row(conn: Connection, item: WorkItem) -> None:
    """Inside the resolve transaction: drop the pending row; its originals go after commit."""
    with Session(bind=conn) as session:
        repo = LibraryRepository(session)
        row = repo.get_pending(int(item.source_key))
        if row is not None:
            repo.delete_pending(row.id)
            Artifacts.of(item).remove_files = list(row.meta.images)
        session.flush()


def item_record(item: WorkItem) -> ItemRecord:
    """An item as the service returns it (the fields map one to one)."""
    return ItemRecord.model_validate(item, from_attributes=True)


def batch_size_or(value: int | None, default: int) -> int:
    size = default if value is None else value
    if not 1 <= size <= 10_000:
        raise InvalidInputError("batch_size must be between 1 and 10000")
    return size
