"""The 3-tier WebP pipeline on real image files: every colour mode becomes RGB or RGBA tiers."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from backend.database.migration.images import make_tiers, tier_file_name
from tests.helpers.image_files import (
    SHA,
    assert_tiers_match,
    final_names,
    listing,
    make_tiers_path,
    open_tier,
    photo,
    px,
    save,
)


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


def test_animated_gif_uses_the_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (48, 32), c) for c in ((230, 10, 10), (10, 10, 230))]
    src = tmp_path / "anim.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(src) as check:
        assert getattr(check, "n_frames", 1) == 2
    high = open_tier(make_tiers_path(src, tmp_path / "out", "high"))
    r, _g, b = px(high.convert("RGB"), (24, 16))
    assert r > 180 and b < 80
