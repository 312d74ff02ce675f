"""The 3-tier WebP pipeline refuses bad image files with a code and writes nothing."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers.image_files import assert_image_error, bomb_png, photo, save


def test_missing_file(tmp_path: Path) -> None:
    assert_image_error(tmp_path / "nope.jpg", tmp_path / "out", "image_missing")


def test_directory_is_not_an_image_file(tmp_path: Path) -> None:
    (tmp_path / "dir.jpg").mkdir()
    assert_image_error(tmp_path / "dir.jpg", tmp_path / "out", "image_not_a_file")


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
