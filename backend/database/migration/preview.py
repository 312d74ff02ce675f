"""Conflict preview: a conflicted item's two models side by side, and what each strategy makes.

Read-only. The results come from :func:`conflicts.combine`, the function the steps apply, so
the preview shows exactly what ``resolve`` will write: fields, the tag union, and the images
appended to the library model's.
"""

from __future__ import annotations

from typing import Any

from backend.database.migration.artifacts import Artifacts
from backend.database.migration.conflicts import WRITING_STRATEGIES, Strategy, combine
from backend.database.migration.errors import NotFoundError, WrongStateError
from backend.database.migration.library import LibraryRepository
from backend.database.migration.records import ModelRecord
from backend.database.migration.results import (
    ConflictPreview,
    FieldChange,
    FieldValue,
    ModelSide,
    StrategyPreview,
)
from backend.database.migration.steps import legacy as legacy_steps
from backend.database.migration.steps import promotion as promotion_steps
from backend.database.migration.summary import (
    ModelLookup,
    legacy_images,
    library_image,
    pending_image,
    source_id,
)
from workflows.records import WorkItem
from workflows.store import WorkflowStore

COMPARED: tuple[str, ...] = (
    "name", "type", "path", "size_bytes", "description", "community_links",
    "prompts.positive", "prompts.negative", "tags", "images_count",
)  # fmt: skip
"""The fields a person compares, in the order the page shows them."""


def side(source: str, model: ModelRecord, images: list[str], *, counted: bool = True) -> ModelSide:
    """One side of the comparison; ``counted`` False: a source whose images are not tiers yet
    (its images_count is how many it brings)."""
    return ModelSide(
        source=source,
        sha256=model.sha256,
        name=model.name,
        type=model.type,
        path=model.path,
        size_bytes=model.size_bytes,
        tags=sorted(model.tags),
        description=model.meta.description,
        community_links=model.meta.community_links,
        prompts=model.meta.prompts,
        images_count=model.meta.images_count if counted else len(images),
        images=images,
    )


def field_value(model: ModelSide, name: str) -> FieldValue:
    """A compared field of a side (``prompts.positive`` reads the nested prompt)."""
    if name.startswith("prompts."):
        value: Any = getattr(model.prompts, name.split(".", 1)[1])
    else:
        value = getattr(model, name)
    return list(value) if isinstance(value, list) else value


def changes(before: ModelSide, after: ModelSide) -> list[FieldChange]:
    """The compared fields that differ between two sides."""
    return [
        FieldChange(field=name, before=field_value(before, name), after=field_value(after, name))
        for name in COMPARED
        if field_value(before, name) != field_value(after, name)
    ]


def _incoming(lookup: ModelLookup, item: WorkItem, sha256: str) -> tuple[ModelSide, str]:
    """The incoming model and how its source is named in sentences."""
    key = source_id(item.source_key)
    if key is None:
        raise NotFoundError(f"source {item.source_key!r} of item {item.id} names no model")
    if item.kind == legacy_steps.LEGACY:
        reader = lookup.reader_for_run(item.run_id)
        row = reader.reader.get(key)  # fresh, not the steps' read-ahead
        if row is None:
            raise NotFoundError(f"legacy row {item.source_key} no longer exists")
        images = legacy_images(item.run_id, reader, row.images)
        model = legacy_steps.to_model_record(row, sha256, lookup.types)
        label = f"legacy row {row.legacy_id}"
        return side(label, model, images, counted=False), "the legacy row"
    with lookup.sessions() as session:
        pending = LibraryRepository(session).get_pending(key)
    if pending is None:
        raise NotFoundError(f"pending model {item.source_key} no longer exists")
    model = promotion_steps.to_model_record(pending, sha256, lookup.types)
    images = [pending_image(name) for name in pending.meta.images]
    label = f"pending model {pending.id}"
    return side(label, model, images, counted=False), "the pending model"


def _library(lookup: ModelLookup, item: WorkItem, sha256: str) -> ModelSide:
    """The model the item collides with: the library's, or the legacy row that owns the hash
    and has not been imported yet."""
    with lookup.sessions() as session:
        model = LibraryRepository(session).get_model(sha256)
    if model is not None:
        images = [library_image(sha256, seq) for seq in range(model.meta.images_count)]
        return side("library", model, [i for i in images if _on_disk(lookup, i)])
    conflict = Artifacts.of(item).conflict
    winner = None if conflict is None else conflict.legacy_id
    if item.kind == legacy_steps.LEGACY and winner is not None:
        reader = lookup.reader_for_run(item.run_id)
        row = reader.reader.get(source_id(winner) or 0)
        if row is not None:
            owner = legacy_steps.to_model_record(row, sha256, lookup.types)
            images = legacy_images(item.run_id, reader, row.images)
            label = f"legacy row {row.legacy_id} (imports first)"
            return side(label, owner, images, counted=False)
    raise NotFoundError(f"the model {sha256} this item conflicts with is not in the library")


def _on_disk(lookup: ModelLookup, ref: str) -> bool:
    return (lookup.images_dir / ref.removeprefix("images/")).is_file()


def _written(library: ModelSide, incoming: ModelSide, strategy: Strategy) -> ModelSide:
    """The library model after override or merge: combined fields, tags united, the incoming
    images appended after the library's."""
    combined = combine(_record(library), _record(incoming), strategy)
    meta = combined.meta.model_copy(
        update={"images_count": library.images_count + len(incoming.images)}
    )
    return side(
        "library", combined.model_copy(update={"meta": meta}), library.images + incoming.images
    )


def _record(model: ModelSide) -> ModelRecord:
    return ModelRecord.model_validate(
        {
            **model.model_dump(include={"sha256", "name", "type", "path", "size_bytes", "tags"}),
            "created_at": 0,
            "meta": {
                "description": model.description,
                "community_links": model.community_links,
                "prompts": model.prompts.model_dump(),
                "images_count": model.images_count,
            },
        }
    )


def _summary(strategy: Strategy, source: str, incoming: ModelSide, legacy: bool) -> str:
    images = len(incoming.images)
    appended = f"{images} incoming image(s) appended" if images else "no incoming image to add"
    end = "it is migrated into the library model" if legacy else "its row and originals go"
    if strategy is Strategy.OVERRIDE:
        return (
            f"The incoming non-empty fields replace the library's; tags are united, {appended};"
            f" {source} is done ({end})."
        )
    if strategy is Strategy.MERGE:
        return (
            f"The incoming fields fill only the library model's empty ones; tags are united,"
            f" {appended}; {source} is done ({end})."
        )
    if strategy is Strategy.IGNORE:
        kept = "stays unmigrated (recorded as ignored)" if legacy else "stays pending"
        return f"The library model stays as it is; {source} {kept}."
    if legacy:
        return "Delete applies to pending models; use ignore for a legacy row."
    return f"The library model stays as it is; {source} and its {images} original(s) are removed."


def conflict_preview(store: WorkflowStore, lookup: ModelLookup, item_id: int) -> ConflictPreview:
    """Both models of a conflicted item and the outcome of every strategy."""
    item = store.get_item(item_id)
    if item is None:
        raise NotFoundError(f"no migration item with id {item_id}")
    if item.state != "conflicted":
        raise WrongStateError(f"item {item_id} is {item.state}, not conflicted")
    conflict = Artifacts.of(item).conflict
    sha256 = item.sha256 or (conflict.sha256 if conflict is not None else None)
    if not sha256:
        raise NotFoundError(f"item {item_id} has no hash to compare")
    legacy = item.kind == legacy_steps.LEGACY
    incoming, source = _incoming(lookup, item, sha256)
    library = _library(lookup, item, sha256)
    previews = []
    for strategy in Strategy:
        allowed = not (legacy and strategy is Strategy.DELETE)
        result: ModelSide | None = library if allowed else None
        if strategy in WRITING_STRATEGIES:
            result = _written(library, incoming, strategy)
        previews.append(
            StrategyPreview(
                strategy=strategy.value,
                allowed=allowed,
                summary=_summary(strategy, source, incoming, legacy),
                result=result,
                changes=changes(library, result) if result is not None else [],
            )
        )
    return ConflictPreview(
        item_id=item.id,
        run_id=item.run_id,
        kind=item.kind,
        library=library,
        incoming=incoming,
        strategies=previews,
    )
