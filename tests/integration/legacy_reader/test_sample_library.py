"""The factory's sample library: every case mixed in, exact row counts, deterministic."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from backend.database.migration.legacy.reader import LegacyReader
from backend.sample.legacy_factory import CASES, make_sample_library


def test_sample_library_mixes_every_case_in(tmp_path: Path) -> None:
    library = make_sample_library(tmp_path / "lib", models=120, images_for_first=10, seed=5)
    assert len(library.rows) == 120
    assert {r.case for r in library.rows} == {*CASES, "ordinary"}
    ordinary = [r for r in library.rows if r.case == "ordinary"]
    assert [len(r.image_urls) for r in ordinary] == [1] * 10 + [0] * (len(ordinary) - 10)
    for r in ordinary:
        assert Path(r.path).parent.parent == library.models_dir
        assert r.hash_hex == hashlib.sha256(Path(r.path).read_bytes()).hexdigest()
        assert r.type in r.tags
    with LegacyReader(library.db_path, library.images_dir) as reader:
        assert reader.count() == 120


@pytest.mark.parametrize("models", [0, 29, 30, 31, 58, 59, 60])
def test_sample_library_has_exactly_the_rows_asked_for(tmp_path: Path, models: int) -> None:
    library = make_sample_library(tmp_path / "lib", models=models, image_size=None)
    case_rows = len(CASES) + 1  # duplicate_hash writes two rows
    assert [r.legacy_id for r in library.rows] == list(range(1, max(models, case_rows) + 1))
    assert {r.case for r in library.rows} >= set(CASES)


def test_sample_library_is_deterministic(tmp_path: Path) -> None:
    a = make_sample_library(tmp_path / "a", models=80, images_per_model=3, vary_images=True)
    b = make_sample_library(tmp_path / "b", models=80, images_per_model=3, vary_images=True)
    assert [(r.hash_hex, r.tags, len(r.image_urls)) for r in a.rows] == [
        (r.hash_hex, r.tags, len(r.image_urls)) for r in b.rows
    ]
    assert len({len(r.image_urls) for r in a.rows if r.case == "ordinary"}) > 1
    names = sorted(p.name for p in a.images_dir.iterdir())
    assert names == sorted(p.name for p in b.images_dir.iterdir())
    for name in names:
        if not (a.images_dir / name).is_symlink():
            assert (a.images_dir / name).read_bytes() == (b.images_dir / name).read_bytes()
