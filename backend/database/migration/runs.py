"""Run lifecycle use cases: start (or resume) a legacy run, retry, resolve.

Each takes the wiring and primitives and returns records; none knows who calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backend.database.migration import pending_files
from backend.database.migration.artifacts import Artifacts
from backend.database.migration.backup import backup_sqlite, sqlite_path
from backend.database.migration.conflicts import LEGACY_STRATEGIES, Strategy, parse_strategy
from backend.database.migration.errors import InvalidInputError, NotFoundError, WrongStateError
from backend.database.migration.legacy.reader import LegacyReader
from backend.database.migration.legacy.rows import LegacyPreflight
from backend.database.migration.library import LibraryRepository
from backend.database.migration.mapping import delete_pending_row, item_record, run_record
from backend.database.migration.resources import run_info
from backend.database.migration.results import ItemRecord, RetryResult, RunKind, RunRecord
from backend.database.migration.types import TypeMap
from backend.database.migration.wiring import Wiring
from workflows.collector import batch_collections
from workflows.errors import InvalidTransition
from workflows.records import WorkItem
from workflows.store import WorkflowStore


def get_item(store: WorkflowStore, item_id: int) -> WorkItem:
    """An item; NotFoundError when there is none with that id."""
    item = store.get_item(item_id)
    if item is None:
        raise NotFoundError(f"no migration item with id {item_id}")
    return item


def backup_if_needed(wiring: Wiring, label: str) -> str | None:
    """Copy a non-empty SQLite library before a run first writes to it; the copy's path."""
    db_file = sqlite_path(wiring.engine)
    if db_file is None or not db_file.exists():
        return None
    with wiring.sessions() as session:
        repo = LibraryRepository(session)
        empty = repo.count_models() == 0 and not repo.pending_ids()
    if empty:
        return None
    return str(backup_sqlite(db_file, wiring.settings.backups_dir, label))


def preflight(
    legacy_db: Path, images_dir: Path, scratch_dir: Path, types: TypeMap
) -> LegacyPreflight:
    """Read a legacy library (read-only) and report what a migration will meet, with the
    v2 tab each legacy type lands in."""
    with LegacyReader(legacy_db, images_dir, scratch_dir=scratch_dir) as reader:
        return reader.preflight(types)


@batch_collections()
def start_legacy_run(
    wiring: Wiring, legacy_db: Path, images_dir: Path, *, on_conflict: str | None = None
) -> RunRecord:
    """Create the stage-1 run (one item per legacy row), or return the one already there.

    Starting again on the same legacy library (same path, size and content) resumes it.
    """
    store = wiring.store
    strategy = parse_strategy(on_conflict, LEGACY_STRATEGIES)
    legacy_db, images_dir = legacy_db.resolve(), images_dir.resolve()
    with LegacyReader(legacy_db, images_dir, scratch_dir=wiring.scratch_dir) as reader:
        fingerprint = reader.fingerprint()
        vocabulary = reader.tag_names()
        existing = store.find_run(RunKind.LEGACY, fingerprint, unfinished_only=False)
        if existing is not None:
            return resume_legacy_run(store, existing, strategy)  # its tags are in
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
    backup = backup_if_needed(wiring, "before-legacy")
    add_tags(wiring, vocabulary)
    options: dict[str, Any] = {
        "legacy_db": str(legacy_db),
        "images_dir": str(images_dir),
        "on_conflict": strategy.value if strategy else None,
        "duplicates": duplicates,
        "backup_path": backup,
    }
    run_id, created = store.create_or_find_run(
        RunKind.LEGACY, fingerprint, options, items, max_attempts=wiring.settings.max_attempts
    )
    if not created:
        discard_backup(backup)  # another process created the run first
    return run_record(run_info(store, run_id), resumed=not created)


def add_tags(wiring: Wiring, names: Sequence[str]) -> None:
    """Every legacy tag, used or not, into the library by name (the user's vocabulary)."""
    with wiring.write_sessions() as session, session.begin():
        LibraryRepository(session).ensure_tags(names)


def discard_backup(backup: str | None) -> None:
    """Remove a backup made for a run that another process created first."""
    if backup is not None:
        Path(backup).unlink(missing_ok=True)


TRANSIENT_EXHAUSTED = "retries_exhausted"


def resume_legacy_run(store: WorkflowStore, run_id: int, strategy: Strategy | None) -> RunRecord:
    """The run again: refuse another ``on_conflict`` than it was started with, and put
    back the items that failed only because their transient retries ran out."""
    info = run_info(store, run_id)
    started = info.options.get("on_conflict")
    if strategy is not None and strategy.value != started:
        raise InvalidInputError(
            f"legacy run {run_id} was started with --on-conflict {started or '(none)'}; "
            f"run it again with {'that' if started else 'no --on-conflict'}, and decide "
            "conflicted items with `model-migrate resolve ITEM STRATEGY`"
        )
    store.retry_run(run_id, error_codes=[TRANSIENT_EXHAUSTED], detail={"reason": "run resumed"})
    return run_record(info, resumed=True)


def retry(
    store: WorkflowStore, *, item_id: int | None = None, run_id: int | None = None
) -> RetryResult:
    """Put a failed item (or every failed item of a run) back where it failed."""
    if (item_id is None) == (run_id is None):
        raise InvalidInputError("give exactly one of item_id or run_id")
    if run_id is not None:
        run_info(store, run_id)
        return RetryResult(retried=store.retry_run(run_id))
    assert item_id is not None
    get_item(store, item_id)
    try:
        store.retry_item(item_id)
    except InvalidTransition as exc:
        raise WrongStateError(str(exc)) from exc
    return RetryResult(retried=[item_id])


def resolve(store: WorkflowStore, pending_dir: Path, item_id: int, strategy: str) -> ItemRecord:
    """Decide a conflicted item: override or merge re-run it; ignore / delete end it.

    A deleted pending model's originals go once the decision has committed.
    """
    chosen = parse_strategy(strategy)
    assert chosen is not None
    item = get_item(store, item_id)
    if chosen is Strategy.DELETE and item.kind == RunKind.LEGACY:
        raise InvalidInputError("delete applies to pending models; use ignore for legacy rows")
    on_resolve = delete_pending_row if chosen is Strategy.DELETE else None
    try:
        resolved = store.resolve_item(item_id, chosen.value, on_resolve)
    except InvalidTransition as exc:
        raise WrongStateError(str(exc)) from exc
    pending_files.remove(pending_dir, Artifacts.of(resolved).remove_files)
    return item_record(resolved)
