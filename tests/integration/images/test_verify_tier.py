"""verify_tier checks a tier file; the module never loads truncated images."""

from __future__ import annotations

from pathlib import Path

from backend.database.migration import images
from backend.database.migration.images import make_tiers, tier_file_name, verify_tier
from tests.helpers.image_files import SHA, photo, save


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
