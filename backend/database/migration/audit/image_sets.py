"""The image sets of one model against what its legacy row(s) say it should hold.

Expected sets: the good images of the audited run's rows that became the model (read from the
legacy DB, not from what the items published), plus what another source added by a decision
(a stage-2 promotion, an override/merge of another run, or the model another source created
that this run merged into). Sets beyond that are named: a repeat of an expected set
(``image_set_duplicated``, e.g. two runs of one legacy DB), a set an earlier run published for
an image the legacy row no longer lists (``image_removed_leftover``), or, on a model that
existed before, an image of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.database.migration.audit.catalogue import problem
from backend.database.migration.audit.checks import good_refs
from backend.database.migration.audit.files import check_tiers, same_file
from backend.database.migration.audit.records import AuditProblem
from backend.database.migration.audit.state import ItemRow, Page
from backend.database.migration.images import tier_paths
from backend.database.migration.legacy.rows import LegacyModel
from backend.database.migration.steps.legacy import LEGACY
from backend.database.migration.steps.promotion import PROMOTION

RowLookup = Callable[[int], LegacyModel | None]


@dataclass
class Expected:
    """The image sets a model should hold, and the legacy source of each stage-1 seq."""

    count: int = 0
    sources: dict[int, Path] = field(default_factory=dict)


def expected_images(page: Page, sha256: str, run_id: int, rows: RowLookup) -> Expected:
    """What the model should hold, per the legacy rows of run ``run_id`` that became it."""
    out = Expected()
    items = [i for i in page.by_sha(sha256) if i.state == "promoted"]
    mine = [i for i in items if i.run_id == run_id and i.kind == LEGACY]
    merged_into = False
    for item in mine:
        seqs = item.image_seqs
        merged_into = merged_into or item.image_mode == "append"
        row = rows(int(item.source_key))
        if row is None:
            out.count += len(seqs)
            continue
        good = good_refs(row, item)
        out.count += len(good)
        if good and len(good) == len(seqs):
            for seq, index in zip(seqs, good, strict=True):
                path = row.images[index].path
                if path is not None:
                    out.sources[seq] = path
    if merged_into:  # the model another source created counts too
        items = [i for i in page.every_item(sha256) if i.state == "promoted"]
    elif len(items) == len(mine):
        return out  # no other item carries the model
    ids = {i.id for i in mine}
    out.count += sum(len(i.image_seqs) for i in items if i.id not in ids and _adds(i, merged_into))
    return out


def _adds(item: ItemRow, merged_into: bool) -> bool:
    """Whether another item's sets belong to the model: a second source added by a decision,
    or the model another source created before this run merged into it."""
    if item.kind == PROMOTION or item.image_mode == "append":
        return True
    return merged_into and item.image_mode == "new"


@dataclass
class SetCheck:
    """Problems of a model's image sets, and how much was read."""

    problems: list[AuditProblem]
    expected: int
    checked: int
    decoded: int


def check_model(
    page: Page,
    sha256: str,
    count: int,
    run_id: int,
    rows: RowLookup,
    images_dir: Path,
    *,
    deep: bool,
    legacy_id: int | None,
) -> SetCheck:
    """Tier files of sets 0..count-1, then every set beyond the expected ones."""
    expected = expected_images(page, sha256, run_id, rows)
    if count == expected.count == 0:
        return SetCheck([], 0, 0, 0)  # no set to read, none expected (most models)
    tiers = check_tiers(images_dir, sha256, count, expected.sources, deep=deep, legacy_id=legacy_id)
    if count == expected.count:  # no set beyond the expected ones, none missing
        return SetCheck(list(tiers.problems), count, tiers.checked, tiers.decoded)
    problems: list[AuditProblem] = []
    unexplained = count < expected.count
    items = page.every_item(sha256) if count > expected.count else []
    published = {s for i in items for s in i.image_seqs}
    existed = any(i.image_mode == "replace" for i in items)
    for seq in range(expected.count, count):
        names: dict[str, Any] = {
            "sha": sha256,
            "seq": seq,
            "count": count,
            "expected": expected.count,
        }
        same = _repeats(images_dir, sha256, seq, expected.count) if seq in tiers.present else None
        if same is not None:
            problems.append(problem("image_set_duplicated", lid=legacy_id, same=same, **names))
        elif seq in tiers.present and seq in published:
            problems.append(problem("image_removed_leftover", lid=legacy_id, **names))
        elif seq not in tiers.present or not existed:
            unexplained = True
    if unexplained:
        problems.insert(
            0,
            problem(
                "images_count_mismatch",
                lid=legacy_id,
                sha=sha256,
                count=count,
                expected=expected.count,
            ),
        )
    return SetCheck(problems + tiers.problems, expected.count, tiers.checked, tiers.decoded)


def _repeats(images_dir: Path, sha256: str, seq: int, kept: int) -> int | None:
    """The expected set whose high tier has the same bytes as set ``seq``'s, if any."""
    high = tier_paths(images_dir, sha256, seq)["high"]
    for other in range(kept):
        if same_file(high, tier_paths(images_dir, sha256, other)["high"]):
            return other
    return None
