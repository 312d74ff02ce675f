"""The audit reports added, surplus and damaged image files precisely."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from backend.cli.verify import exit_code
from backend.database.migration.images import tier_file_name
from tests.helpers.audit_library import Migrated, sha_of
from tests.helpers.legacy_cases import only


@pytest.mark.parametrize(
    ("name", "code"),
    [
        (tier_file_name("ab" * 32, 0, "high"), "orphan_image"),
        ("holiday.webp", "unexpected_file"),
        (".x.webp.123.tmp", "temp_file_leftover"),
    ],
)
def test_an_added_file(lib: Migrated, name: str, code: str) -> None:
    Image.new("RGB", (8, 8)).save(lib.data / "images" / name, "WEBP")
    report = lib.audit()
    assert [(p.code, p.legacy_id, p.file) for p in report.problems()] == [(code, None, name)]
    assert report.library_problems[0].fix
    assert exit_code(report) == 1


def test_a_tier_file_beyond_images_count(lib: Migrated) -> None:
    valid = only(lib.legacy, "valid")
    name = tier_file_name(sha_of(valid), 1, "low")
    shutil.copy(
        lib.data / "images" / tier_file_name(sha_of(valid), 0, "low"), lib.data / "images" / name
    )
    report = lib.audit()
    assert [(p.code, p.file) for p in report.problems()] == [("tier_beyond_count", name)]


TierDamage = Callable[[Path], None]


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a webp at all")


def _resized(path: Path) -> None:
    Image.new("RGB", (5, 5)).save(path, "WEBP")


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _scrambled(path: Path) -> None:
    """Keep the RIFF/VP8 headers up to the frame size, overwrite the compressed pixels."""
    data = path.read_bytes()
    assert data[12:16] == b"VP8 "  # lossy; the frame width/height are bytes 26..29
    path.write_bytes(data[:30] + b"\xff" * (len(data) - 30))


@pytest.mark.parametrize(
    ("damage", "code", "deep"),
    [
        (_garbage, "tier_unreadable", False),
        (_resized, "tier_wrong_size", False),
        (_truncated, "tier_unreadable", False),
        (_scrambled, "tier_corrupt", True),
    ],
)
def test_a_damaged_tier_file(lib: Migrated, damage: TierDamage, code: str, deep: bool) -> None:
    spec = only(lib.legacy, "exif_rotated_image")  # expected sizes follow the EXIF rotation
    path = lib.data / "images" / tier_file_name(sha_of(spec), 0, "high")
    damage(path)
    report = lib.audit(deep=deep)
    assert [(p.code, p.legacy_id) for p in report.problems()] == [(code, spec.legacy_id)]
    if deep:  # the default check reads headers only: this damage needs --deep
        assert lib.audit().problems() == []
