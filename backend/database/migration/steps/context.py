"""What the step functions need from the outside world, built once by ``backend.bootstrap``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from backend.database.migration.hashing import HashCache
from backend.database.migration.legacy.prefetch import PrefetchingRows
from backend.database.migration.pending_batch import PendingBatch
from backend.database.migration.types import TypeMap


class ReaderProvider(Protocol):
    """Hands a step the legacy reader of its run (one per thread)."""

    def for_run(self, run_id: int) -> PrefetchingRows:
        """The reader of the run's legacy library."""
        ...


class OptionsProvider(Protocol):
    """Hands a step the options its run was created with."""

    def for_run(self, run_id: int) -> dict[str, Any]:
        """The run's options."""
        ...


@dataclass
class StepEnv:
    """Dependencies of the steps: sessions for reads and short writes, dirs, readers, options."""

    sessions: sessionmaker[Session]
    write_sessions: sessionmaker[Session]
    images_dir: Path
    pending_dir: Path
    webp_method: int
    readers: ReaderProvider
    options: OptionsProvider
    hash_cache: HashCache
    import_roots: Sequence[Path] | None = None
    """When set, a pending model's file must resolve inside one of them to be promoted."""
    types: TypeMap = field(default_factory=TypeMap)
    """Legacy type + path → the v2 tab (``types_cache.json`` of the data dir, else aliases)."""
    pending: PendingBatch | None = None
    """The pending rows of each claim, read ahead (filled by the drivers' ``on_claim``)."""
