"""Batch sizes: a loop claims up to the configured ``batch_size`` (1024 by default), one
``advance`` (a request) at most 256 items unless it asks for more."""

from __future__ import annotations

from pathlib import Path

from backend.config import Settings
from backend.database.migration.drive import ONE_BATCH
from backend.sample.legacy_factory import make_sample_library
from tests.helpers.service import make_service


def test_one_advance_takes_at_most_one_batch_and_the_loop_finishes_the_rest(
    tmp_path: Path,
) -> None:
    assert Settings(data_dir=tmp_path).batch_size == 1024
    library = make_sample_library(
        tmp_path / "legacy", models=ONE_BATCH + 40, image_size=None, include_cases=False
    )
    service = make_service(tmp_path / "data")
    try:
        run = service.start_legacy_run(library.db_path, library.images_dir)
        assert len(service.advance(run.id).items) == ONE_BATCH
        assert len(service.advance(run.id, 30).items) == 30
        status = service.run_until_done(run.id, workers=1)
    finally:
        service.close()
    assert status.counts["promoted"] == ONE_BATCH + 40


def test_a_configured_batch_size_below_one_batch_caps_an_advance(tmp_path: Path) -> None:
    library = make_sample_library(tmp_path / "legacy", models=20, image_size=None)
    service = make_service(tmp_path / "data", batch_size=7)
    try:
        run = service.start_legacy_run(library.db_path, library.images_dir)
        assert len(service.advance(run.id).items) == 7
    finally:
        service.close()
