"""Builders and checks for the image tests: photo-like images, a PNG bomb, tier look-ups."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from backend.database.migration.errors import ImageError
from backend.database.migration.images import (
    TierSet,
    make_tiers,
    tier_file_name,
    tier_paths,
    tier_sizes,
    verify_tier,
)

SHA = "0123456789abcdef" * 4
ORIENTATION = 0x0112


def photo(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """Noise over a gradient: compresses like a photo, not like a flat fill."""
    w, h = size
    grad = Image.linear_gradient("L").resize(size)
    noise = Image.effect_noise(size, 48)
    rgb = Image.merge("RGB", (grad, noise, grad.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    ImageDraw.Draw(rgb).rectangle((w // 4, h // 4, w // 2, h // 2), fill=(250, 30, 30))
    return rgb if mode == "RGB" else rgb.convert(mode)


def save(img: Image.Image, path: Path, **params: Any) -> Path:
    img.save(path, **params)
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(path: Path, width: int = 30_000, height: int = 30_000) -> Path:
    """A ~60-byte PNG whose IHDR claims width×height (8-bit RGB); it holds no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b""))
    return path


def open_tier(path: Path) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        return im.copy()


def px(img: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = img.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def final_names(seq: int = 0) -> list[str]:
    return sorted(tier_file_name(SHA, seq, t) for t in ("high", "medium", "low"))


def assert_tiers_match(result: TierSet, out: Path, original: tuple[int, int]) -> None:
    expected = tier_sizes(*original)
    assert result.original_size == original
    assert result.sizes == expected
    for tier, path in tier_paths(out, SHA, result.seq).items():
        assert verify_tier(path, expected[tier])
        assert result.bytes_written[tier] == path.stat().st_size > 0
        assert result.files[tier] == path.name


def make_tiers_path(src: Path, out: Path, tier: str) -> Path:
    make_tiers(src, out, SHA, 0)
    return out / tier_file_name(SHA, 0, tier)


def assert_image_error(src: Path, out: Path, code: str) -> None:
    with pytest.raises(ImageError) as info:
        make_tiers(src, out, SHA, 0)
    assert info.value.code == code
    assert str(src) in info.value.message
    assert listing(out) == []
