"""What the audit compares: the library and the workflow history, read in a few bulk queries.

Nothing here writes. Models, tags, pending rows, items and ``resolve`` events are each one
``SELECT``; the image folders are listed once (:mod:`audit_files`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.database.migration.audit.files import Listing
from backend.database.migration.audit.records import Decision
from backend.database.migration.records import MetaJson, PendingMetaJson, normalize_tag
from backend.database.models import (
    Model,
    ModelTag,
    PendingImport,
    PendingModelTag,
    Tag,
)
from workflows.machine import WORKING
from workflows.tables import MigrationEvent, MigrationItem

WORKING_STATES = frozenset(s.value for s in WORKING)
WRITING = frozenset({"override", "merge"})


@dataclass
class ItemRow:
    """A workflow item as the audit needs it."""

    id: int
    run_id: int
    kind: str
    source_key: str
    sha256: str | None
    state: str
    failed_from_state: str | None
    strategy: str | None
    error_code: str | None
    error: str | None
    artifacts: dict[str, Any]
    warnings: list[dict[str, Any]]

    @property
    def image_seqs(self) -> list[int]:
        """Seqs this item published (stage 1 or 2)."""
        return [int(s) for s in self.artifacts.get("image_seqs", [])]


@dataclass
class ModelRow:
    """A library model; ``meta`` is None when its meta_json does not parse."""

    sha256: str
    path: str
    name: str
    type: str
    size_bytes: int | None
    created_at: int
    meta: MetaJson | None
    tags: set[str] = field(default_factory=set)


@dataclass
class PendingRow:
    """A pending_import row with its tags."""

    id: int
    path: str
    sha256: str | None
    name: str
    type: str
    size_bytes: int | None
    created_at: int
    meta: PendingMetaJson | None
    tags: set[str] = field(default_factory=set)


@dataclass
class LibraryState:
    """The library, the run's items and every stage-2 item, as the audit found them."""

    models: dict[str, ModelRow]
    pending: dict[int, PendingRow]
    tag_names: dict[int, str]
    used_tag_ids: set[int]
    items: dict[str, ItemRow]
    """This run's items by source key (legacy id)."""
    promotions: dict[str, ItemRow]
    """The newest stage-2 item per pending id."""
    by_sha: dict[str, list[ItemRow]]
    """Every item (any run) that carries a sha256, oldest first."""
    decisions: dict[int, Decision]
    """The latest ``resolve`` decision per item id."""
    working: bool
    """Whether any item of any run is still being worked on (staging may be in use)."""
    listing: Listing

    def combined_by(self, sha256: str) -> str | None:
        """``override``/``merge`` when an item combined a second source into this model."""
        for item in self.by_sha.get(sha256, []):
            if item.strategy not in WRITING or item.state in ("conflicted", "ignored"):
                continue
            if item.state != "failed" or item.failed_from_state != "pending":
                return item.strategy
        return None

    def expected_images(self, sha256: str) -> int:
        """Images of a model that items published: the size of the union of their seqs."""
        seqs: set[int] = set()
        for item in self.by_sha.get(sha256, []):
            seqs.update(item.image_seqs)
        return len(seqs)


def _parse(model: type[MetaJson] | type[PendingMetaJson], text: str) -> Any:
    try:
        return model.model_validate_json(text)
    except ValidationError:
        return None


def _items(session: Session, run_id: int) -> list[ItemRow]:
    c = MigrationItem
    stmt = select(
        c.id,
        c.run_id,
        c.kind,
        c.source_key,
        c.sha256,
        c.status,
        c.failed_from_state,
        c.strategy,
        c.last_error_code,
        c.last_error,
        c.artifacts,
        c.warnings,
    ).order_by(c.id)
    return [
        ItemRow(
            id=r[0],
            run_id=r[1],
            kind=r[2],
            source_key=r[3],
            sha256=r[4],
            state=r[5],
            failed_from_state=r[6],
            strategy=r[7],
            error_code=r[8],
            error=r[9],
            artifacts=dict(r[10] or {}),
            warnings=list(r[11] or []),
        )
        for r in session.execute(stmt)
    ]


def _decisions(session: Session) -> dict[int, Decision]:
    stmt = (
        select(
            MigrationEvent.item_id, MigrationEvent.run_id, MigrationEvent.at, MigrationEvent.detail
        )
        .where(MigrationEvent.trigger == "resolve")
        .order_by(MigrationEvent.item_id, MigrationEvent.seq)
    )
    out: dict[int, Decision] = {}
    for item_id, run_id, at, detail in session.execute(stmt):
        strategy = str((detail or {}).get("strategy", "?"))
        stamp = datetime.fromtimestamp(float(at), UTC).isoformat(timespec="seconds")
        out[item_id] = Decision(
            item_id=item_id, run_id=run_id, strategy=strategy, at=float(at), at_iso=stamp
        )
    return out


def _tag_links(rows: Iterable[Any], names: dict[int, str]) -> tuple[dict[Any, set[str]], set[int]]:
    links: dict[Any, set[str]] = {}
    used: set[int] = set()
    for owner, tag_id in rows:
        used.add(tag_id)
        links.setdefault(owner, set()).add(normalize_tag(names.get(tag_id, "")))
    return links, used


def load_state(session: Session, run_id: int, listing: Listing) -> LibraryState:
    """Read everything the audit compares, in bulk."""
    names = {tid: name for tid, name in session.execute(select(Tag.id, Tag.name))}
    model_links, used = _tag_links(
        session.execute(select(ModelTag.model_hash, ModelTag.tag_id)), names
    )
    pending_links, used_pending = _tag_links(
        session.execute(select(PendingModelTag.model_id, PendingModelTag.tag_id)), names
    )
    models = {
        sha: ModelRow(sha, path, name, type_, size, created, _parse(MetaJson, meta))
        for sha, path, name, type_, size, created, meta in session.execute(
            select(
                Model.sha256,
                Model.path,
                Model.name,
                Model.type,
                Model.size_bytes,
                Model.created_at,
                Model.meta_json,
            )
        )
    }
    for sha, tags in model_links.items():
        if sha in models:
            models[sha].tags = tags
    pending = {
        pid: PendingRow(pid, path, sha, name, type_, size, created, _parse(PendingMetaJson, meta))
        for pid, path, sha, name, type_, size, created, meta in session.execute(
            select(
                PendingImport.id,
                PendingImport.path,
                PendingImport.sha256,
                PendingImport.name,
                PendingImport.type,
                PendingImport.size_bytes,
                PendingImport.created_at,
                PendingImport.meta_json,
            )
        )
    }
    for pid, tags in pending_links.items():
        if pid in pending:
            pending[pid].tags = tags
    items: dict[str, ItemRow] = {}
    promotions: dict[str, ItemRow] = {}
    by_sha: dict[str, list[ItemRow]] = {}
    working = False
    for item in _items(session, run_id):
        working = working or item.state in WORKING_STATES
        if item.run_id == run_id:
            items[item.source_key] = item
        elif item.kind == "promotion":
            promotions[item.source_key] = item  # ordered by id: the newest wins
        if item.sha256 is not None:
            by_sha.setdefault(item.sha256, []).append(item)
    return LibraryState(
        models=models,
        pending=pending,
        tag_names=names,
        used_tag_ids=used | used_pending,
        items=items,
        promotions=promotions,
        by_sha=by_sha,
        decisions=_decisions(session),
        working=working,
        listing=listing,
    )
