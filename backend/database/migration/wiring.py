"""The collaborators the use cases take, built once by ``backend.bootstrap``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from backend.config import Settings
from backend.database.migration.resources import LegacyReaders, ThreadDrivers
from backend.database.migration.steps.context import StepEnv
from backend.database.migration.summary import ModelLookup
from workflows.store import WorkflowStore


@dataclass(frozen=True)
class Wiring:
    """Settings, the database (engine, session factories, workflow store) and the per-thread
    resources. ``sessions`` read; ``write_sessions`` take the write lock up front (SQLite)."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    write_sessions: sessionmaker[Session]
    store: WorkflowStore
    env: StepEnv
    readers: LegacyReaders
    drivers: ThreadDrivers
    models: ModelLookup
    """Where the models behind items are read from (for pages of items as models)."""

    @property
    def scratch_dir(self) -> Path:
        """Where private snapshots of a legacy DB are read from (``DATA_DIR/tmp``)."""
        return self.settings.data_dir / "tmp"

    def close(self) -> None:
        """Close legacy readers and the engine's connections."""
        self.readers.close()
        self.engine.dispose()
