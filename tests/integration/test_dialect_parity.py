"""SQLite and PostgreSQL record the same artifacts and events for the same legacy library.

Catches the bug where psycopg's rowcount of -1 for ``INSERT … ON CONFLICT DO NOTHING`` sent
every new model down the existing-model path on PostgreSQL (``image_mode`` "replace").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.sample.legacy_factory import LegacyLibrary, make_legacy_library
from tests.helpers.service import make_service

CASES = (
    "valid",
    "valid",
    "uppercase_hash",
    "empty_hash",
    "duplicate_hash",
    "several_images",
    "null_extra",
)


def _history(lib: LegacyLibrary, data_dir: Path, url: str | None) -> dict[str, Any]:
    service = make_service(data_dir, url)
    try:
        run = service.start_legacy_run(lib.db_path, lib.images_dir)
        service.run_until_done(run.id)
        history: dict[str, Any] = {}
        page = service.list_items(run.id, limit=1000)
        for item in page.items:
            detail = service.item_detail(item.id)
            history[item.source_key] = {
                "state": item.state,
                "artifacts": item.artifacts,
                "events": [(e.trigger, e.from_state, e.to_state) for e in detail.events],
            }
        return history
    finally:
        service.close()


@pytest.mark.postgres
def test_sqlite_and_postgres_record_the_same_history(tmp_path: Path, postgres_url: str) -> None:
    lib = make_legacy_library(tmp_path / "legacy", cases=CASES)
    on_sqlite = _history(lib, tmp_path / "sqlite", None)
    on_postgres = _history(lib, tmp_path / "postgres", postgres_url)
    assert on_postgres == on_sqlite
    modes = {v["artifacts"].get("image_mode") for v in on_sqlite.values()}
    assert "new" in modes
    assert "replace" not in modes  # a first run never takes the re-import path
