"""Stage-2 steps: a pending model hashed, inserted (or combined), imaged, tagged and promoted."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from backend.database.migration.artifacts import Artifacts, Conflict
from backend.database.migration.conflicts import WRITING_STRATEGIES, Strategy, combine
from backend.database.migration.errors import HashError
from backend.database.migration.hashing import HashCache, Hashed
from backend.database.migration.library import LibraryRepository
from backend.database.migration.pending_batch import Prefetched, delete_rows, save_hashes
from backend.database.migration.records import MetaJson, ModelRecord, PendingModelRecord
from backend.database.migration.results import RunKind
from backend.database.migration.scan import inside_roots
from backend.database.migration.steps.context import StepEnv
from backend.database.migration.steps.decisions import (
    conflict_transitions,
    item_strategy,
    with_decision,
)
from backend.database.migration.steps.publish import (
    ImageSource,
    publish_images,
    render_images,
    verify_images,
)
from backend.database.migration.types import TypeMap
from workflows.errors import StepError, TransientError
from workflows.machine import State
from workflows.records import WorkItem
from workflows.steps import ApplyFn, ApplyResult, Grouped, StepFn, Transition

PROMOTION = RunKind.PROMOTION


def pending_row(env: StepEnv, item: WorkItem) -> PendingModelRecord:
    """The pending row behind an item; a row that vanished is a permanent failure."""
    with env.sessions() as session:
        row = LibraryRepository(session).get_pending(int(item.source_key))
    if row is None:
        raise StepError("pending_missing", f"pending model {item.source_key} no longer exists")
    return row


def to_model_record(row: PendingModelRecord, sha256: str, types: TypeMap) -> ModelRecord:
    """The v2 model a pending row becomes (images_count is set by the image step); its type
    is the v2 tab, as for a legacy row (``extra.legacy_type`` keeps a changed one)."""
    meta = MetaJson(**row.meta.model_dump(exclude={"images"}))
    type_, extra = types.apply(row.type, row.path, meta.extra)
    return ModelRecord(
        sha256=sha256,
        path=row.path,
        name=row.name or Path(row.path).name,
        type=type_,
        size_bytes=row.size_bytes,
        created_at=row.created_at,
        meta=meta.model_copy(update={"extra": extra}),
        tags=row.tags,
    )


@dataclass(frozen=True)
class Import:
    """What the import step prepared for one pending model: its row, the model it becomes,
    the hash computed for it (None when the row had one) and the conflict strategy."""

    row: PendingModelRecord
    incoming: ModelRecord
    hashed: Hashed | None
    strategy: Strategy | None
    decided: bool


def _hash(env: StepEnv, row: PendingModelRecord, ahead: Prefetched | None) -> Hashed:
    """The pending file's hash, from the cache row read ahead (or asked for now) when the file
    is unchanged, else computed; nothing is stored yet (see :func:`keep_hashes`)."""
    if os.path.exists(row.path) and not os.path.isfile(row.path):  # a FIFO would block
        raise StepError(
            "source_not_a_file", f"{row.path} is not a regular file (a folder, FIFO or device)"
        )
    try:
        return env.hash_cache.compute(Path(row.path), ahead.lookup if ahead else None)
    except HashError as exc:
        if exc.code == "source_missing":
            raise StepError(exc.code, exc.message) from exc
        raise TransientError(exc.message) from exc


def keep_hashes(session: Session, prepared: Sequence[Import], *, cache: bool = True) -> None:
    """Store the hashes computed for pending models, in the cache (unless ``cache`` is False:
    stored already) and on their rows, one statement each for all: a file is hashed once,
    whatever becomes of its item."""
    _keep(session, [(p.row.id, p.hashed) for p in prepared if p.hashed is not None], cache)


def _keep(session: Session, hashed: Sequence[tuple[int, Hashed]], cache: bool = True) -> None:
    if hashed:
        if cache:
            HashCache.store(session, [h for _, h in hashed])
        save_hashes(session, [(pid, h.sha256) for pid, h in hashed])


def _keep_hash_now(env: StepEnv, pending_id: int, hashed: Hashed) -> None:
    """Store one hash in its own transaction (the item failed before its apply)."""
    with env.write_sessions() as session, session.begin():
        _keep(session, [(pending_id, hashed)])


def promotion_import(env: StepEnv) -> StepFn:
    """Step for ``pending`` promotion items: hash, then insert or resolve a conflict.

    New models are inserted together with the others of their commit group (see
    :func:`import_pending`); a conflict, or a group that fails, goes through :func:`_apply`.
    """

    def step(item: WorkItem) -> ApplyFn:
        ahead = env.pending.take(int(item.source_key)) if env.pending else None
        row = pending_row(env, item) if ahead is None else ahead.row
        if row is None:
            raise StepError("pending_missing", f"pending model {item.source_key} no longer exists")
        if not row.path.strip():
            raise StepError("empty_path", f"pending model {row.id} has an empty path")
        if not inside_roots(row.path, env.import_roots):
            raise StepError(
                "path_forbidden",
                f"{row.path} resolves outside MODEL_MIGRATE_IMPORT_ROOTS; not promoted",
            )
        if row.sha256 is not None:
            sha256, hashed = row.sha256, None
        else:
            hashed = _hash(env, row, ahead)
            sha256 = hashed.sha256
        try:
            incoming = to_model_record(row, sha256, env.types)
            strategy, decided = item_strategy(env, item)
        except Exception:
            if hashed is not None:
                _keep_hash_now(env, row.id, hashed)
            raise
        item.sha256 = sha256
        Artifacts.of(item).pending_images = list(row.meta.images)
        prepared = Import(row, incoming, hashed, strategy, decided)
        return Grouped(import_pending, prepared, functools.partial(_apply, prepared))

    return step


def import_pending(
    session: Session, entries: Sequence[tuple[WorkItem, Any]]
) -> list[ApplyResult | None]:
    """Group writer of the import step: insert every new model, finish the new ones without
    originals and keep every computed hash (one statement per table, before any item of the
    group runs alone, so an item failing then keeps its hash); an item whose hash is already
    in the library goes its own way (None)."""
    prepared: list[Import] = [p for _, p in entries]
    repo = LibraryRepository(session)
    inserted = repo.insert_models_if_new([p.incoming for p in prepared])
    results: list[ApplyResult | None] = []
    finished: list[Import] = []
    for item, p in entries:
        if p.incoming.sha256 not in inserted:
            results.append(None)
            continue
        inserted.discard(p.incoming.sha256)  # a second file of the same hash: a conflict
        if p.row.meta.images:
            results.append("import_model")
            continue
        finished.append(p)
        results.append(_imported_without_images(item))
    gone = {p.row.id for p in finished}
    HashCache.store(session, [p.hashed for p in prepared if p.hashed is not None])
    keep_hashes(session, [p for p in prepared if p.row.id not in gone], cache=False)
    repo.add_tags_to_models((p.incoming.sha256, p.row.tags) for p in finished)
    delete_rows(session, sorted(gone))
    return results


def _apply(p: Import, session: Session, item: WorkItem) -> Transition | list[Transition]:
    """The import of one pending model, alone: a new model, or a conflict and its strategy."""
    keep_hashes(session, [p])
    repo = LibraryRepository(session)
    row, incoming, sha256, strategy = p.row, p.incoming, p.incoming.sha256, p.strategy
    if repo.insert_model_if_new(incoming):
        if row.meta.images:
            return "import_model"
        repo.add_model_tags(sha256, row.tags)
        repo.delete_pending(row.id)
        return _imported_without_images(item)
    existing = repo.get_model(sha256)
    if existing is None:
        raise TransientError(f"model {sha256} was removed while it was imported")
    conflict = Conflict(sha256=sha256, existing_path=existing.path, pending_path=row.path)
    transitions = conflict_transitions(item, strategy, p.decided, conflict)
    if transitions is not None:
        if strategy is Strategy.DELETE:
            repo.delete_pending(row.id)
            Artifacts.of(item).remove_files = list(row.meta.images)
        return transitions
    assert strategy in WRITING_STRATEGIES
    repo.save_model(combine(existing, incoming, strategy))
    return with_decision(p.decided, strategy)


def _imported_without_images(item: WorkItem) -> list[Transition]:
    """A new model without originals: its image, tag and promote steps have nothing slow to
    prepare, so they run in the import's transaction, each still its own event."""
    artifacts = Artifacts.of(item)
    artifacts.image_seqs = []
    artifacts.images_count = 0
    artifacts.remove_files = []
    return ["import_model", "process_images", "sync_tags", "promote"]


def promotion_images(env: StepEnv) -> StepFn:
    """Step for ``imported`` promotion items: originals into tiers, appended after existing."""

    def step(item: WorkItem) -> ApplyFn:
        sha256 = item.sha256
        if sha256 is None:
            raise StepError("invalid_record", f"item {item.id} has no sha256")
        names = Artifacts.of(item).pending_images
        sources = [ImageSource(name, env.pending_dir / name) for name in names]
        rendered = render_images(item, sha256, sources, env.images_dir, env.webp_method)

        def apply(session: Session, item: WorkItem) -> Transition:
            publish_images(LibraryRepository(session), item, sha256, rendered, env.images_dir)
            return "process_images"

        return apply

    return step


def promotion_tags(env: StepEnv) -> StepFn:
    """Step for ``images_processed`` promotion items: union the pending tags by name."""

    def step(item: WorkItem) -> ApplyFn:
        row = pending_row(env, item)
        sha256 = item.sha256
        if sha256 is None:
            raise StepError("invalid_record", f"item {item.id} has no sha256")

        def apply(session: Session, item: WorkItem) -> Transition:
            LibraryRepository(session).add_model_tags(sha256, row.tags)
            return "sync_tags"

        return apply

    return step


def promotion_promote(env: StepEnv) -> StepFn:
    """Step for ``tags_synced`` promotion items: verify, remove the pending row, promote.

    The originals are removed by the service after the commit (and by the startup sweep).
    """

    def step(item: WorkItem) -> ApplyFn:
        sha256 = item.sha256
        if sha256 is None:
            raise StepError("invalid_record", f"item {item.id} has no sha256")

        def apply(session: Session, item: WorkItem) -> Transition:
            repo = LibraryRepository(session)
            artifacts = Artifacts.of(item)
            artifacts.images_count = verify_images(
                repo, sha256, env.images_dir, artifacts.image_seqs
            )
            repo.delete_pending(int(item.source_key))
            artifacts.remove_files = list(artifacts.pending_images)
            return "promote"

        return apply

    return step


def promotion_steps(env: StepEnv) -> dict[str, StepFn]:
    """The stage-2 step table, by item state."""
    return {
        State.pending.value: promotion_import(env),
        State.imported.value: promotion_images(env),
        State.images_processed.value: promotion_tags(env),
        State.tags_synced.value: promotion_promote(env),
    }
