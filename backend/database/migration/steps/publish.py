"""Pieces shared by the stage-1 and stage-2 steps: warnings, image staging and publishing."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from backend.database.migration.artifacts import Artifacts
from backend.database.migration.errors import ImageError
from backend.database.migration.faults import checkpoint
from backend.database.migration.images import TIERS, make_tiers, tier_file_name
from backend.database.migration.library import LibraryRepository
from backend.database.migration.records import ItemWarning
from workflows.errors import StepError
from workflows.records import WorkItem

STAGING_DIR_NAME = ".staging"


@dataclass(frozen=True)
class ImageSource:
    """One image to tier: a label for messages, and the file (None when it may not be read)."""

    label: str
    path: Path | None
    warning: ItemWarning | None = None


def add_warning(item: WorkItem, warning: ItemWarning) -> None:
    """Record a warning on the item once (retries do not repeat it)."""
    data = warning.model_dump()
    if data not in item.warnings:
        item.warnings.append(data)


def staging_dir(images_dir: Path, item_id: int) -> Path:
    """Where an item's tiers are rendered before they get their final sequence numbers."""
    return images_dir / STAGING_DIR_NAME / f"item-{item_id}"


def render_images(
    item: WorkItem, sha256: str, sources: Iterable[ImageSource], images_dir: Path, method: int
) -> int:
    """Render every good source into the item's staging dir as seqs 0..k-1; returns k.

    Bad images become warnings on the item; they never fail it.
    """
    sources = list(sources)
    if not sources:
        return 0
    staging = staging_dir(images_dir, item.id)
    shutil.rmtree(staging, ignore_errors=True)
    rendered = 0
    for source in sources:
        if source.path is None:
            if source.warning is not None:
                add_warning(item, source.warning)
            continue
        try:
            make_tiers(source.path, staging, sha256, rendered, method=method)
        except ImageError as exc:
            add_warning(item, ItemWarning(code=exc.code, message=exc.message, file=source.label))
            continue
        checkpoint("image_rendered")
        rendered += 1
    return rendered


def publish_images(
    repo: LibraryRepository,
    item: WorkItem,
    sha256: str,
    rendered: int,
    images_dir: Path,
    *,
    append: bool,
) -> list[int]:
    """Move staged tiers to their final names and update ``images_count``.

    Runs inside the step's write transaction, so the sequence base read here cannot race
    another writer. ``append`` numbers after the model's current images; otherwise the
    staged images are seqs 0..k-1 (a re-import of the same source rewrites the same files).
    """
    if rendered == 0:
        Artifacts.of(item).image_seqs = []
        return []  # images_count is unchanged whether appending or replacing
    meta = repo.model_meta(sha256)
    if meta is None:
        raise StepError("model_missing", f"model {sha256} is not in the library")
    current = meta.images_count
    base = current if append else 0
    staging = staging_dir(images_dir, item.id)
    for index in range(rendered):
        for tier, _factor, _quality in TIERS:
            os.replace(
                staging / tier_file_name(sha256, index, tier),
                images_dir / tier_file_name(sha256, base + index, tier),
            )
            checkpoint("tier_published")
    shutil.rmtree(staging, ignore_errors=True)
    count = base + rendered if append else max(current, rendered)
    repo.set_images_count(sha256, count)
    seqs = list(range(base, base + rendered))
    Artifacts.of(item).image_seqs = seqs
    return seqs


def verify_images(repo: LibraryRepository, sha256: str, images_dir: Path) -> int:
    """Check that every tier of every counted image is on disk; returns images_count."""
    meta = repo.model_meta(sha256)
    if meta is None:
        raise StepError("model_missing", f"model {sha256} is not in the library")
    count = meta.images_count
    missing = [
        tier_file_name(sha256, seq, tier)
        for seq in range(count)
        for tier, _factor, _quality in TIERS
        if not (images_dir / tier_file_name(sha256, seq, tier)).is_file()
    ]
    if missing:
        raise StepError(
            "images_incomplete",
            f"{len(missing)} tier file(s) missing for {sha256}, first: {missing[0]}",
        )
    return count
