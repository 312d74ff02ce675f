"""Tier size arithmetic and file names (pure functions, no I/O)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from backend.database.migration.images import (
    MAX_BASE_PIXELS,
    TIERS,
    base_size,
    tier_file_name,
    tier_paths,
    tier_sizes,
)

SHA = "ab" * 32


def test_tiers_are_the_designed_factors_and_qualities() -> None:
    assert TIERS == (("high", 1.0, 80), ("medium", 0.66, 60), ("low", 0.33, 45))
    assert MAX_BASE_PIXELS == 2_000_000


def test_base_size_caps_a_6_megapixel_image_at_two_megapixels() -> None:
    # By hand: scale = sqrt(2_000_000 / (2048 * 3072)) = sqrt(0.3178914...) = 0.5638186...
    # 2048 * 0.5638186 = 1154.70 → 1154; 3072 * 0.5638186 = 1732.05 → 1732.
    assert base_size(2048, 3072) == (1154, 1732)
    assert base_size(3072, 2048) == (1732, 1154)


def test_tier_sizes_of_a_6_megapixel_image_by_hand() -> None:
    # medium: 1154 * 0.66 = 761.64, 1732 * 0.66 = 1143.12; low: 380.82, 571.56.
    assert tier_sizes(2048, 3072) == {
        "high": (1154, 1732),
        "medium": (761, 1143),
        "low": (380, 571),
    }


def test_small_image_is_never_upscaled() -> None:
    assert base_size(512, 768) == (512, 768)
    # 512 * 0.66 = 337.92, 768 * 0.66 = 506.88; 512 * 0.33 = 168.96, 768 * 0.33 = 253.44.
    assert tier_sizes(512, 768) == {"high": (512, 768), "medium": (337, 506), "low": (168, 253)}


def test_exactly_two_megapixels_is_kept_and_one_more_pixel_is_scaled() -> None:
    assert base_size(1000, 2000) == (1000, 2000)
    bw, bh = base_size(1000, 2001)
    assert (bw, bh) != (1000, 2001)
    assert bw * bh <= MAX_BASE_PIXELS


def test_tier_sides_are_clamped_to_at_least_one_pixel() -> None:
    assert tier_sizes(1, 1) == {"high": (1, 1), "medium": (1, 1), "low": (1, 1)}
    assert tier_sizes(3000, 2)["low"] == (990, 1)
    # Above the cap with an extreme aspect: base height int(2 * 0.7071...) = 1.
    assert base_size(2_000_000, 2) == (1_414_213, 1)
    assert tier_sizes(2_000_000, 2)["low"] == (466_690, 1)


@given(st.integers(1, 60_000), st.integers(1, 60_000))
def test_base_size_never_upscales_and_respects_the_cap(w: int, h: int) -> None:
    bw, bh = base_size(w, h)
    assert bw <= w and bh <= h
    if w * h <= MAX_BASE_PIXELS:
        assert (bw, bh) == (w, h)
    else:
        assert bw * bh <= MAX_BASE_PIXELS
    # Swapping the axes swaps the result (EXIF rotation relies on this).
    assert base_size(h, w) == (bh, bw)


@given(st.integers(1, 20_000), st.integers(1, 20_000))
def test_tiers_shrink_in_order(w: int, h: int) -> None:
    sizes = tier_sizes(w, h)
    assert sizes["high"] == base_size(w, h)
    assert sizes["high"] >= sizes["medium"] >= sizes["low"]
    assert all(side >= 1 for size in sizes.values() for side in size)


def test_tier_file_names_and_paths() -> None:
    assert tier_file_name(SHA, 0, "high") == f"{SHA}_0_high.webp"
    assert tier_file_name(SHA, 12, "low") == f"{SHA}_12_low.webp"
    paths = tier_paths(Path("/lib/images"), SHA, 3)
    assert paths == {
        "high": Path(f"/lib/images/{SHA}_3_high.webp"),
        "medium": Path(f"/lib/images/{SHA}_3_medium.webp"),
        "low": Path(f"/lib/images/{SHA}_3_low.webp"),
    }
