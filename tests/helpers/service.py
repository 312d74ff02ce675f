"""The one way tests build a `MigrationService` on a data dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend.config import Settings
from backend.database.migration.service import MigrationService


def make_service(data_dir: Path, url: str | None = None, **settings: Any) -> MigrationService:
    """A service on ``data_dir`` (its SQLite file unless ``url`` is given); close it after use."""
    return MigrationService(Settings(data_dir=data_dir, database_url=url, **settings))
