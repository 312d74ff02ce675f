"""The 3-tier WebP pipeline on real image files."""

from __future__ import annotations

import os
import stat
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from PIL.JpegImagePlugin import JpegImageFile

from backend.database.migration import images
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


# --- builders ----------------------------------------------------------------------------------


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


# --- good images -------------------------------------------------------------------------------


def test_rgb_png_gives_three_rgb_tiers(tmp_path: Path) -> None:
    src = save(photo((300, 200)), tmp_path / "a.png")
    out = tmp_path / "out" / "nested"  # created on demand
    result = make_tiers(src, out, SHA, 0)
    assert result.seq == 0 and result.source_name == "a.png"
    assert_tiers_match(result, out, (300, 200))
    assert result.sizes["medium"] == (198, 132) and result.sizes["low"] == (99, 66)
    high = open_tier(out / tier_file_name(SHA, 0, "high"))
    assert high.mode == "RGB"
    r, g, b = px(high, (112, 75))  # inside the red rectangle
    assert r > 200 and g < 80 and b < 80
    assert listing(out) == final_names()


def test_bigger_quality_gives_bigger_files(tmp_path: Path) -> None:
    src = save(photo((400, 400)), tmp_path / "a.png")
    written = make_tiers(src, tmp_path / "out", SHA, 1).bytes_written
    # Same pixels per tier would be a fairer test, but the tiers also shrink: both make high
    # larger than medium larger than low for a photo-like image.
    assert written["high"] > written["medium"] > written["low"]


def test_method_setting_reaches_the_encoder(tmp_path: Path) -> None:
    src = save(photo((256, 256)), tmp_path / "a.png")
    fast = make_tiers(src, tmp_path / "m0", SHA, 0, method=0).bytes_written
    slow = make_tiers(src, tmp_path / "m6", SHA, 0, method=6).bytes_written
    assert fast != slow


def test_rgba_keeps_alpha(tmp_path: Path) -> None:
    img = photo((120, 80), "RGBA")
    img.putalpha(0)
    ImageDraw.Draw(img).rectangle((60, 0, 119, 79), fill=(0, 0, 255, 255))
    src = save(img, tmp_path / "alpha.png")
    out = tmp_path / "out"
    assert_tiers_match(make_tiers(src, out, SHA, 0), out, (120, 80))
    high = open_tier(out / tier_file_name(SHA, 0, "high"))
    assert high.mode == "RGBA"
    assert px(high, (10, 40))[3] < 10  # transparent half stays transparent
    assert px(high, (100, 40))[3] > 245  # opaque half stays opaque


def test_la_becomes_rgba(tmp_path: Path) -> None:
    img = Image.new("LA", (40, 40), (128, 0))
    ImageDraw.Draw(img).rectangle((20, 0, 39, 39), fill=(200, 255))
    src = save(img, tmp_path / "la.png")
    high = open_tier(make_tiers_path(src, tmp_path / "out", "high"))
    assert high.mode == "RGBA"
    assert px(high, (5, 20))[3] < 10 and px(high, (35, 20))[3] > 245


def make_tiers_path(src: Path, out: Path, tier: str) -> Path:
    make_tiers(src, out, SHA, 0)
    return out / tier_file_name(SHA, 0, tier)


def test_palette_with_transparency_becomes_rgba(tmp_path: Path) -> None:
    img = Image.new("P", (64, 64), 0)
    img.putpalette([0, 0, 0, 255, 200, 0] + [0] * (254 * 3))
    ImageDraw.Draw(img).rectangle((32, 0, 63, 63), fill=1)
    src = save(img, tmp_path / "pal.png", transparency=0)
    with Image.open(src) as check:
        assert check.mode == "P" and "transparency" in check.info
    high = open_tier(make_tiers_path(src, tmp_path / "out", "high"))
    assert high.mode == "RGBA"
    assert px(high, (8, 32))[3] < 10
    r, g, _b, a = px(high, (56, 32))
    assert a > 245 and r > 230 and g > 180


def test_palette_without_transparency_becomes_rgb(tmp_path: Path) -> None:
    src = save(photo((64, 64)).convert("P"), tmp_path / "pal.png")
    assert open_tier(make_tiers_path(src, tmp_path / "out", "high")).mode == "RGB"


def test_cmyk_jpeg_becomes_rgb_with_the_right_colour(tmp_path: Path) -> None:
    src = save(Image.new("CMYK", (80, 60), (255, 0, 0, 0)), tmp_path / "cmyk.jpg", quality=95)
    with Image.open(src) as check:
        assert check.mode == "CMYK"
    high = open_tier(make_tiers_path(src, tmp_path / "out", "high"))
    assert high.mode == "RGB"
    r, g, b = px(high, (40, 30))
    assert r < 40 and g > 215 and b > 215  # cyan


def test_16_bit_grey_is_scaled_not_blown_out_to_white(tmp_path: Path) -> None:
    img = Image.new("I;16", (256, 32))
    img.putdata([x * 257 for _y in range(32) for x in range(256)])  # 0 … 65535 left to right
    src = save(img, tmp_path / "grey16.png")
    with Image.open(src) as check:
        assert check.mode.startswith("I;16")
    high = open_tier(make_tiers_path(src, tmp_path / "out", "high"))
    lo, hi = high.convert("L").getextrema()
    assert isinstance(lo, int) and isinstance(hi, int)
    assert lo < 20 and hi > 235
    mid = high.convert("L").getpixel((128, 16))
    assert isinstance(mid, int) and 100 < mid < 160  # a ramp, not a clip


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


def test_animated_gif_uses_the_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (48, 32), c) for c in ((230, 10, 10), (10, 10, 230))]
    src = tmp_path / "anim.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(src) as check:
        assert getattr(check, "n_frames", 1) == 2
    high = open_tier(make_tiers_path(src, tmp_path / "out", "high"))
    r, _g, b = px(high.convert("RGB"), (24, 16))
    assert r > 180 and b < 80


# --- bad images --------------------------------------------------------------------------------


def assert_image_error(src: Path, out: Path, code: str) -> None:
    with pytest.raises(ImageError) as info:
        make_tiers(src, out, SHA, 0)
    assert info.value.code == code
    assert str(src) in info.value.message
    assert listing(out) == []


def test_missing_file(tmp_path: Path) -> None:
    assert_image_error(tmp_path / "nope.jpg", tmp_path / "out", "image_missing")


def test_directory_is_not_an_image_file(tmp_path: Path) -> None:
    (tmp_path / "dir.jpg").mkdir()
    assert_image_error(tmp_path / "dir.jpg", tmp_path / "out", "image_missing")


def test_truncated_jpeg(tmp_path: Path) -> None:
    data = save(photo((400, 300)), tmp_path / "whole.jpg", quality=90).read_bytes()
    src = tmp_path / "half.jpg"
    src.write_bytes(data[: len(data) // 2])
    assert_image_error(src, tmp_path / "out", "image_truncated")


def test_truncated_png(tmp_path: Path) -> None:
    data = save(photo((400, 300)), tmp_path / "whole.png").read_bytes()
    src = tmp_path / "half.png"
    src.write_bytes(data[: len(data) // 2])
    assert_image_error(src, tmp_path / "out", "image_truncated")


def test_text_file_is_unreadable(tmp_path: Path) -> None:
    src = tmp_path / "notes.png"
    src.write_text("this is not an image\n")
    assert_image_error(src, tmp_path / "out", "image_unreadable")


def test_decompression_bomb_is_refused_without_decoding(tmp_path: Path) -> None:
    src = bomb_png(tmp_path / "bomb.png")
    assert src.stat().st_size < 100
    assert_image_error(src, tmp_path / "out", "image_too_large")


@pytest.mark.parametrize("warnings_as_errors", [True, False])
def test_above_max_pixels_but_below_pillows_error_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warnings_as_errors: bool
) -> None:
    # 64×64 = 4096 pixels: over a limit of 3000, under Pillow's hard error at 6000, where Pillow
    # itself only warns. Refused either way, whether that warning raises or is ignored.
    src = save(photo((64, 64)), tmp_path / "warn.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)
    with warnings.catch_warnings():
        warnings.simplefilter("error" if warnings_as_errors else "ignore")
        assert_image_error(src, tmp_path / "out", "image_too_large")


# --- atomic, deterministic writes --------------------------------------------------------------


def test_a_failing_encode_leaves_no_file_and_keeps_an_earlier_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = save(photo((200, 150)), tmp_path / "a.png")
    fresh, kept = tmp_path / "fresh", tmp_path / "kept"
    make_tiers(src, kept, SHA, 0)
    before = {name: (kept / name).read_bytes() for name in listing(kept)}
    real_save = Image.Image.save
    calls: list[int] = []

    def flaky_save(self: Image.Image, fp: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 2:  # the medium tier: write half a file, then die
            fp.write(b"RIFF\x00\x00")
            raise KeyboardInterrupt
        real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", flaky_save)
    with pytest.raises(KeyboardInterrupt):
        make_tiers(src, fresh, SHA, 0)
    assert listing(fresh) == []
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        make_tiers(src, kept, SHA, 0)
    assert {name: (kept / name).read_bytes() for name in listing(kept)} == before


def test_rerun_is_byte_identical_and_leaves_no_temp_files(tmp_path: Path) -> None:
    src = save(photo((700, 500), "RGBA"), tmp_path / "a.png")
    one, two = tmp_path / "one", tmp_path / "two"
    make_tiers(src, one, SHA, 5)
    first = {name: (one / name).read_bytes() for name in listing(one)}
    make_tiers(src, two, SHA, 5)
    make_tiers(src, one, SHA, 5)  # overwrite in place
    assert listing(one) == listing(two) == final_names(5)
    assert {name: (two / name).read_bytes() for name in listing(two)} == first
    assert {name: (one / name).read_bytes() for name in listing(one)} == first


def test_seqs_do_not_collide(tmp_path: Path) -> None:
    src = save(photo((90, 60)), tmp_path / "a.png")
    out = tmp_path / "out"
    make_tiers(src, out, SHA, 0)
    make_tiers(src, out, SHA, 1)
    assert listing(out) == sorted(final_names(0) + final_names(1))


# --- verify_tier -------------------------------------------------------------------------------


def test_verify_tier_rejects_wrong_size_truncation_missing_and_non_webp(tmp_path: Path) -> None:
    src = save(photo((300, 200)), tmp_path / "a.png")
    out = tmp_path / "out"
    make_tiers(src, out, SHA, 0)
    high = out / tier_file_name(SHA, 0, "high")
    assert verify_tier(high, (300, 200))
    assert not verify_tier(high, (300, 199))
    cut = tmp_path / "cut.webp"
    cut.write_bytes(high.read_bytes()[: high.stat().st_size // 2])
    assert not verify_tier(cut, (300, 200))
    assert not verify_tier(tmp_path / "missing.webp", (300, 200))
    assert not verify_tier(src, (300, 200))  # a PNG, not a WebP


def test_module_never_enables_loading_truncated_images() -> None:
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert "LOAD_TRUNCATED_IMAGES" not in Path(images.__file__).read_text()


@pytest.mark.parametrize(("durable", "expected_syncs"), [(True, 4), (False, 0)])
def test_tiers_are_flushed_to_disk_before_rename_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable: bool, expected_syncs: int
) -> None:
    src = save(photo((60, 40)), tmp_path / "a.png")
    out = tmp_path / "out"
    synced: list[bool] = []  # True: the fd was a temp file not yet renamed; False: a directory
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        renamed = set(listing(out)) & set(final_names())
        synced.append(not stat.S_ISDIR(os.fstat(fd).st_mode) and not renamed)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    make_tiers(src, out, SHA, 0, fsync=durable)
    assert len(synced) == expected_syncs
    if durable:
        assert synced == [True, True, True, False]
