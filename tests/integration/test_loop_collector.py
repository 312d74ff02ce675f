"""A run driven to its end works with the collector's young threshold raised, and leaves the
process's thresholds as they were."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from backend.sample.legacy_factory import make_sample_library
from tests.helpers.service import make_service
from workflows import runs
from workflows.collector import BATCH_THRESHOLD


def test_creating_a_run_raises_the_young_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = make_sample_library(tmp_path / "legacy", models=30)  # some stage to pending
    service = make_service(tmp_path / "data")
    before = gc.get_threshold()
    seen: list[int] = []
    real = runs.insert_items

    def insert_items(*args: Any, **kwargs: Any) -> int:
        seen.append(gc.get_threshold()[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "insert_items", insert_items)
    try:
        legacy = service.start_legacy_run(lib.db_path, lib.images_dir)
        service.run_until_done(legacy.id)
        assert len(seen) == 1
        promotion = service.start_promotion_run(None)
    finally:
        service.close()
    assert service.run_status(promotion.id).total > 0
    assert len(seen) == 2 and all(young >= BATCH_THRESHOLD for young in seen)
    assert gc.get_threshold() == before


def test_run_until_done_raises_the_young_threshold_while_it_drives(tmp_path: Path) -> None:
    lib = make_sample_library(tmp_path / "legacy", models=20, include_cases=False)
    service = make_service(tmp_path / "data")
    before = gc.get_threshold()
    seen: list[int] = []
    try:
        run = service.start_legacy_run(lib.db_path, lib.images_dir)
        status = service.run_until_done(
            run.id, batch_size=4, on_progress=lambda _: seen.append(gc.get_threshold()[0])
        )
    finally:
        service.close()
    assert status.finished
    assert seen and all(young >= BATCH_THRESHOLD for young in seen)
    assert gc.get_threshold() == before
