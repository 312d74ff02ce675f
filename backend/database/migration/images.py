"""The 3-tier WebP pipeline: one source image → ``{sha256}_{seq}_{high|medium|low}.webp``.

The rules are DESIGN.md's "Image tiers", exactly, so the results match the v2 reader:
EXIF orientation applied, RGBA kept for images with alpha (else RGB), a base size capped at
2,000,000 pixels, tiers of 1.0 / 0.66 / 0.33 of the base at WebP quality 80 / 60 / 45 (LANCZOS).

The source is decoded once (big JPEGs through ``draft()``, so libjpeg decodes at 1/2, 1/4 or 1/8
scale, never below the base size); every tier is resized from the base. All three tiers are encoded
to temp names in ``out_dir`` first and only then renamed with ``os.replace``: a failure leaves no
file at all, a crash never leaves a half file under a final name.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO, Final

from PIL import ExifTags, Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict

from backend.database.migration.errors import ImageError

TIERS: Final = (("high", 1.0, 80), ("medium", 0.66, 60), ("low", 0.33, 45))
MAX_BASE_PIXELS: Final = 2_000_000
DEFAULT_METHOD: Final = 4

_ALPHA_MODES: Final = frozenset({"RGBA", "LA", "La", "RGBa", "PA"})
_HIGH_BIT_MODES: Final = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
_ORIENTATION_TRANSPOSE: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES: Final = frozenset({5, 6, 7, 8})
_LANCZOS: Final = Image.Resampling.LANCZOS


class TierSet(BaseModel):
    """What :func:`make_tiers` wrote for one source image (all sizes are (width, height))."""

    model_config = ConfigDict(frozen=True)

    seq: int
    source_name: str
    original_size: tuple[int, int]
    sizes: dict[str, tuple[int, int]]
    bytes_written: dict[str, int]
    files: dict[str, str]


# --- pure size arithmetic --------------------------------------------------------------------


def base_size(width: int, height: int) -> tuple[int, int]:
    """The size every tier is derived from: the original, capped at ``MAX_BASE_PIXELS``."""
    if width * height > MAX_BASE_PIXELS:
        scale = math.sqrt(MAX_BASE_PIXELS / (width * height))
        return int(width * scale), int(height * scale)
    return width, height


def tier_sizes(width: int, height: int) -> dict[str, tuple[int, int]]:
    """Tier name → (width, height) for an image of the given (oriented) original size."""
    bw, bh = base_size(width, height)
    return {name: (max(1, int(bw * f)), max(1, int(bh * f))) for name, f, _q in TIERS}


def oriented(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """The (width, height) an image of ``size`` has once its EXIF ``orientation`` is applied."""
    width, height = size
    return (height, width) if orientation in _SWAPS_AXES else (width, height)


def tier_file_name(sha256: str, seq: int, tier: str) -> str:
    """The library file name of one tier: ``{sha256}_{seq}_{tier}.webp``."""
    return f"{sha256}_{seq}_{tier}.webp"


def tier_paths(out_dir: Path, sha256: str, seq: int) -> dict[str, Path]:
    """Tier name → final path of that tier in ``out_dir``."""
    return {name: out_dir / tier_file_name(sha256, seq, name) for name, _f, _q in TIERS}


# --- the pipeline ----------------------------------------------------------------------------


def make_tiers(
    src: Path,
    out_dir: Path,
    sha256: str,
    seq: int,
    *,
    method: int = DEFAULT_METHOD,
    fsync: bool = True,
) -> TierSet:
    """Write the three WebP tiers of ``src`` into ``out_dir`` and describe them.

    ``method`` is libwebp's effort (0 fast … 6 slow). With ``fsync`` each tier is flushed to disk
    before it is renamed, and the directory after, so even a power cut cannot leave an empty file
    under a final name.

    Raises :class:`ImageError` with code ``image_missing``, ``image_not_a_file`` (a folder, a
    FIFO…: never opened), ``image_truncated``, ``image_unreadable`` or ``image_too_large``; on
    any error no file is left behind.
    """
    original_size, base = _decode_base(src)
    sizes = tier_sizes(*original_size)
    paths = tier_paths(out_dir, sha256, seq)
    out_dir.mkdir(parents=True, exist_ok=True)

    temps: dict[str, Path] = {}
    written: dict[str, int] = {}
    try:
        for name, _f, quality in TIERS:
            tier_img = base if sizes[name] == base.size else base.resize(sizes[name], _LANCZOS)
            temps[name] = tmp = _temp_path(paths[name])
            written[name] = _write_webp(tier_img, tmp, quality=quality, method=method, fsync=fsync)
        for name, tmp in temps.items():
            os.replace(tmp, paths[name])
        if fsync:
            _fsync_dir(out_dir)
    except BaseException:
        for tmp in temps.values():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise
    return TierSet(
        seq=seq,
        source_name=src.name,
        original_size=original_size,
        sizes=sizes,
        bytes_written=written,
        files={name: p.name for name, p in paths.items()},
    )


def probe(src: Path) -> tuple[int, int]:
    """Decode ``src`` as :func:`make_tiers` would, writing nothing; its oriented size.

    Raises :class:`ImageError` with the same codes as :func:`make_tiers`.
    """
    return _decode_base(src)[0]


def verify_tier(path: Path, expected_size: tuple[int, int]) -> bool:
    """True when ``path`` is a WebP that decodes completely at ``expected_size``."""
    try:
        with Image.open(path) as im:
            if im.format != "WEBP" or im.size != tuple(expected_size):
                return False
            im.load()
    except (
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        return False
    return True


_KINDS: Final = (
    (stat.S_ISDIR, "folder"),
    (stat.S_ISFIFO, "FIFO (named pipe)"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


def _not_a_file(src: Path, mode: int) -> ImageError:
    kind = next((name for test, name in _KINDS if test(mode)), "special file")
    return ImageError(f"{src} is a {kind}, not an image file; not opened", code="image_not_a_file")


def source_problem(src: Path) -> ImageError | None:
    """Why ``src`` cannot be an image source, from ``stat`` alone (nothing is opened, so a FIFO
    cannot block): ``image_missing`` or ``image_not_a_file``; None for a regular file."""
    try:
        info = os.stat(src)
    except (FileNotFoundError, NotADirectoryError):
        return ImageError(f"image file {src} does not exist", code="image_missing")
    except OSError as e:
        return ImageError(f"image file {src} cannot be read: {e.strerror}")
    return None if stat.S_ISREG(info.st_mode) else _not_a_file(src, info.st_mode)


def _open_regular(src: Path) -> BinaryIO:
    """Open ``src`` for reading only if it is (still) a regular file: ``O_NONBLOCK`` so even a
    FIFO swapped in after :func:`source_problem` cannot block, then ``fstat``."""
    fd = os.open(src, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _not_a_file(src, mode)
    return os.fdopen(fd, "rb")


def _decode_base(src: Path) -> tuple[tuple[int, int], Image.Image]:
    """Decode ``src`` once; return its oriented original size and the image at base size."""
    problem = source_problem(src)
    if problem is not None:
        raise problem
    try:
        with _open_regular(src) as fh, Image.open(fh) as im:
            _refuse_too_large(src, im.size)
            raw_size = im.size
            target = base_size(*raw_size)
            if im.format == "JPEG" and target != raw_size:
                im.draft(None, target)
            im.load()
            orientation = _orientation(im)
            decoded: Image.Image = im
            if orientation in _ORIENTATION_TRANSPOSE:
                decoded = im.transpose(_ORIENTATION_TRANSPOSE[orientation])
            img = _normalise_mode(decoded)
            if img is im:  # closing ``im`` below would drop its pixels
                img = im.copy()
    except ImageError:
        raise
    except FileNotFoundError as e:
        raise ImageError(f"image file {src} does not exist", code="image_missing") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"image {src} is too large: {e}", code="image_too_large") from e
    except UnidentifiedImageError as e:
        raise ImageError(f"{src} is not a readable image", code="image_unreadable") from e
    except (OSError, EOFError, ValueError, SyntaxError) as e:
        if _looks_truncated(e):
            raise ImageError(f"image {src} is truncated: {e}", code="image_truncated") from e
        raise ImageError(f"image {src} cannot be decoded: {e}", code="image_unreadable") from e

    original_size = oriented(raw_size, orientation)
    base_wh = base_size(*original_size)
    if img.size != base_wh:
        img = img.resize(base_wh, _LANCZOS)
    return original_size, img


def _refuse_too_large(src: Path, size: tuple[int, int]) -> None:
    # Image.open only warns between MAX_IMAGE_PIXELS and twice that; we refuse explicitly.
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and size[0] * size[1] > limit:
        raise ImageError(
            f"image {src} has {size[0]}×{size[1]} pixels, above the limit of {limit}",
            code="image_too_large",
        )


def _orientation(im: Image.Image) -> int:
    value = im.getexif().get(ExifTags.Base.Orientation, 1)
    return value if isinstance(value, int) else 1


def _normalise_mode(im: Image.Image) -> Image.Image:
    """RGBA for images with alpha, RGB otherwise; high-bit grey scaled down to 8 bits."""
    mode = im.mode
    if mode in _ALPHA_MODES or "transparency" in im.info:
        return im if mode == "RGBA" else im.convert("RGBA")
    if mode in _HIGH_BIT_MODES or mode == "F":
        return _to_8bit_grey(im).convert("RGB")
    return im if mode == "RGB" else im.convert("RGB")


def _to_8bit_grey(im: Image.Image) -> Image.Image:
    """Map 16-bit (or wider) grey to 8 bits by scaling, so it is not clipped to white.

    ``I;16*`` is always 0..65535. ``I``/``F`` carry no depth, so their range decides: ``F``
    within 0..1 is read as unit floats, values within 0..255 are kept, within 0..65535 are read
    as 16-bit, anything else is stretched.
    """
    if im.mode.startswith("I;16"):
        return im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    low, high = im.getextrema()
    assert isinstance(low, int | float) and isinstance(high, int | float)
    if im.mode == "F" and low >= 0 and high <= 1.0:
        return im.point(lambda v: v * 255.0).convert("L")
    if low >= 0 and high <= 255:
        return im.convert("L")
    if low >= 0 and high <= 65535:
        return im.point(lambda v: v * (1 / 256)).convert("L")
    span = float(high - low) or 1.0
    return im.point(lambda v: (v - low) * (255.0 / span)).convert("L")


def _looks_truncated(e: BaseException) -> bool:
    if isinstance(e, EOFError):
        return True
    text = str(e).lower()
    return any(s in text for s in ("truncated", "broken data stream", "incomplete", "premature"))


def _temp_path(final: Path) -> Path:
    # Hidden and suffixed, so it never matches a final ``*_{tier}.webp`` name.
    return final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _write_webp(img: Image.Image, tmp: Path, *, quality: int, method: int, fsync: bool) -> int:
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "wb") as fh:
        img.save(fh, format="WEBP", quality=quality, method=method)
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())
        return fh.tell()


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
