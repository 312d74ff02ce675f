"""Pieces shared by the stage-1 and stage-2 steps: warnings, image staging and publishing."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from backend.database.migration.artifacts import Artifacts
from backend.database.migration.errors import ImageError
from backend.database.migration.faults import checkpoint
from backend.database.migration.images import TIERS, make_tiers, probe, tier_file_name
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


def _fits(images_dir: Path, staging: Path, sha256: str, seq: int, index: int) -> bool:
    """True when staged image ``index`` may take ``seq``: no tier of ``seq`` is on disk, or
    each one on disk is byte-identical to what would replace it (a retry after a crash)."""
    for tier, _factor, _quality in TIERS:
        final = images_dir / tier_file_name(sha256, seq, tier)
        if not final.exists():
            continue
        staged = staging / tier_file_name(sha256, index, tier)
        if final.read_bytes() != staged.read_bytes():
            return False
    return True


def choose_seqs(
    images_dir: Path, staging: Path, sha256: str, rendered: int, start: int, own: Sequence[int]
) -> list[int]:
    """Final seqs of the staged images 0..rendered-1.

    ``own`` (seqs this migration wrote for the same legacy row before) are reused first; then
    seqs from ``start`` up, skipping every seq that has a tier file on disk this migration did
    not write, so an image of the user's is never overwritten.
    """
    mine = sorted(set(own))
    candidates = itertools.chain(mine, (s for s in itertools.count(start) if s not in mine))
    chosen: list[int] = []
    for index in range(rendered):
        for seq in candidates:
            if seq in mine or _fits(images_dir, staging, sha256, seq, index):
                chosen.append(seq)
                break
    return chosen


def publish_images(
    repo: LibraryRepository,
    item: WorkItem,
    sha256: str,
    rendered: int,
    images_dir: Path,
    *,
    own: Sequence[int] = (),
) -> list[int]:
    """Move staged tiers to their final names and update ``images_count``.

    Runs inside the step's write transaction, so the seqs chosen here cannot race another
    writer. The images go to ``own`` seqs first, then after the model's current images (see
    :func:`choose_seqs`); ``images_count`` becomes at least the highest seq + 1.
    """
    if rendered == 0:
        Artifacts.of(item).image_seqs = []
        return []  # images_count is unchanged
    meta = repo.model_meta(sha256)
    if meta is None:
        raise StepError("model_missing", f"model {sha256} is not in the library")
    current = meta.images_count
    staging = staging_dir(images_dir, item.id)
    seqs = choose_seqs(images_dir, staging, sha256, rendered, current, own)
    for index, seq in enumerate(seqs):
        for tier, _factor, _quality in TIERS:
            os.replace(
                staging / tier_file_name(sha256, index, tier),
                images_dir / tier_file_name(sha256, seq, tier),
            )
            checkpoint("tier_published")
    shutil.rmtree(staging, ignore_errors=True)
    repo.set_images_count(sha256, max(current, max(seqs) + 1))
    Artifacts.of(item).image_seqs = seqs
    return seqs


def check_original(source: ImageSource) -> ItemWarning | None:
    """Why an original cannot be shown as an image (a warning with a code), or None."""
    if source.path is None:
        return source.warning
    try:
        probe(source.path)
    except ImageError as exc:
        return ItemWarning(code=exc.code, message=exc.message, file=source.label)
    return None


def verify_images(
    repo: LibraryRepository, sha256: str, images_dir: Path, seqs: Iterable[int] | None = None
) -> int:
    """Check that every tier of the given seqs (every counted image when None) is on disk;
    returns images_count. Images the library had before are not this migration's to check."""
    meta = repo.model_meta(sha256)
    if meta is None:
        raise StepError("model_missing", f"model {sha256} is not in the library")
    count = meta.images_count
    missing = [
        tier_file_name(sha256, seq, tier)
        for seq in (range(count) if seqs is None else sorted(set(seqs)))
        for tier, _factor, _quality in TIERS
        if not (images_dir / tier_file_name(sha256, seq, tier)).is_file()
    ]
    if missing:
        raise StepError(
            "images_incomplete",
            f"{len(missing)} tier file(s) missing for {sha256}, first: {missing[0]}",
        )
    return count
