"""Audit of the files under ``<data>/images``: tier sets from WebP headers, and a streamed listing.

The default check of a tier is: the file exists, Pillow identifies it as WebP from its header,
and its size is the expected one (``Image.open(...).size``, no pixel decoding). With ``deep``
every tier is also fully decoded (:func:`verify_tier`). Names and sizes come from
:mod:`~backend.database.migration.images`, the module that writes the tiers.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from backend.database.migration.audit.catalogue import problem
from backend.database.migration.audit.records import AuditProblem
from backend.database.migration.images import TIERS, oriented, tier_paths, tier_sizes, verify_tier
from backend.database.migration.steps.publish import STAGING_DIR_NAME

_TIER_NAMES = "|".join(name for name, _f, _q in TIERS)
TIER_FILE = re.compile(rf"^([0-9a-f]{{64}})_(0|[1-9][0-9]*)_({_TIER_NAMES})\.webp$")
Size = tuple[int, int]
_ORIENTATION_TAG = 0x0112
_PIL_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


@dataclass(frozen=True)
class Entry:
    """One thing found under images/: a tier file (``sha``/``seq`` set) or anything else."""

    kind: str
    """``tier``, ``temp``, ``staging``, ``pending``, ``pending_temp`` or ``unexpected``."""
    name: str
    """Relative to images/ (``pending/…``, ``.staging/…``)."""
    sha256: str = ""
    seq: int = 0


def is_temp(name: str) -> bool:
    """The migrator's temp files: hidden, ``.tmp`` suffixed."""
    return name.startswith(".") and name.endswith(".tmp")


def scan_images(images_dir: Path, pending_dir: Path) -> Iterator[Entry]:
    """Everything under images/, its pending folder and .staging, one entry at a time."""
    if not images_dir.is_dir():
        return
    with os.scandir(images_dir) as entries:
        for entry in entries:
            name = entry.name
            if entry.is_dir(follow_symlinks=False):
                if Path(entry.path) == pending_dir:
                    yield from _scan_pending(pending_dir)
                elif name == STAGING_DIR_NAME:
                    for base, _dirs, files in os.walk(entry.path):
                        for file in files:
                            rel = (Path(base) / file).relative_to(images_dir).as_posix()
                            yield Entry("staging", rel)
                else:
                    yield Entry("unexpected", name + "/")
                continue
            match = TIER_FILE.match(name)
            if match:
                yield Entry("tier", name, match.group(1), int(match.group(2)))
            else:
                yield Entry("temp" if is_temp(name) else "unexpected", name)


def _scan_pending(pending_dir: Path) -> Iterator[Entry]:
    with os.scandir(pending_dir) as entries:
        for entry in entries:
            name = f"{pending_dir.name}/{entry.name}"
            if is_temp(entry.name):
                yield Entry("pending_temp", name)
            elif entry.is_file(follow_symlinks=False):
                yield Entry("pending", name)
            else:
                yield Entry("unexpected", name)


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
                size = im.size
                if full:
                    im.load()
                    orientation = im.getexif().get(_ORIENTATION_TAG, 1)
                else:  # ``getexif()`` would decode a PNG; the header's EXIF block is enough
                    orientation = _header_orientation(im.info.get("exif"))
    except _PIL_ERRORS:
        return None
    return oriented(size, orientation if isinstance(orientation, int) else 1)


def _header_orientation(raw: object) -> int:
    if not isinstance(raw, bytes | bytearray) or not raw:
        return 1
    exif = Image.Exif()
    exif.load(bytes(raw))
    value = exif.get(_ORIENTATION_TAG, 1)
    return value if isinstance(value, int) else 1


@dataclass
class TierCheck:
    """Results of checking the tier sets of one model."""

    problems: list[AuditProblem] = field(default_factory=list)
    checked: int = 0
    decoded: int = 0
    present: set[int] = field(default_factory=set)
    """Seqs with at least one tier file."""


def check_tiers(
    images_dir: Path,
    sha256: str,
    count: int,
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
    for seq in range(count):
        sizes: dict[str, Size] = {}
        paths = tier_paths(images_dir, sha256, seq)
        for tier, path in paths.items():
            if not path.exists():
                out.problems.append(
                    problem("tier_missing", lid=legacy_id, file=path.name, sha=sha256, seq=seq)
                )
                continue
            out.present.add(seq)
            out.checked += 1
            info = header(path)
            if info is None or info[0] != "WEBP":
                out.problems.append(problem("tier_unreadable", lid=legacy_id, file=path.name))
            else:
                sizes[tier] = info[1]
        _check_sizes(paths, sizes, sources.get(seq), out, deep=deep, legacy_id=legacy_id)
    return out


def _check_sizes(
    paths: dict[str, Path],
    sizes: dict[str, Size],
    source: Path | None,
    out: TierCheck,
    *,
    deep: bool,
    legacy_id: int | None,
) -> None:
    expected = _expected_sizes(sizes, source)
    for tier, size in sizes.items():
        path, want = paths[tier], expected.get(tier)
        if want is not None and size != want:
            out.problems.append(
                problem(
                    "tier_wrong_size",
                    lid=legacy_id,
                    file=path.name,
                    have=f"{size[0]}×{size[1]}",
                    want=f"{want[0]}×{want[1]}",
                )
            )
        elif deep:
            out.decoded += 1
            if not verify_tier(path, size):
                out.problems.append(problem("tier_corrupt", lid=legacy_id, file=path.name))


def _expected_sizes(sizes: dict[str, Size], source: Path | None) -> dict[str, Size]:
    """Expected size per tier: from the legacy source when known, else from the high tier."""
    if source is not None:
        size = oriented_size(source)
        if size is not None:
            expected = tier_sizes(*size)
            if all(sizes[t] == expected[t] for t in sizes):
                return expected
            exact = oriented_size(source, full=True)  # EXIF after the pixels (PNG)
            if exact is not None:
                return tier_sizes(*exact)
    high = sizes.get("high")
    return {} if high is None else tier_sizes(*high)


def same_file(a: Path, b: Path) -> bool:
    """Whether two files hold the same bytes (False when either cannot be read)."""
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
        return a.read_bytes() == b.read_bytes()
    except OSError:
        return False
