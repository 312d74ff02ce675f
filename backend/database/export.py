"""``export-v2``: copy a library (typically on PostgreSQL) into the v2 app's own SQLite file.

The target is opened like any library (adopted after the v2 shape check, or created with the
v2 DDL). Rules are the migration's: a model already in the target is kept as it is (and its
image files too); tags are matched by lower-cased, trimmed name and no existing id or name
changes; a pending row whose path is already pending is not duplicated. Work goes in short
batches, each one transaction after its files are copied, so a rerun resumes and an
export that is complete adds nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine, Table, select, text
from sqlalchemy.dialects.sqlite import insert

from backend.config import Settings
from backend.database import schema
from backend.database.migration.errors import InvalidInputError
from backend.database.migration.records import PendingMetaJson, normalize_tag
from backend.database.models import Model, ModelTag, PendingImport, PendingModelTag, Tag
from backend.database.session import writer
from backend.database.v2schema import RAISE_TAGS_ID_MAX

MODELS = cast(Table, Model.__table__)
TAGS = cast(Table, Tag.__table__)
MODEL_TAGS = cast(Table, ModelTag.__table__)
PENDING = cast(Table, PendingImport.__table__)
PENDING_TAGS = cast(Table, PendingModelTag.__table__)
BATCH = 200

CopyFn = Callable[[Path, Path], None]


class ExportResult(BaseModel):
    """What one ``export-v2`` added to the v2 library and what it left as it was."""

    target: str
    models_added: int = 0
    models_kept: int = 0
    pending_added: int = 0
    pending_kept: int = 0
    tags_added: int = 0
    files_copied: int = 0
    warnings: list[str] = Field(default_factory=list)


def _copy(source: Path, target: Path) -> None:
    """Copy to a temporary name, then rename: a target name never holds a partial file."""
    temporary = target.with_name(f".{target.name}.export-tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def _same_bytes(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


class _Export:
    def __init__(self, source: Engine, settings: Settings, target: Engine, v2: Settings) -> None:
        self.source, self.target = source, writer(target)
        self.images, self.pending = settings.images_dir, settings.pending_images_dir
        self.v2_images, self.v2_pending = v2.images_dir, v2.pending_images_dir
        self.copy_files = self.images.resolve() != self.v2_images.resolve()
        self.result = ExportResult(target=str(v2.library_path))
        self.tag_ids: dict[str, int] = {}
        self.copy: CopyFn = _copy

    def _batches(self, table: Table, key: Any) -> Iterator[list[dict[str, Any]]]:
        last: Any = None
        while True:
            stmt = select(table).order_by(key).limit(BATCH)
            if last is not None:
                stmt = stmt.where(key > last)
            with self.source.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(stmt)]
            if not rows:
                return
            last = rows[-1][key.name]
            yield rows

    def _source_tags(self, link: Table, owner: Any, keys: Sequence[Any]) -> dict[Any, list[str]]:
        stmt = (
            select(owner, TAGS.c.name)
            .join(TAGS, TAGS.c.id == link.c.tag_id)
            .where(owner.in_(list(keys)))
        )
        out: dict[Any, list[str]] = {}
        with self.source.connect() as conn:
            for key, name in conn.execute(stmt):
                out.setdefault(key, []).append(name)
        return out

    def _tag_ids(self, conn: Connection, names: set[str]) -> dict[str, int]:
        """Target tag ids by normalized name, creating the missing tags."""
        if not self.tag_ids:
            for tag_id, name in conn.execute(select(TAGS.c.id, TAGS.c.name).order_by(TAGS.c.id)):
                self.tag_ids.setdefault(normalize_tag(name), tag_id)
        missing = sorted(n for n in {normalize_tag(n) for n in names} - set(self.tag_ids) if n)
        for name in missing:
            stmt = insert(TAGS).values(name=name).on_conflict_do_nothing().returning(TAGS.c.id)
            tag_id = conn.scalar(stmt)
            if tag_id is None:
                tag_id = conn.scalar(select(TAGS.c.id).where(TAGS.c.name == name))
            else:
                self.result.tags_added += 1
            self.tag_ids[name] = int(cast(int, tag_id))
        if missing:
            conn.execute(text(RAISE_TAGS_ID_MAX))
        return self.tag_ids

    def _place(self, source: Path, target: Path) -> bool:
        """Copy one file unless the same bytes are there; never overwrite other bytes."""
        if target.exists():
            if _same_bytes(source, target):
                return True
            self.result.warnings.append(f"{target} exists with other content: kept, not copied")
            return False
        self.copy(source, target)
        self.result.files_copied += 1
        return True

    def _pending_originals(self, row: dict[str, Any]) -> dict[str, Any]:
        """Copy a pending row's originals; one whose name is taken by other bytes in the
        target gets a free name, and the row's ``images`` list says so."""
        meta = PendingMetaJson.model_validate_json(row["meta_json"] or "{}")
        names = []
        for name in meta.images:
            source = self.pending / name
            if "/" in name or not source.is_file():
                names.append(name)
                continue
            chosen, n = name, 0
            while (self.v2_pending / chosen).exists() and not _same_bytes(
                source, self.v2_pending / chosen
            ):
                n += 1
                chosen = f"export{n}-{name}"
            self._place(source, self.v2_pending / chosen)
            names.append(chosen)
        if names == meta.images:
            return row
        return {**row, "meta_json": meta.model_copy(update={"images": names}).model_dump_json()}

    def models(self) -> None:
        for rows in self._batches(MODELS, MODELS.c.sha256):
            with self.target.connect() as conn:
                shas = [r["sha256"] for r in rows]
                present = set(
                    conn.scalars(select(MODELS.c.sha256).where(MODELS.c.sha256.in_(shas)))
                )
            new = [r for r in rows if r["sha256"] not in present]
            self.result.models_kept += len(rows) - len(new)
            if self.copy_files:
                self.v2_images.mkdir(parents=True, exist_ok=True)
                for row in new:
                    for tier in sorted(self.images.glob(f"{row['sha256']}_*.webp")):
                        self._place(tier, self.v2_images / tier.name)
            tags = self._source_tags(
                MODEL_TAGS, MODEL_TAGS.c.model_hash, [r["sha256"] for r in new]
            )
            with self.target.begin() as conn:
                ids = self._tag_ids(conn, {n for names in tags.values() for n in names})
                for row in new:
                    added = conn.execute(insert(MODELS).values(row).on_conflict_do_nothing())
                    if added.rowcount != 1:
                        self.result.models_kept += 1
                        continue
                    self.result.models_added += 1
                    links = [
                        {"model_hash": row["sha256"], "tag_id": ids[normalize_tag(n)]}
                        for n in sorted(set(tags.get(row["sha256"], [])))
                        if normalize_tag(n)
                    ]
                    if links:
                        conn.execute(insert(MODEL_TAGS).on_conflict_do_nothing(), links)

    def pending_rows(self) -> None:
        for rows in self._batches(PENDING, PENDING.c.id):
            with self.target.connect() as conn:
                paths = [r["path"] for r in rows]
                present = set(conn.scalars(select(PENDING.c.path).where(PENDING.c.path.in_(paths))))
            new = [r for r in rows if r["path"] not in present]
            self.result.pending_kept += len(rows) - len(new)
            if self.copy_files:
                self.v2_pending.mkdir(parents=True, exist_ok=True)
                new = [self._pending_originals(row) for row in new]
            tags = self._source_tags(PENDING_TAGS, PENDING_TAGS.c.model_id, [r["id"] for r in new])
            with self.target.begin() as conn:
                ids = self._tag_ids(conn, {n for names in tags.values() for n in names})
                for row in new:
                    values = {k: v for k, v in row.items() if k != "id"}
                    stmt = insert(PENDING).values(values).on_conflict_do_nothing()
                    new_id = conn.scalar(stmt.returning(PENDING.c.id))
                    if new_id is None:
                        self.result.pending_kept += 1
                        continue
                    self.result.pending_added += 1
                    links = [
                        {"model_id": new_id, "tag_id": ids[normalize_tag(n)]}
                        for n in sorted(set(tags.get(row["id"], [])))
                        if normalize_tag(n)
                    ]
                    if links:
                        conn.execute(insert(PENDING_TAGS).on_conflict_do_nothing(), links)


def export_v2(
    source: Engine, settings: Settings, v2_data_dir: Path, *, copy: CopyFn | None = None
) -> ExportResult:
    """Write the library behind ``source`` into the v2 library in ``v2_data_dir``."""
    v2 = Settings(data_dir=v2_data_dir, database_url=None)
    database = source.url.database if source.dialect.name == "sqlite" else None
    if database and Path(database).resolve() == v2.library_path.resolve():
        raise InvalidInputError(f"{v2.library_path} is this library itself: nothing to export")
    target = schema.open_library(v2)
    try:
        job = _Export(source, settings, target, v2)
        if copy is not None:
            job.copy = copy
        job.models()
        job.pending_rows()
        return job.result
    finally:
        target.dispose()
