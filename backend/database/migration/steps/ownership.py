"""What earlier legacy runs of this migration wrote into the library, so a rerun can tell its
own models from the user's.

Every legacy item that ends records in its artifacts the digest of the model row as it left it
(``library_digest``, see :meth:`LibraryRepository.model_digest`), whether it created the model
(``created_model``) and the image seqs it wrote (``own_seqs``). A later run finds, per hash,
the newest such record: the same digest means nobody changed the model since; another digest
means the user changed it in the v2 app, and the rerun keeps the user's row.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.database.migration.artifacts import Artifacts
from backend.database.migration.library import LibraryRepository
from workflows.records import WorkItem
from workflows.tables import MigrationItem

_ENDED = ("promoted", "ignored")


@dataclass
class Written:
    """What this migration last wrote for one hash, over every earlier run."""

    digest: str
    created: bool = False
    seqs: dict[str, list[int]] = field(default_factory=dict)
    """Image seqs written, by legacy id (as the item's source key)."""


def record_written(repo: LibraryRepository, item: WorkItem, sha256: str) -> None:
    """On an item that ends having written ``sha256``: remember what the library holds now."""
    artifacts = Artifacts.of(item)
    artifacts.own_seqs = sorted({*artifacts.own_seqs, *artifacts.image_seqs})
    artifacts.library_digest = repo.model_digest(sha256)


class PriorWrites:
    """Per run: the hashes earlier legacy runs wrote, loaded once (one query) when needed."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._runs: dict[int, dict[str, Written]] = {}
        self._lock = threading.Lock()

    def get(self, run_id: int, sha256: str) -> Written | None:
        """The newest record of an earlier run for ``sha256``, if any."""
        with self._lock:
            if run_id not in self._runs:
                self._runs[run_id] = self._load(run_id)
            return self._runs[run_id].get(sha256)

    def _load(self, run_id: int) -> dict[str, Written]:
        stmt = (
            select(MigrationItem.sha256, MigrationItem.source_key, MigrationItem.artifacts)
            .where(
                MigrationItem.kind == "legacy",
                MigrationItem.run_id != run_id,
                MigrationItem.status.in_(_ENDED),
                MigrationItem.sha256.is_not(None),
            )
            .order_by(MigrationItem.updated_at, MigrationItem.id)
        )
        out: dict[str, Written] = {}
        with self._sessions() as session:
            for sha256, key, artifacts in session.execute(stmt):
                art = Artifacts(artifacts or {})
                value = art.library_digest
                if not isinstance(value, str) or sha256 is None:
                    continue
                written = out.setdefault(sha256, Written(digest=value))
                written.digest = value
                written.created = written.created or art.created_model
                written.seqs[str(key)] = list(art.own_seqs)
        return out
