"""Repository of the v2 library tables. Only touches the session it is given."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import (
    Column,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from backend.database.migration.jsonsafe import loads_bounded
from backend.database.migration.library_statements import (
    DELETE_PENDING,
    DELETE_PENDING_TAGS,
    MODEL_META,
    MODEL_TAGS,
    MODELS,
    PENDING_BY_ID,
    PENDING_TAG_NAMES,
    PENDING_TAGS,
    SET_META,
    SET_PENDING_SHA,
    TAGS,
    insert_ignore,
    insert_new_models,
    link_tags,
)
from backend.database.migration.records import (
    MetaJson,
    ModelRecord,
    PendingMetaJson,
    PendingModelRecord,
    is_sha256,
    normalize_tag,
    stored_meta,
)
from backend.database.models import (
    Model,
    PendingImport,
    Tag,
)
from backend.database.v2schema import UNTYPED

_Meta = TypeVar("_Meta", MetaJson, PendingMetaJson)


def read_meta(text: str | None, kind: type[_Meta]) -> _Meta:
    """A meta_json as written by us or by the v2 app: NULL, partial, odd or unknown keys are
    kept readable (unknown keys and values of the wrong type go to ``extra``)."""
    if text is None or not text.strip():
        return kind()
    meta = stored_meta(kind, text)
    if "unreadable_meta_json" not in meta.extra:
        return meta
    try:
        data, _ = loads_bounded(text)
    except ValueError:
        return meta
    if not isinstance(data, dict):
        return meta
    extra = dict(data["extra"]) if isinstance(data.get("extra"), dict) else {}
    known: dict[str, Any] = {}
    for key, value in data.items():
        if key == "extra" or value is None:
            continue
        if key in kind.model_fields:
            try:
                kind.model_validate({key: value})
                known[key] = value
                continue
            except ValidationError:
                pass
        extra.setdefault(key, value)
    return kind(**known, extra=extra)


def digest(values: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``values`` (what a rerun compares)."""
    text = json.dumps(values, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _model_record(row: Model, tags: list[str]) -> ModelRecord:
    """A model row as a record (columns the v2 app may leave NULL get their defaults)."""
    return ModelRecord(
        sha256=row.sha256,
        path=row.path,
        name=row.name or "",
        type=row.type or UNTYPED,
        size_bytes=row.size_bytes if row.size_bytes is None or row.size_bytes >= 0 else None,
        created_at=row.created_at or 0,
        meta=read_meta(row.meta_json, MetaJson),
        tags=tags,
    )


class LibraryRepository:
    """Reads and writes models, tags and pending rows through one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # --- models ---------------------------------------------------------------------------

    def get_model(self, sha256: str) -> ModelRecord | None:
        """The library model with that hash, with its tags."""
        row = self.session.get(Model, sha256)
        if row is None:
            return None
        return _model_record(row, self.model_tags(sha256))

    def model_digest(self, sha256: str) -> str | None:
        """Digest of a model row as stored (columns, meta_json and tag names); None if absent.

        A rerun compares it with the digest recorded when this migration last wrote the model:
        any change made in the v2 app since (a field, the meta, a tag) makes them differ.
        """
        row = (
            self.session.execute(select(MODELS).where(MODELS.c.sha256 == sha256)).mappings().first()
        )
        if row is None:
            return None
        values = dict(row)
        with contextlib.suppress(ValueError):
            values["meta_json"] = loads_bounded(values["meta_json"] or "null")[0]
        values["tags"] = sorted(self.model_tags(sha256))
        return digest(values)

    def record_digest(self, record: ModelRecord) -> str:
        """What :meth:`model_digest` gives once ``record`` is stored with its tags (computed
        from the record, without reading the row back)."""
        values = {
            "sha256": record.sha256,
            "path": record.path,
            "name": record.name,
            "type": record.type,
            "size_bytes": record.size_bytes,
            "created_at": record.created_at,
            "meta_json": loads_bounded(record.meta.model_dump_json())[0],
            "tags": sorted(self._stored_names(record.tags).values()),
        }
        return digest(values)

    def save_model(self, record: ModelRecord) -> None:
        """Insert or update a model row (tags are synced separately)."""
        values = {
            "path": record.path,
            "name": record.name,
            "type": record.type,
            "size_bytes": record.size_bytes,
            "created_at": record.created_at,
            "meta_json": record.meta.model_dump_json(),
        }
        existing = self.session.get(Model, record.sha256)
        if existing is None:
            self.session.execute(insert(Model).values(sha256=record.sha256, **values))
        else:
            self.session.execute(update(Model).where(Model.sha256 == record.sha256).values(values))
        self.session.expire_all()

    def models_by_hash(self, hashes: Iterable[str]) -> dict[str, ModelRecord]:
        """The library models with these hashes, WITHOUT their tags (one query, for lists)."""
        wanted = sorted(set(hashes))
        found: dict[str, ModelRecord] = {}
        for start in range(0, len(wanted), 500):
            stmt = select(Model).where(Model.sha256.in_(wanted[start : start + 500]))
            for row in self.session.scalars(stmt):
                found[row.sha256] = _model_record(row, [])
        return found

    def model_meta(self, sha256: str) -> MetaJson | None:
        """Only the meta_json of a model (no tags, no other columns); None when no such model."""
        row = self.session.connection().execute(MODEL_META, {"sha": sha256}).first()
        return None if row is None else read_meta(row[0], MetaJson)

    def insert_model_if_new(self, record: ModelRecord) -> bool:
        """Insert the model unless its hash is already in the library; True when inserted."""
        return record.sha256 in self.insert_models_if_new([record])

    def insert_models_if_new(self, records: Sequence[ModelRecord]) -> set[str]:
        """Insert every model whose hash is not in the library yet (one statement for all);
        the hashes it inserted."""
        if not records:
            return set()
        conn = self.session.connection()
        rows = [
            {
                "sha256": record.sha256,
                "path": record.path,
                "name": record.name,
                "type": record.type,
                "size_bytes": record.size_bytes,
                "created_at": record.created_at,
                "meta_json": record.meta.model_dump_json(),
            }
            for record in records
        ]
        return insert_new_models(conn, rows)

    def set_images_count(self, sha256: str, count: int) -> None:
        """Store ``images_count`` in the model's meta_json."""
        meta = self.model_meta(sha256)
        if meta is None:
            raise LookupError(f"model {sha256} does not exist")
        if meta.images_count == count:
            return
        meta = meta.model_copy(update={"images_count": count})
        self.session.connection().execute(
            SET_META, {"sha": sha256, "meta_json": meta.model_dump_json()}
        )

    def count_models(self) -> int:
        """Number of models in the library."""
        return int(self.session.scalar(select(func.count()).select_from(Model)) or 0)

    # --- tags -----------------------------------------------------------------------------

    def _tag_aliases(self) -> dict[str, str]:
        """Tags already in the library under a name that is not in normalized form (e.g. the
        v2 app's ``Anime``), by normalized name; the lowest id wins. Read once per session."""
        aliases: dict[str, str] | None = self.session.info.get("tag_aliases")
        if aliases is None:
            aliases = {}
            for name in self.session.scalars(select(TAGS.c.name).order_by(TAGS.c.id)):
                key = normalize_tag(name)
                if key != name:
                    aliases.setdefault(key, name)
            self.session.info["tag_aliases"] = aliases
        return aliases

    def _tag_names_for(self, names: Iterable[str]) -> dict[str, str]:
        """Stored tag name by normalized name, creating the tags that are missing: an existing
        tag is reused by its lower-cased, trimmed name and never renamed or renumbered."""
        stored = self._stored_names(names)
        new: list[dict[str, object]] = [{"name": n} for n, name in stored.items() if n == name]
        insert_ignore(self.session, TAGS, new)
        return stored

    def _stored_names(self, names: Iterable[str]) -> dict[str, str]:
        """The name each tag has (or gets) in the library, by normalized name, read-only."""
        wanted = sorted({normalize_tag(n) for n in names if normalize_tag(n)})
        if not wanted:
            return {}
        aliases = self._tag_aliases()
        return {n: aliases.get(n, n) for n in wanted}

    def ensure_tags(self, names: Iterable[str]) -> dict[str, int]:
        """Tag ids by normalized name, creating missing tags; never renames or renumbers."""
        stored = self._tag_names_for(names)
        if not stored:
            return {}
        by_name = {name: key for key, name in stored.items()}
        rows = self.session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(list(by_name))))
        return {by_name[name]: tag_id for name, tag_id in rows}

    def add_model_tags(self, sha256: str, names: Iterable[str]) -> None:
        """Union the named tags into the model's tags (two statements, whatever the count)."""
        self.add_tags_to_models([(sha256, names)])

    def add_tags_to_models(
        self, wanted: Iterable[tuple[str, Iterable[str]]], *, new_models: bool = False
    ) -> None:
        """Union named tags into several models' tags: two statements for all of them (an
        existing tag is reused by its normalized name, see :meth:`_tag_names_for`).
        ``new_models``: each model was inserted in this transaction (see :func:`link_tags`)."""
        pairs = {(sha256, normalize_tag(n)) for sha256, names in wanted for n in names}
        links = sorted((sha256, name) for sha256, name in pairs if name)
        if not links:
            return
        stored = self._tag_names_for({n for _, n in links})
        conn = self.session.connection()
        rows = [{"sha": s, "name": stored[n]} for s, n in links]
        link_tags(conn, rows, new_models=new_models)

    def model_tags(self, sha256: str) -> list[str]:
        """Sorted tag names of a model."""
        return self._tag_names(MODEL_TAGS.c.tag_id, MODEL_TAGS.c.model_hash, sha256)

    def _tag_names(self, tag_id: Column[int], owner: Column[Any], key: object) -> list[str]:
        """Sorted names of the tags a link table gives the owner ``key``."""
        stmt = (
            select(TAGS.c.name)
            .join(tag_id.table, tag_id == TAGS.c.id)
            .where(owner == key)
            .order_by(TAGS.c.name)
        )
        return list(self.session.scalars(stmt))

    # --- pending --------------------------------------------------------------------------

    def get_pending(self, pending_id: int) -> PendingModelRecord | None:
        """A pending model with its tags (cached Core statements: a hot path of stage 2)."""
        conn = self.session.connection()
        row = conn.execute(PENDING_BY_ID, {"id": pending_id}).first()
        if row is None:
            return None
        tags = list(conn.execute(PENDING_TAG_NAMES, {"id": pending_id}).scalars())
        return pending_record(row._mapping, tags)

    def pending_by_path(self, path: str) -> PendingModelRecord | None:
        """The pending model registered for that path, if any."""
        row = self.session.scalars(select(PendingImport).where(PendingImport.path == path)).first()
        return None if row is None else self._pending_record(row)

    def list_pending(self, ids: Sequence[int] | None = None) -> list[PendingModelRecord]:
        """Pending models ordered by id (all, or the given ids)."""
        stmt = select(PendingImport).order_by(PendingImport.id)
        if ids is not None:
            stmt = stmt.where(PendingImport.id.in_(list(ids)))
        return [self._pending_record(row) for row in self.session.scalars(stmt)]

    def pending_ids(self) -> list[int]:
        """Ids of every pending model, ascending."""
        return list(self.session.scalars(select(PendingImport.id).order_by(PendingImport.id)))

    def pending_rows_hashes(self) -> dict[int, str | None]:
        """Every pending id with its saved hash (None until hashed)."""
        rows = self.session.execute(select(PendingImport.id, PendingImport.sha256))
        return {int(pid): sha for pid, sha in rows}

    def known_paths(self) -> set[str]:
        """Every path that is a model or a pending model."""
        models = set(self.session.scalars(select(Model.path)))
        return models | set(self.session.scalars(select(PendingImport.path)))

    def upsert_pending(
        self,
        *,
        path: str,
        name: str,
        type: str,
        size_bytes: int | None,
        created_at: int,
        meta: PendingMetaJson,
        sha256: str | None = None,
    ) -> int:
        """Insert the pending row for ``path`` or update it; returns its id."""
        values = {
            "name": name,
            "type": type,
            "size_bytes": size_bytes,
            "created_at": created_at,
            "meta_json": meta.model_dump_json(),
        }
        if sha256 is not None:
            values["sha256"] = sha256
        existing = self.session.scalar(select(PendingImport.id).where(PendingImport.path == path))
        if existing is not None:
            self.session.execute(
                update(PendingImport).where(PendingImport.id == existing).values(values)
            )
            return int(existing)
        result = self.session.execute(
            insert(PendingImport).values(path=path, **values).returning(PendingImport.id)
        )
        return int(result.scalar_one())

    def set_pending_sha256(self, pending_id: int, sha256: str) -> None:
        """Save the computed hash on the pending row."""
        self.session.connection().execute(SET_PENDING_SHA, {"pid": pending_id, "new": sha256})

    def add_pending_tags(self, pending_id: int, names: Iterable[str]) -> None:
        """Union the named tags into the pending model's tags."""
        ids = self.ensure_tags(names)
        insert_ignore(
            self.session,
            PENDING_TAGS,
            [{"model_id": pending_id, "tag_id": i} for i in ids.values()],
        )

    def delete_pending(self, pending_id: int) -> None:
        """Remove a pending row and its tag links."""
        conn = self.session.connection()
        conn.execute(DELETE_PENDING_TAGS, {"pid": pending_id})
        conn.execute(DELETE_PENDING, {"pid": pending_id})

    def pending_image_names(self) -> set[str]:
        """File names of every original referenced by a pending row."""
        names: set[str] = set()
        for meta_json in self.session.scalars(select(PendingImport.meta_json)):
            names.update(read_meta(meta_json, PendingMetaJson).images)
        return names

    def _pending_record(self, row: PendingImport) -> PendingModelRecord:
        tags = self._tag_names(PENDING_TAGS.c.tag_id, PENDING_TAGS.c.model_id, row.id)
        return pending_record(row.__dict__, tags)


def pending_record(values: Mapping[Any, Any], tags: list[str]) -> PendingModelRecord:
    """The record of a pending row (its column values) and its sorted tag names.

    Columns the v2 app may leave NULL are read as empty values."""
    return PendingModelRecord(
        id=values["id"],
        path=values["path"],
        sha256=values["sha256"] if values["sha256"] and is_sha256(values["sha256"]) else None,
        name=values["name"] or "",
        type=values["type"] or UNTYPED,
        size_bytes=values["size_bytes"] if (values["size_bytes"] or 0) >= 0 else None,
        created_at=values["created_at"] or 0,
        meta=read_meta(values["meta_json"], PendingMetaJson),
        tags=tags,
    )
