"""The one way tests build a `MigrationService` on a data dir, and look-ups through it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend.bootstrap import build_service
from backend.config import Settings
from backend.database.migration.service import MigrationService
from backend.sample.legacy_factory import LegacyLibrary


def make_service(data_dir: Path, url: str | None = None, **settings: Any) -> MigrationService:
    """A service on ``data_dir`` (its SQLite file unless ``url`` is given); close it after use."""
    return build_service(Settings(data_dir=data_dir, database_url=url, **settings))


def url_of(service: MigrationService) -> str:
    """The library database URL a service works on."""
    return service.settings.resolved_database_url


def library_url(data_dir: Path) -> str:
    """The SQLite library URL inside a data dir (its absolute path)."""
    return f"sqlite:///{data_dir.resolve()}/hikaze_model_manager.db"


def migrate(service: MigrationService, lib: LegacyLibrary, **kwargs: object) -> int:
    """Start a stage-1 run of ``lib`` and drive it to the end; its run id."""
    run = service.start_legacy_run(lib.db_path, lib.images_dir, **kwargs)  # type: ignore[arg-type]
    service.run_until_done(run.id)
    return run.id


def items_by_legacy_id(service: MigrationService, run_id: int) -> dict[int, object]:
    """The items of a stage-1 run by legacy id."""
    page = service.list_items(run_id, limit=1000)
    return {int(i.source_key): i for i in page.items}


def codes(item: object) -> list[str]:
    """Sorted warning codes of an item."""
    return sorted(w.code for w in item.warnings)  # type: ignore[attr-defined]


def pending_id_for(service: MigrationService, path: str) -> int:
    """The id of the one pending model at ``path``."""
    ids = [p.id for p in service.pending_models() if p.path == path]
    assert len(ids) == 1, path
    return ids[0]
