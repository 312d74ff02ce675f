"""Audit of the files under ``<data>/images``: one listing, tier sets, sizes from WebP headers.

The default check of a tier is: the file is listed, Pillow identifies it as WebP from its
header, and its size is the expected one (``Image.open(...).size``, no pixel decoding). With
``deep`` every tier is also fully decoded (:func:`verify_tier`).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from backend.database.migration.audit.records import RERUN, AuditProblem
from backend.database.migration.images import (
    MAX_BASE_PIXELS,
    TIERS,
    base_size,
    tier_file_name,
    tier_sizes,
    verify_tier,
)
from backend.database.migration.steps.publish import STAGING_DIR_NAME

TIER_FILE = re.compile(r"^([0-9a-f]{64})_(0|[1-9][0-9]*)_(high|medium|low)\.webp$")
PENDING_DIR_NAME = "pending"
Size = tuple[int, int]
_SWAPS_AXES = frozenset({5, 6, 7, 8})
_ORIENTATION_TAG = 0x0112
_PIL_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


@dataclass
class Listing:
    """Everything under images/ (one ``scandir`` per folder), sorted into what it may be."""

    tiers: dict[str, dict[int, set[str]]] = field(default_factory=dict)
    """sha256 → seq → tier names present."""
    temp_files: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    staging: list[str] = field(default_factory=list)
    pending_files: set[str] = field(default_factory=set)
    pending_temp: list[str] = field(default_factory=list)
    entries: int = 0


def _is_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def list_images(images_dir: Path) -> Listing:
    """List images/, images/pending and images/.staging once."""
    out = Listing()
    if not images_dir.is_dir():
        return out
    with os.scandir(images_dir) as entries:
        for entry in entries:
            out.entries += 1
            name = entry.name
            if entry.is_dir(follow_symlinks=False):
                if name == PENDING_DIR_NAME:
                    _list_pending(Path(entry.path), out)
                elif name == STAGING_DIR_NAME:
                    out.staging.extend(_walk(Path(entry.path), images_dir))
                else:
                    out.unexpected.append(name + "/")
                continue
            match = TIER_FILE.match(name)
            if match:
                sha, seq, tier = match.group(1), int(match.group(2)), match.group(3)
                out.tiers.setdefault(sha, {}).setdefault(seq, set()).add(tier)
            elif _is_temp(name):
                out.temp_files.append(name)
            else:
                out.unexpected.append(name)
    return out


def _list_pending(pending_dir: Path, out: Listing) -> None:
    with os.scandir(pending_dir) as entries:
        for entry in entries:
            out.entries += 1
            if _is_temp(entry.name):
                out.pending_temp.append(entry.name)
            elif entry.is_file(follow_symlinks=False):
                out.pending_files.add(entry.name)
            else:
                out.unexpected.append(f"{PENDING_DIR_NAME}/{entry.name}")


def _walk(folder: Path, root: Path) -> list[str]:
    found: list[str] = []
    for base, _dirs, files in os.walk(folder):
        found.extend((Path(base) / name).relative_to(root).as_posix() for name in files)
    return found


def header(path: Path) -> tuple[str | None, Size] | None:
    """(format, size) from the file's header without decoding pixels; None when unreadable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return im.format, (int(im.size[0]), int(im.size[1]))
    except _PIL_ERRORS:
        return None


def oriented_size(path: Path, *, full: bool = False) -> Size | None:
    """The size a source image has after EXIF orientation (what the tiers were made from).

    Reads the header only; ``full`` also loads the pixels, for formats whose EXIF may follow
    the image data (PNG). None when the source cannot be read any more.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
                if full:
                    im.load()
                    orientation = im.getexif().get(_ORIENTATION_TAG, 1)
                else:  # ``getexif()`` would decode a PNG; the header's EXIF block is enough
                    orientation = _header_orientation(im.info.get("exif"))
    except _PIL_ERRORS:
        return None
    return (height, width) if orientation in _SWAPS_AXES else (width, height)


def _header_orientation(raw: object) -> int:
    if not isinstance(raw, bytes | bytearray) or not raw:
        return 1
    exif = Image.Exif()
    exif.load(bytes(raw))
    value = exif.get(_ORIENTATION_TAG, 1)
    return value if isinstance(value, int) else 1


def sizes_from_high(high: Size) -> dict[str, Size]:
    """Tier sizes implied by the high tier (the capped base), per the DESIGN factors."""
    width, height = high
    return {name: (max(1, int(width * f)), max(1, int(height * f))) for name, f, _q in TIERS}


@dataclass
class TierCheck:
    """Results of checking the tier sets of one model."""

    problems: list[AuditProblem] = field(default_factory=list)
    checked: int = 0
    decoded: int = 0


_REPAIR_TIER = (
    "restore {file} from a backup of the data folder, or " + RERUN + " (it re-renders the"
    " row's images)"
)


def check_tiers(
    images_dir: Path,
    sha256: str,
    count: int,
    listing: Listing,
    sources: Mapping[int, Path],
    *,
    deep: bool,
    legacy_id: int | None,
) -> TierCheck:
    """Check tier sets 0..count-1 of a model: present, WebP, sizes as expected.

    ``sources`` maps a seq to the legacy image it was rendered from (stage 1), whose size
    gives the exact expected tier sizes; other seqs (appended in stage 2) are checked for
    sizes consistent with their high tier.
    """
    out = TierCheck()
    present = listing.tiers.get(sha256, {})
    for seq in range(count):
        have = present.get(seq, set())
        for tier, _f, _q in TIERS:
            if tier not in have:
                name = tier_file_name(sha256, seq, tier)
                out.problems.append(
                    AuditProblem(
                        code="tier_missing",
                        message=f"tier file {name} of model {sha256} (image {seq}) is missing",
                        fix=_REPAIR_TIER.format(file=name),
                        legacy_id=legacy_id,
                        file=name,
                    )
                )
        found = {t: images_dir / tier_file_name(sha256, seq, t) for t in have}
        if found:
            _check_set(found, sources.get(seq), out, deep=deep, legacy_id=legacy_id)
    return out


def _check_set(
    files: dict[str, Path],
    source: Path | None,
    out: TierCheck,
    *,
    deep: bool,
    legacy_id: int | None,
) -> None:
    sizes: dict[str, Size] = {}
    for tier, path in files.items():
        out.checked += 1
        info = header(path)
        if info is None or info[0] != "WEBP":
            out.problems.append(
                AuditProblem(
                    code="tier_unreadable",
                    message=f"tier file {path.name} is not a readable WebP image",
                    fix=_REPAIR_TIER.format(file=path.name),
                    legacy_id=legacy_id,
                    file=path.name,
                )
            )
            continue
        sizes[tier] = info[1]
    expected = _expected_sizes(sizes, source)
    for tier, size in sizes.items():
        path = files[tier]
        want = expected.get(tier)
        if want is not None and size != want:
            out.problems.append(
                AuditProblem(
                    code="tier_wrong_size",
                    message=f"tier file {path.name} is {size[0]}×{size[1]},"
                    f" expected {want[0]}×{want[1]}",
                    fix=_REPAIR_TIER.format(file=path.name),
                    legacy_id=legacy_id,
                    file=path.name,
                )
            )
            continue
        if deep:
            out.decoded += 1
            if not verify_tier(path, size):
                out.problems.append(
                    AuditProblem(
                        code="tier_corrupt",
                        message=f"tier file {path.name} has a valid header but does not decode",
                        fix=_REPAIR_TIER.format(file=path.name),
                        legacy_id=legacy_id,
                        file=path.name,
                    )
                )


def _expected_sizes(sizes: dict[str, Size], source: Path | None) -> dict[str, Size]:
    """Expected size per tier: from the legacy source when known, else from the high tier."""
    if source is not None:
        oriented = oriented_size(source)
        if oriented is not None:
            expected = tier_sizes(*oriented)
            if all(sizes[t] == expected[t] for t in sizes):
                return expected
            exact = oriented_size(source, full=True)  # EXIF after the pixels (PNG)
            if exact is not None:
                return tier_sizes(*exact)
    high = sizes.get("high")
    if high is None:
        return {}
    expected = sizes_from_high(high)
    if base_size(*high) != high or high[0] * high[1] > MAX_BASE_PIXELS:
        expected["high"] = base_size(*high)
    return expected
