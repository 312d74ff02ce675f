"""Stage-2 steps: a pending model hashed, inserted (or combined), imaged, tagged and promoted."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.orm import Session

from backend.database.migration.artifacts import Artifacts, Conflict
from backend.database.migration.conflicts import WRITING_STRATEGIES, Strategy, combine
from backend.database.migration.errors import HashError
from backend.database.migration.library import LibraryRepository
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
from workflows.steps import ApplyFn, StepFn, Transition

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


def _hash(env: StepEnv, item: WorkItem, row: PendingModelRecord) -> str:
    """The pending file's hash: from the row, else computed once and saved on the row at once."""
    if row.sha256 is not None:
        return row.sha256
    if os.path.exists(row.path) and not os.path.isfile(row.path):  # a FIFO would block
        raise StepError(
            "source_not_a_file", f"{row.path} is not a regular file (a folder, FIFO or device)"
        )

    def save(session: Session, digest: str) -> None:
        LibraryRepository(session).set_pending_sha256(row.id, digest)

    try:
        return env.hash_cache.get_or_compute(Path(row.path), save=save)
    except HashError as exc:
        if exc.code == "source_missing":
            raise StepError(exc.code, exc.message) from exc
        raise TransientError(exc.message) from exc


def promotion_import(env: StepEnv) -> StepFn:
    """Step for ``pending`` promotion items: hash, then insert or resolve a conflict."""

    def step(item: WorkItem) -> ApplyFn:
        row = pending_row(env, item)
        if not row.path.strip():
            raise StepError("empty_path", f"pending model {row.id} has an empty path")
        if not inside_roots(row.path, env.import_roots):
            raise StepError(
                "path_forbidden",
                f"{row.path} resolves outside MODEL_MIGRATE_IMPORT_ROOTS; not promoted",
            )
        sha256 = _hash(env, item, row)
        item.sha256 = sha256
        Artifacts.of(item).pending_images = list(row.meta.images)
        strategy, decided = item_strategy(env, item)

        def apply(session: Session, item: WorkItem) -> Transition | list[Transition]:
            repo = LibraryRepository(session)
            incoming = to_model_record(row, sha256, env.types)
            if repo.insert_model_if_new(incoming):
                if row.meta.images:
                    return "import_model"
                return _without_images(repo, item, sha256, row)
            existing = repo.get_model(sha256)
            if existing is None:
                raise TransientError(f"model {sha256} was removed while it was imported")
            conflict = Conflict(sha256=sha256, existing_path=existing.path, pending_path=row.path)
            transitions = conflict_transitions(item, strategy, decided, conflict)
            if transitions is not None:
                if strategy is Strategy.DELETE:
                    repo.delete_pending(row.id)
                    Artifacts.of(item).remove_files = list(row.meta.images)
                return transitions
            assert strategy in WRITING_STRATEGIES
            repo.save_model(combine(existing, incoming, strategy))
            return with_decision(decided, strategy)

        return apply

    return step


def _without_images(
    repo: LibraryRepository, item: WorkItem, sha256: str, row: PendingModelRecord
) -> list[Transition]:
    """A new model without originals: its image, tag and promote steps have nothing slow to
    prepare, so they run here, in the import's transaction, each still its own event."""
    repo.add_model_tags(sha256, row.tags)
    repo.delete_pending(row.id)
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
