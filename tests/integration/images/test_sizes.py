"""The 3-tier WebP pipeline on real image files: EXIF orientation, tier sizes, no upscaling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from PIL.JpegImagePlugin import JpegImageFile

from backend.database.migration.images import make_tiers, tier_file_name, tier_paths, verify_tier
from tests.helpers.image_files import (
    ORIENTATION,
    SHA,
    assert_tiers_match,
    open_tier,
    photo,
    px,
    save,
)


def test_exif_rotated_jpeg_is_turned_upright(tmp_path: Path) -> None:
    img = Image.new("RGB", (300, 200), (20, 20, 220))
    ImageDraw.Draw(img).rectangle((0, 0, 59, 59), fill=(230, 20, 20))  # raw top-left
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # display = raw rotated 90° clockwise
    src = save(img, tmp_path / "rot.jpg", exif=exif, quality=95)
    out = tmp_path / "out"
    result = make_tiers(src, out, SHA, 0)
    assert_tiers_match(result, out, (200, 300))
    high = open_tier(out / tier_file_name(SHA, 0, "high"))
    assert high.size == (200, 300)
    red_corner = px(high, (190, 10))  # raw top-left ends top-right
    blue_corner = px(high, (10, 10))
    assert red_corner[0] > 180 and red_corner[2] < 80
    assert blue_corner[2] > 180 and blue_corner[0] < 80


def test_big_rotated_jpeg_uses_draft_but_keeps_exact_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = (4499, 3001)  # odd sides: draft rounds up, the tiers must not
    exif = Image.Exif()
    exif[ORIENTATION] = 8
    src = save(photo(raw), tmp_path / "big.jpg", exif=exif, quality=90)
    drafts: list[tuple[int, int] | None] = []
    real_draft = JpegImageFile.draft

    def spy(self: JpegImageFile, mode: str | None, size: tuple[int, int] | None) -> Any:
        drafts.append(size)
        result = real_draft(self, mode, size)
        drafts.append(self.size)
        return result

    monkeypatch.setattr(JpegImageFile, "draft", spy)
    out = tmp_path / "out"
    result = make_tiers(src, out, SHA, 4)
    assert_tiers_match(result, out, (3001, 4499))
    # By hand: 3001 * 4499 = 13_501_499; scale = sqrt(2e6 / 13_501_499) = sqrt(0.148133) =
    # 0.384881; 3001 * 0.384881 = 1155.03 → 1155; 4499 * 0.384881 = 1731.58 → 1731.
    assert result.sizes["high"] == (1155, 1731)
    assert drafts, "a JPEG over twice the base size should be decoded through draft()"
    requested, decoded = drafts[0], drafts[1]
    assert requested is not None and decoded is not None
    assert decoded[0] < raw[0] and decoded[0] >= requested[0] and decoded[1] >= requested[1]


def test_six_megapixel_image_gets_the_capped_sizes(tmp_path: Path) -> None:
    src = save(photo((2048, 3072)), tmp_path / "big.jpg", quality=90)
    out = tmp_path / "out"
    result = make_tiers(src, out, SHA, 2)
    assert result.original_size == (2048, 3072)
    expected = {"high": (1154, 1732), "medium": (761, 1143), "low": (380, 571)}  # by hand
    assert result.sizes == expected
    for tier, path in tier_paths(out, SHA, 2).items():
        assert verify_tier(path, expected[tier])


def test_small_image_is_not_upscaled(tmp_path: Path) -> None:
    src = save(photo((64, 48)), tmp_path / "small.png")
    out = tmp_path / "out"
    result = make_tiers(src, out, SHA, 0)
    assert result.sizes["high"] == (64, 48)
    assert open_tier(out / tier_file_name(SHA, 0, "high")).size == (64, 48)
