"""What the step functions need from the outside world, built once by MigrationService."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.database.migration.hashing import HashCache
from backend.database.migration.legacy.prefetch import PrefetchingRows
from backend.database.migration.types import TypeMap


@dataclass
class StepEnv:
    """Dependencies of the steps: sessions for reads and short writes, dirs, readers, options."""

    sessions: sessionmaker[Session]
    write_sessions: sessionmaker[Session]
    images_dir: Path
    pending_dir: Path
    webp_method: int
    reader_for_run: Callable[[int], PrefetchingRows]
    run_options: Callable[[int], dict[str, Any]]
    hash_cache: HashCache
    import_roots: Sequence[Path] | None = None
    """When set, a pending model's file must resolve inside one of them to be promoted."""
    types: TypeMap = field(default_factory=TypeMap)
    """Legacy type + path → the v2 tab (``types_cache.json`` of the data dir, else aliases)."""
