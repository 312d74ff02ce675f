"""Stage-2 use cases: promotion runs, v2 batch results, scan of model folders."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backend.database.migration import pending_files
from backend.database.migration.artifacts import Artifacts, Conflict
from backend.database.migration.conflicts import parse_strategy
from backend.database.migration.drive import run_until_done
from backend.database.migration.errors import InvalidInputError
from backend.database.migration.library import LibraryRepository
from backend.database.migration.mapping import run_record
from backend.database.migration.records import PendingMetaJson
from backend.database.migration.resources import run_info
from backend.database.migration.results import (
    ConflictEntry,
    FailedEntry,
    PromotionResult,
    RunKind,
    RunRecord,
    ScanResult,
)
from backend.database.migration.runs import backup_if_needed, discard_backup
from backend.database.migration.scan import (
    DEFAULT_EXTENSIONS,
    admissible_file,
    type_for,
    walk_models,
)
from backend.database.migration.wiring import Wiring
from workflows.collector import batch_collections
from workflows.records import WorkItem


def _split_ids(ids: Sequence[Any], known: set[int]) -> tuple[list[int], list[FailedEntry]]:
    """Requested ids that name a pending model, and a failed entry for every other one."""
    valid: list[int] = []
    failed: list[FailedEntry] = []
    seen: set[int] = set()
    for raw in ids:
        if isinstance(raw, bool) or not isinstance(raw, int):
            failed.append(FailedEntry(id=raw, error=f"id {raw!r} is not an integer"))
        elif raw not in known:
            failed.append(FailedEntry(id=raw, error=f"no pending model with id {raw}"))
        elif raw not in seen:
            seen.add(raw)
            valid.append(raw)
    return valid, failed


def _describe(item: WorkItem | None, pending_id: int, result: PromotionResult) -> None:
    if item is None:
        result.failed.append(FailedEntry(id=pending_id, error="not part of the promotion run"))
    elif item.state == "promoted":
        result.success.append(pending_id)
    elif item.state == "ignored":
        result.ignored.append(pending_id)
    elif item.state == "deleted":
        result.deleted.append(pending_id)
    elif item.state == "conflicted":
        conflict = Artifacts.of(item).conflict or Conflict()
        result.conflict.append(
            ConflictEntry(
                pending={"id": pending_id, "path": conflict.pending_path},
                existing={"id": conflict.sha256, "path": conflict.existing_path},
            )
        )
    elif item.state == "failed":
        error = f"{item.last_error_code}: {item.last_error}"
        result.failed.append(FailedEntry(id=pending_id, error=error))
    else:
        message = f"not finished (state {item.state}); run `model-migrate status {item.run_id}`"
        result.failed.append(FailedEntry(id=pending_id, error=message))


def remove_promoted_originals(wiring: Wiring) -> int:
    """Remove originals left behind by promoted or deleted pending models; how many.

    The originals of a promoted (or deleted) pending model are removed after the commit; a
    process killed between the two leaves them on disk with no pending row. They are the
    ``remove_files`` of finished promotion items that no pending row references any more.
    """
    pending_dir = wiring.env.pending_dir
    if not pending_dir.is_dir():
        return 0
    on_disk = {entry.name for entry in pending_dir.iterdir() if entry.is_file()}
    if not on_disk:
        return 0
    with wiring.sessions() as session:
        loose = on_disk - LibraryRepository(session).pending_image_names()
    if not loose:
        return 0
    finished: set[str] = set()
    for run in wiring.store.runs():
        if run.kind != RunKind.PROMOTION:
            continue
        for state in ("promoted", "deleted"):
            after: int | None = None
            while True:
                page = wiring.store.items(run.id, state, 1000, after)
                for item in page:
                    finished.update(Artifacts.of(item).remove_files)
                if len(page) < 1000:
                    break
                after = page[-1].id
    return pending_files.remove(pending_dir, sorted(loose & finished))


@batch_collections()
def start_promotion_run(
    wiring: Wiring, ids: Sequence[int] | None, strategy: str | None = None
) -> RunRecord:
    """Add pending models (all when ``ids`` is None) to the open promotion run for
    ``strategy``, creating the run when none is open (one transaction, guarded by the
    database: concurrent callers in any process join the same run)."""
    chosen = parse_strategy(strategy)
    remove_promoted_originals(wiring)
    store = wiring.store
    fingerprint = f"pending:{chosen.value if chosen else 'none'}"
    with wiring.sessions() as session:
        known = LibraryRepository(session).pending_rows_hashes()
    wanted = sorted(known) if ids is None else [i for i in ids if i in known]
    items = [(str(i), known[i]) for i in wanted]
    backup = None
    if store.find_run(RunKind.PROMOTION, fingerprint) is None:
        backup = backup_if_needed(wiring, "before-promotion")
    options = {"on_conflict": chosen.value if chosen else None, "backup_path": backup}
    run_id, created = store.join_open_run(
        RunKind.PROMOTION, fingerprint, options, items, max_attempts=wiring.settings.max_attempts
    )
    if not created:
        discard_backup(backup)
    return run_record(run_info(store, run_id))


def promote_batch(
    wiring: Wiring,
    ids: Sequence[Any] | None,
    strategy: str | None = None,
    *,
    workers: int = 1,
) -> PromotionResult:
    """Promote pending models and report each one in the v2 ``import_models`` shape.

    Bad or unknown ids are failed entries; they never abort the batch.
    """
    parse_strategy(strategy)
    remove_promoted_originals(wiring)
    with wiring.sessions() as session:
        known = set(LibraryRepository(session).pending_ids())
    requested: Sequence[Any] = sorted(known) if ids is None else ids
    valid, failed = _split_ids(requested, known)
    result = PromotionResult(run_id=None, total=len(requested), failed=failed)
    if not valid:
        return result
    run = start_promotion_run(wiring, valid, strategy)
    run_until_done(wiring, run.id, workers=workers)
    result.run_id = run.id
    items = _items_by_source(wiring, run.id)
    for pending_id in valid:
        _describe(items.get(str(pending_id)), pending_id, result)
    return result


def _items_by_source(wiring: Wiring, run_id: int) -> dict[str, WorkItem]:
    """Every item of a run by source key, a page of 1000 at a time."""
    found: dict[str, WorkItem] = {}
    after: int | None = None
    while page := wiring.store.items(run_id, limit=1000, after=after):
        found.update((item.source_key, item) for item in page)
        after = page[-1].id
    return found


def scan(
    wiring: Wiring, dirs: Sequence[Path], extensions: Sequence[str] | None = None
) -> ScanResult:
    """Add model files under ``dirs`` that the library does not know as pending rows."""
    for folder in dirs:
        if not folder.is_dir():
            raise InvalidInputError(f"scan folder {folder} does not exist or is not a folder")
    scanned = added = skipped = 0
    added_paths: list[str] = []
    with wiring.write_sessions() as session, session.begin():
        repo = LibraryRepository(session)
        known = repo.known_paths()
        for root, file in walk_models(dirs, extensions or DEFAULT_EXTENSIONS):
            scanned += 1
            found = admissible_file(file, wiring.settings.import_roots)
            path = str(found[0]) if found else ""
            if found is None or path in known:
                skipped += 1  # known, dangling, gone, no regular file or outside the roots
                continue
            stat = found[1]
            repo.upsert_pending(
                path=path,
                name=file.stem,
                type=type_for(file, root),
                size_bytes=stat.st_size,
                created_at=int(stat.st_mtime * 1000) or int(time.time() * 1000),
                meta=PendingMetaJson(),
            )
            known.add(path)
            added += 1
            added_paths.append(path)
    return ScanResult(scanned=scanned, added=added, skipped=skipped, added_paths=added_paths)
