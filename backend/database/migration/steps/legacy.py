"""Stage-1 steps: one legacy row through import (or stage), images, tags and promote.

Each step is two-phase (see ``workflows.steps``): the outer function does the slow, idempotent
side effects outside any write transaction and returns ``apply``, which makes the step's DB
writes inside the fenced transaction that also records the state change.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.database.migration.artifacts import Artifacts, Conflict
from backend.database.migration.conflicts import WRITING_STRATEGIES, Strategy, combine
from backend.database.migration.legacy.reader import INVALID_ID_PREFIX
from backend.database.migration.legacy.rows import LegacyModel
from backend.database.migration.library import LibraryRepository
from backend.database.migration.records import (
    ItemWarning,
    MetaJson,
    ModelRecord,
    PendingMetaJson,
)
from backend.database.migration.results import RunKind
from backend.database.migration.steps.context import StepEnv
from backend.database.migration.steps.decisions import (
    conflict_transitions,
    item_strategy,
    with_decision,
)
from backend.database.migration.steps.ownership import (
    PriorWrites,
    Written,
    record_written,
)
from backend.database.migration.steps.pending import stage_pending
from backend.database.migration.steps.publish import (
    ImageSource,
    add_warning,
    check_original,
    publish_images,
    render_images,
    verify_images,
)
from backend.database.migration.types import TypeMap
from workflows.errors import StepError, TransientError
from workflows.machine import WORKING, State
from workflows.records import WorkItem
from workflows.steps import ApplyFn, Grouped, StepFn, Transition
from workflows.tables import MigrationItem

LEGACY = RunKind.LEGACY


def legacy_row(env: StepEnv, item: WorkItem) -> LegacyModel:
    """The legacy row behind an item; a row that vanished is a permanent failure, and so is
    a row whose id is no integer (its key starts with ``invalid-id:``)."""
    if item.source_key.startswith(INVALID_ID_PREFIX):
        shown = item.source_key.removeprefix(INVALID_ID_PREFIX)
        raise StepError(
            "legacy_id_invalid",
            f"legacy row id {shown!r} is not stored as an INTEGER; the row is not migrated",
        )
    row = env.readers.for_run(item.run_id).get(int(item.source_key))
    if row is None:
        raise StepError("legacy_row_missing", f"legacy row {item.source_key} no longer exists")
    return row


def legacy_row_or_none(env: StepEnv, run_id: int, legacy_id: int | None) -> LegacyModel | None:
    """Another legacy row of the run (e.g. the one owning a duplicated hash), if it exists."""
    return None if legacy_id is None else env.readers.for_run(run_id).get(legacy_id)


def user_meta(row: LegacyModel, types: TypeMap | None = None) -> dict[str, Any]:
    """What the user wrote on a legacy row, as MetaJson and PendingMetaJson take it (with
    ``extra.legacy_type`` when ``types`` changes the row's type)."""
    extra = row.extra if types is None else types.apply(row.type, row.path, row.extra)[1]
    return {
        "description": row.description,
        "community_links": row.community_links,
        "prompts": row.prompts,
        "extra": extra,
    }


def to_model_record(row: LegacyModel, sha256: str, types: TypeMap) -> ModelRecord:
    """The v2 model a legacy row becomes (images_count is set by the image step).

    The one legacy → library mapping: the steps write it and the audit compares with it.
    ``type`` is the v2 tab (see :class:`TypeMap`).
    """
    return ModelRecord(
        sha256=sha256,
        path=row.path,
        name=row.name,
        type=types.v2_type(row.type, row.path),
        size_bytes=row.size_bytes,
        created_at=row.created_at,
        meta=MetaJson(**user_meta(row, types)),
        tags=row.tags,
    )


def as_v2_row(row: LegacyModel, types: TypeMap) -> LegacyModel:
    """The legacy row with the type it gets in the library (for comparing with the library)."""
    mapped = types.v2_type(row.type, row.path)
    return row if mapped == row.type else row.model_copy(update={"type": mapped})


def _winner_state(session: Session, run_id: int, legacy_id: int) -> str | None:
    return session.scalar(
        select(MigrationItem.status).where(
            MigrationItem.run_id == run_id, MigrationItem.source_key == str(legacy_id)
        )
    )


def legacy_import(env: StepEnv, prior: PriorWrites) -> StepFn:
    """Step for ``pending`` legacy items: import under the hash, or stage without one."""

    def step(item: WorkItem) -> ApplyFn:
        row = legacy_row(env, item)
        for warning in row.warnings:
            add_warning(item, warning)
        if not row.path.strip():
            raise StepError(
                "empty_path",
                f"legacy row {row.legacy_id} has an empty path; give it one in the legacy DB"
                " and run `model-migrate legacy` again",
            )
        if row.hash_kind == "invalid":
            add_warning(
                item,
                ItemWarning(
                    code="legacy_hash_invalid",
                    message=f"hash {row.hash_raw[:80]!r} is not a SHA-256; the model is staged"
                    " and hashed when promoted",
                ),
            )
        if not os.path.exists(row.path):
            add_warning(
                item,
                ItemWarning(
                    code="model_file_missing",
                    message=f"model file {row.path} does not exist; its metadata still migrates",
                    file=row.path,
                ),
            )
        if row.sha256 is None:
            return _stage(env, item, row)
        return _import(env, prior, item, row, row.sha256)

    return step


def _changed_in_v2(sha256: str) -> ItemWarning:
    return ItemWarning(
        code="changed_in_v2",
        message=f"model {sha256} was changed in the v2 app after an earlier run wrote it;"
        " the library's row is kept unless --on-conflict override|merge was given",
    )


def _keep_users_row(item: WorkItem, existing: ModelRecord, written: Written) -> list[Transition]:
    """The model changed in the v2 app since this migration wrote it: keep the user's row
    (nothing is written) and carry the record forward, so later reruns keep it too."""
    artifacts = Artifacts.of(item)
    artifacts.conflict = Conflict(sha256=existing.sha256, existing_path=existing.path)
    artifacts.library_digest = written.digest
    artifacts.created_model = written.created
    item.strategy = Strategy.IGNORE.value
    return ["conflict", ("resolve", {"strategy": Strategy.IGNORE.value})]


def _import(
    env: StepEnv, prior: PriorWrites, item: WorkItem, row: LegacyModel, sha256: str
) -> ApplyFn:
    item.sha256 = sha256
    winner: int | None = env.options.for_run(item.run_id).get("duplicates", {}).get(sha256)
    duplicate = winner is not None and winner != row.legacy_id
    strategy, decided = item_strategy(env, item)
    winner_row = legacy_row_or_none(env, item.run_id, winner) if duplicate else None

    incoming = to_model_record(row, sha256, env.types)

    def apply(session: Session, item: WorkItem) -> Transition | list[Transition]:
        repo = LibraryRepository(session)
        if not duplicate and repo.insert_model_if_new(incoming):
            artifacts = Artifacts.of(item)
            artifacts.image_mode = "new"
            artifacts.created_model = True
            if row.images:
                return "import_model"
            return _without_images(repo, item, incoming)
        existing = repo.get_model(sha256)
        if existing is None:
            # A lower legacy id owns this hash but has not imported it (yet).
            assert winner is not None
            if strategy not in WRITING_STRATEGIES:
                path = winner_row.path if winner_row is not None else None
                pending_winner = Conflict(sha256=sha256, existing_path=path, legacy_id=winner)
                return conflict_transitions(item, strategy, decided, pending_winner) or ["conflict"]
            if _winner_state(session, item.run_id, winner) in WORKING:
                raise TransientError(f"waiting for legacy row {winner} to import first")
            repo.insert_model_if_new(incoming)  # the winner ended without importing
            artifacts = Artifacts.of(item)
            artifacts.image_mode = "new"
            artifacts.created_model = True
            return with_decision(decided, strategy)
        written = prior.get(item.run_id, sha256)
        if written is not None:
            # An earlier run of this migration wrote this model. From the same source (same
            # path): its images go back to the seqs it wrote; from another legacy DB listing
            # the file elsewhere, the row is combined and appended like any other conflict.
            same_source = existing.path == incoming.path
            if same_source:
                artifacts = Artifacts.of(item)
                artifacts.own_seqs = written.seqs.get(item.source_key, [])
                artifacts.created_model = written.created
            changed = repo.model_digest(sha256) != written.digest
            if changed:
                # Changed in the v2 app since: kept, unless --on-conflict / resolve says how
                # (override rewrites it from the legacy row; merge combines, below).
                add_warning(item, _changed_in_v2(sha256))
                if strategy not in WRITING_STRATEGIES:
                    return _keep_users_row(item, existing, written)
            rewrite = not changed or strategy is Strategy.OVERRIDE
            if rewrite and not duplicate and written.created and same_source:
                kept = existing.meta.images_count
                repo.save_model(
                    incoming.model_copy(
                        update={"meta": incoming.meta.model_copy(update={"images_count": kept})}
                    )
                )
                artifacts = Artifacts.of(item)
                artifacts.image_mode = "replace"
                artifacts.created_model = True
                return "import_model"
        # The model was in the library before (or another legacy row owns it): it wins.
        owner = winner if duplicate else None
        conflict = Conflict(sha256=sha256, existing_path=existing.path, legacy_id=owner)
        transitions = conflict_transitions(item, strategy, decided, conflict)
        if transitions is not None:
            return transitions
        assert strategy is not None
        repo.save_model(combine(existing, incoming, strategy))
        Artifacts.of(item).image_mode = "append"
        return with_decision(decided, strategy)

    if duplicate or row.images:
        return apply
    return Grouped(import_new_without_images, incoming, apply)


def import_new_without_images(
    session: Session, entries: Sequence[tuple[WorkItem, Any]]
) -> list[list[Transition] | None]:
    """Group writer for image-less models: insert every new one and union their tags with one
    statement per table; an item whose hash is already in the library goes its own way."""
    repo = LibraryRepository(session)
    records: list[ModelRecord] = [record for _, record in entries]
    inserted = repo.insert_models_if_new(records)
    repo.add_tags_to_models(
        ((r.sha256, r.tags) for r in records if r.sha256 in inserted), new_models=True
    )
    results: list[list[Transition] | None] = []
    for item, record in entries:
        if record.sha256 not in inserted:
            results.append(None)
            continue
        inserted.discard(record.sha256)  # a second item of the same hash goes its own way
        Artifacts.of(item).image_mode = "new"
        results.append(_imported_without_images(repo, item, record))
    return results


def _without_images(
    repo: LibraryRepository, item: WorkItem, record: ModelRecord
) -> list[Transition]:
    """A new model with no image to tier: its image, tag and promote steps have nothing slow
    to prepare, so they run here, in the import's transaction, each still its own event."""
    repo.add_model_tags(record.sha256, record.tags)
    return _imported_without_images(repo, item, record)


def _imported_without_images(
    repo: LibraryRepository, item: WorkItem, record: ModelRecord
) -> list[Transition]:
    artifacts = Artifacts.of(item)
    artifacts.image_seqs = []
    artifacts.images_count = 0
    artifacts.created_model = True
    artifacts.own_seqs = []
    artifacts.library_digest = repo.record_digest(record)  # what was just inserted, no query
    return ["import_model", "process_images", "sync_tags", "promote"]


def pending_image_name(legacy_id: int, index: int, source: Path) -> str:
    """Name of a staged original in images/pending: unique per legacy row and position."""
    return f"legacy{legacy_id}_{index}_{source.name}"


def _stage(env: StepEnv, item: WorkItem, row: LegacyModel) -> ApplyFn:
    """Copy the originals that open as images into images/pending; the others are warnings,
    so the v2 pending view never shows a broken image."""
    env.pending_dir.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    for index, ref in enumerate(row.images):
        problem = check_original(ImageSource(ref.url, ref.path, ref.warning))
        if problem is not None:
            add_warning(item, problem)
            continue
        assert ref.path is not None
        name = pending_image_name(row.legacy_id, index, ref.path)
        temp = env.pending_dir / f".{name}.{os.getpid()}.tmp"
        shutil.copyfile(ref.path, temp)
        os.replace(temp, env.pending_dir / name)
        names.append(name)
    Artifacts.of(item).pending_images = names
    v2_type = env.types.v2_type(row.type, row.path)

    def apply(session: Session, item: WorkItem) -> Transition:
        pending_id = stage_pending(
            LibraryRepository(session),
            path=row.path,
            name=row.name,
            type=v2_type,
            size_bytes=row.size_bytes,
            created_at=row.created_at,
            meta=PendingMetaJson(**user_meta(row, env.types), images=names),
            tags=row.tags,
        )
        Artifacts.of(item).pending_id = pending_id
        return "stage"

    return apply


def _required_sha(item: WorkItem) -> str:
    if item.sha256 is None:
        raise StepError("invalid_record", f"item {item.id} has no sha256 at {item.state}")
    return item.sha256


def legacy_images(env: StepEnv) -> StepFn:
    """Step for ``imported`` legacy items: every image of the row into three tiers."""

    def step(item: WorkItem) -> ApplyFn:
        row = legacy_row(env, item)
        sha256 = _required_sha(item)
        sources = [ImageSource(ref.url, ref.path, ref.warning) for ref in row.images]
        rendered = render_images(item, sha256, sources, env.images_dir, env.webp_method)

        def apply(session: Session, item: WorkItem) -> Transition:
            # The seqs an earlier run wrote for this row are rewritten; the rest go after the
            # model's images, never over a file this migration did not write.
            own = list(Artifacts.of(item).own_seqs)
            publish_images(
                LibraryRepository(session), item, sha256, rendered, env.images_dir, own=own
            )
            return "process_images"

        return apply

    return step


def legacy_tags(env: StepEnv) -> StepFn:
    """Step for ``images_processed`` legacy items: union the row's tags by name."""

    def step(item: WorkItem) -> ApplyFn:
        tags = legacy_row(env, item).tags
        sha256 = _required_sha(item)

        def apply(session: Session, item: WorkItem) -> Transition:
            LibraryRepository(session).add_model_tags(sha256, tags)
            return "sync_tags"

        return apply

    return step


def verify_and_promote(env: StepEnv) -> StepFn:
    """Step for ``tags_synced`` items: check images_count against the files, then promote."""

    def step(item: WorkItem) -> ApplyFn:
        sha256 = _required_sha(item)

        def apply(session: Session, item: WorkItem) -> Transition:
            repo = LibraryRepository(session)
            artifacts = Artifacts.of(item)
            artifacts.images_count = verify_images(
                repo, sha256, env.images_dir, artifacts.image_seqs
            )
            record_written(repo, item, sha256)
            return "promote"

        return apply

    return step


def legacy_steps(env: StepEnv) -> dict[str, StepFn]:
    """The stage-1 step table, by item state."""
    return {
        State.pending.value: legacy_import(env, PriorWrites(env.sessions)),
        State.imported.value: legacy_images(env),
        State.images_processed.value: legacy_tags(env),
        State.tags_synced.value: verify_and_promote(env),
    }
