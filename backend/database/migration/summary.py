"""Items as models: the name, type and thumbnail a person recognises, for pages of items.

An item's model lives in one of three places, depending on how far it got: the library (once
imported), a pending row (staged legacy rows, promotion items not yet promoted) or the legacy
database (legacy rows not imported: pending, conflicted, failed, ignored). Each page reads
each place once, in bulk. Image references are relative names the dashboard serves read-only:
``images/<tier file>``, ``pending/<file>``, ``legacy/<run>/<file>``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from backend.database.migration.artifacts import Artifacts
from backend.database.migration.errors import MigrationError
from backend.database.migration.images import tier_file_name
from backend.database.migration.legacy.prefetch import PrefetchingRows
from backend.database.migration.legacy.rows import LegacyImageRef, LegacyModel
from backend.database.migration.library import LibraryRepository
from backend.database.migration.mapping import item_record
from backend.database.migration.records import ModelRecord, PendingModelRecord
from backend.database.migration.results import ItemPage, ItemRecord
from backend.database.migration.types import TypeMap
from workflows.records import WorkItem
from workflows.store import WorkflowStore

IN_LIBRARY = frozenset({"imported", "images_processed", "tags_synced", "promoted"})
"""States in which an item's model is the library model under its hash."""
SCAN_CHUNK = 500
"""Items read per query while a page is filtered by type or name."""


def library_image(sha256: str, seq: int, tier: str = "low") -> str:
    """Reference of a published tier."""
    return f"images/{tier_file_name(sha256, seq, tier)}"


def pending_image(name: str) -> str:
    """Reference of an original in images/pending."""
    return f"pending/{name}"


def legacy_images(
    run_id: int, reader: PrefetchingRows, refs: Sequence[LegacyImageRef]
) -> list[str]:
    """References of a legacy row's readable images (inside the legacy images folder)."""
    root = os.path.realpath(reader.reader.images_dir)
    return [
        f"legacy/{run_id}/{os.path.relpath(ref.path, root)}"
        for ref in refs
        if ref.path is not None and ref.path.is_file()
    ]


@dataclass(frozen=True)
class ModelLookup:
    """Where the models behind items are read from."""

    sessions: sessionmaker[Session]
    images_dir: Path
    reader_for_run: Callable[[int], PrefetchingRows]
    types: TypeMap = field(default_factory=TypeMap)
    """Legacy type → v2 tab, as the steps map it (for the conflict preview's incoming model)."""

    def legacy_rows(self, run_id: int, ids: Sequence[int]) -> dict[int, LegacyModel]:
        """Legacy rows of a run by id; empty when the legacy database cannot be read."""
        if not ids:
            return {}
        try:
            return self.reader_for_run(run_id).reader.get_many(ids)
        except MigrationError:
            return {}

    def legacy_reader(self, run_id: int) -> PrefetchingRows | None:
        try:
            return self.reader_for_run(run_id)
        except MigrationError:
            return None

    def library_thumbnail(self, item: WorkItem, model: ModelRecord) -> str | None:
        """The item's own first image when it added some, else the model's first image."""
        seqs = Artifacts.of(item).image_seqs
        if seqs:
            return library_image(model.sha256, int(seqs[0]))
        if model.meta.images_count > 0:
            return library_image(model.sha256, 0)
        return None


def source_id(key: object) -> int | None:
    """A source key or artifact as an integer id; None when it is none (e.g. a legacy row
    whose id is not a number)."""
    try:
        return int(str(key))
    except ValueError:
        return None


def _pending_id(item: WorkItem) -> int | None:
    if item.kind == "legacy":
        return source_id(Artifacts.of(item).pending_id)
    return source_id(item.source_key)


def _where(item: WorkItem) -> str:
    """Which place holds the item's model: ``library``, ``pending`` or ``legacy``."""
    if item.sha256 is not None and item.state in IN_LIBRARY:
        return "library"
    if item.kind == "legacy" and item.state != "staged":
        return "legacy"
    return "pending"


def summarize(lookup: ModelLookup, items: Sequence[WorkItem]) -> list[ItemRecord]:
    """Item records with the name, type and thumbnail of each item's model."""
    places = {item.id: _where(item) for item in items}
    hashes = [i.sha256 for i in items if places[i.id] == "library" and i.sha256]
    pending_ids = [p for i in items if places[i.id] == "pending" and (p := _pending_id(i))]
    with lookup.sessions() as session:
        repo = LibraryRepository(session)
        models = repo.models_by_hash(hashes) if hashes else {}
        pending = {r.id: r for r in repo.list_pending(pending_ids)} if pending_ids else {}
    for item in items:
        # A staged row whose pending model was promoted or deleted since: its legacy row.
        gone = _pending_id(item) not in pending
        if places[item.id] == "pending" and item.kind == "legacy" and gone:
            places[item.id] = "legacy"
    legacy: dict[int, dict[int, LegacyModel]] = {}
    for run_id in {i.run_id for i in items if places[i.id] == "legacy"}:
        keys = [i.source_key for i in items if places[i.id] == "legacy" and i.run_id == run_id]
        ids = [n for n in map(source_id, keys) if n is not None]
        legacy[run_id] = lookup.legacy_rows(run_id, ids)
    out = []
    for item in items:
        record = item_record(item)
        name = kind = thumbnail = None
        place = places[item.id]
        model = models.get(item.sha256 or "") if place == "library" else None
        row: PendingModelRecord | None = None
        if place == "pending":
            pid = _pending_id(item)
            row = pending.get(pid) if pid is not None else None
        if model is not None:
            name, kind = model.name, model.type
            thumbnail = lookup.library_thumbnail(item, model)
        elif row is not None:
            name, kind = row.name, row.type
            thumbnail = pending_image(row.meta.images[0]) if row.meta.images else None
        elif place == "legacy" and (
            legacy_row := legacy[item.run_id].get(source_id(item.source_key) or 0)
        ):
            name, kind = (
                legacy_row.name,
                lookup.types.apply(legacy_row.type, legacy_row.path, {})[0],
            )
            reader = lookup.legacy_reader(item.run_id)
            shown = legacy_images(item.run_id, reader, legacy_row.images[:1]) if reader else []
            thumbnail = shown[0] if shown else None
        out.append(record.model_copy(update={"name": name, "type": kind, "thumbnail": thumbnail}))
    return out


def _matches(record: ItemRecord, type_: str | None, query: str | None) -> bool:
    if type_ is not None and record.type != type_:
        return False
    return query is None or query.casefold() in (record.name or "").casefold()


def items_page(
    store: WorkflowStore,
    lookup: ModelLookup,
    run_id: int,
    *,
    state: str | None,
    limit: int,
    after: int | None,
    type_: str | None = None,
    query: str | None = None,
) -> ItemPage:
    """A keyset page of items as models, optionally of one type and with a name matching
    ``query`` (case-insensitive substring); those filters scan forward in chunks."""
    query = query.strip() if query else None
    if type_ is None and not query:
        rows = store.items(run_id, state, limit, after)
        next_after = rows[-1].id if len(rows) == limit else None
        return ItemPage(items=summarize(lookup, rows), next_after=next_after)
    found: list[ItemRecord] = []
    cursor = after
    while len(found) < limit:
        rows = store.items(run_id, state, SCAN_CHUNK, cursor)
        for record in summarize(lookup, rows):
            cursor = record.id
            if _matches(record, type_, query):
                found.append(record)
                if len(found) == limit:
                    break
        if len(rows) < SCAN_CHUNK:
            break
    full = len(found) == limit
    return ItemPage(items=found, next_after=found[-1].id if full else None)
