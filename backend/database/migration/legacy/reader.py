"""Read-only reader of a legacy v1 library: one SQLite file plus a folder of images.

The database is never written, and nothing is ever created beside it (``legacy.snapshot``).
Model files and images are never opened here: image URLs are resolved by string checks and
``os.path.realpath`` only, so a URL that tries to leave the images folder never touches
anything outside it.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from backend.database.migration.errors import LegacyDatabaseError
from backend.database.migration.jsonsafe import INT64_MAX, INT64_MIN, decode_text
from backend.database.migration.legacy import snapshot
from backend.database.migration.legacy.fields import FIELD_CODES
from backend.database.migration.legacy.rows import (
    LegacyModel,
    LegacyPreflight,
    TypeOf,
    build_model,
    classify_hash,
    preflight_sentences,
    to_int,
)
from backend.database.migration.records import normalize_tag
from backend.database.migration.types import TypeMap

SQLITE_HEADER = b"SQLite format 3\x00"
REQUIRED_TABLES = ("models", "tags", "model_tags")
_REQUIRED_COLUMNS = ("id", "path", "type", "hash_hex")
_OPTIONAL_COLUMNS = ("name", "size_bytes", "created_at", "meta_json", "extra_json")
_CHUNK = 500  # ids per IN (...) query; well under SQLite's variable limit

_INTEGER_ID = "typeof(id) = 'integer'"
"""Rows the steps can address; a row whose id is text (or real, or a BLOB) is an item that
fails with ``legacy_id_invalid`` (see :func:`item_key`)."""
INVALID_ID_PREFIX = "invalid-id:"

# --------------------------------------------------------------------------- the reader


def item_key(raw_id: Any) -> str:
    """The work item key of a legacy id: the integer as text, or ``invalid-id:…`` for a text,
    real or BLOB id (such keys never collide with an integer's)."""
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        return str(raw_id)
    shown = f"x'{raw_id.hex()}'" if isinstance(raw_id, bytes) else str(raw_id)
    return f"{INVALID_ID_PREFIX}{shown}"


class LegacyReader:
    """Read-only access to a legacy v1 library. Use as a context manager."""

    def __init__(self, db_path: Path, images_dir: Path, *, scratch_dir: Path | None = None) -> None:
        """Open the library; ``scratch_dir`` holds a private snapshot when one is needed
        (see ``legacy.snapshot``; the system temp folder when None)."""
        self.db_path = Path(db_path)
        self.images_dir = Path(images_dir)
        self._fingerprint: str | None = None
        header = self._check_files()
        self._images_real = os.path.realpath(self.images_dir)
        self._models_base = os.path.dirname(os.path.abspath(self.db_path))
        try:
            self._conn, self._snapshot = snapshot.connect(self.db_path, header, scratch_dir)
        except (sqlite3.Error, OSError) as e:
            raise LegacyDatabaseError(f"cannot open legacy database {self.db_path}: {e}") from e
        self._conn.text_factory = decode_text
        try:
            self._select = self._check_schema()
        except BaseException:
            self.close()
            raise

    def _check_files(self) -> bytes:
        if not self.db_path.exists():
            raise LegacyDatabaseError(f"legacy database not found: {self.db_path}")
        if not self.db_path.is_file():  # a FIFO would block the open below forever
            raise LegacyDatabaseError(
                f"{self.db_path} is not a SQLite database (not a regular file: a folder, FIFO"
                " or device)"
            )
        try:
            with self.db_path.open("rb") as f:
                header = f.read(100)
        except OSError as e:
            raise LegacyDatabaseError(f"{self.db_path} is not a SQLite database ({e})") from e
        if not header.startswith(SQLITE_HEADER):
            raise LegacyDatabaseError(f"{self.db_path} is not a SQLite database")
        if not self.images_dir.is_dir():
            raise LegacyDatabaseError(
                f"legacy images folder not found or not a directory: {self.images_dir}"
            )
        return header

    def _check_schema(self) -> str:
        try:
            names = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master")}
            missing = [t for t in REQUIRED_TABLES if t not in names]
            if missing:
                raise LegacyDatabaseError(
                    f"{self.db_path} is not a v1 library: missing tables {', '.join(missing)}"
                )
            cols = {r[1] for r in self._conn.execute("PRAGMA table_info(models)")}
        except sqlite3.DatabaseError as e:
            raise LegacyDatabaseError(f"cannot read legacy database {self.db_path}: {e}") from e
        lacking = [c for c in _REQUIRED_COLUMNS if c not in cols]
        if lacking:
            raise LegacyDatabaseError(
                f"{self.db_path}: table models lacks columns {', '.join(lacking)}"
            )
        self._has_schema_version = "schema_version" in names
        picked = [*_REQUIRED_COLUMNS, *(c if c in cols else "NULL" for c in _OPTIONAL_COLUMNS)]
        return f"SELECT {', '.join(picked)} FROM models WHERE {_INTEGER_ID}"

    def __enter__(self) -> LegacyReader:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection and remove the private snapshot, if any."""
        self._conn.close()
        snapshot.remove(self._snapshot)
        self._snapshot = None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of one query; text is decoded by SQLite itself (quick) unless some value is not
        UTF-8, when the query is read again through ``decode_text`` (which marks such text)."""
        try:
            self._conn.text_factory = str
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError:
                pass  # "Could not decode to UTF-8" (anything else is raised again below)
            finally:
                self._conn.text_factory = decode_text
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as e:
            raise LegacyDatabaseError(f"cannot read legacy database {self.db_path}: {e}") from e

    def count(self) -> int:
        """Number of legacy model rows."""
        return int(self._query("SELECT COUNT(*) FROM models")[0][0])

    def ids(self) -> list[int]:
        """Every integer legacy model id, ascending."""
        rows = self._query(f"SELECT id FROM models WHERE {_INTEGER_ID} ORDER BY id")
        return [int(r[0]) for r in rows]

    def invalid_ids(self) -> int:
        """How many rows have an id that is not an integer (they cannot be migrated)."""
        return int(self._query(f"SELECT COUNT(*) FROM models WHERE NOT {_INTEGER_ID}")[0][0])

    def hashes(self) -> list[tuple[str, str | None]]:
        """Every row's item key (:func:`item_key`) with its lower-case SHA-256 (None when it has
        no valid hash or no integer id), integer ids ascending first, without parsing the rest
        of the rows."""
        rows = self._query(f"SELECT id, hash_hex, {_INTEGER_ID} FROM models ORDER BY id")
        return [
            (item_key(i), classify_hash(h if isinstance(h, str) else "")[1] if ok else None)
            for i, h, ok in rows
        ]

    def _tags_for(self, ids: Sequence[int]) -> dict[int, list[str]]:
        marks = ",".join("?" * len(ids))
        rows = self._query(
            "SELECT mt.model_id, t.name FROM model_tags mt JOIN tags t ON t.id = mt.tag_id"
            f" WHERE mt.model_id IN ({marks})",
            ids,
        )
        out: dict[int, list[str]] = {}
        for model_id, name in rows:
            if name is not None:
                out.setdefault(model_id, []).append(str(name))
        return out

    def _build(self, rows: list[Any], type_of: TypeOf | None = None) -> list[LegacyModel]:
        tags = self._tags_for([r[0] for r in rows]) if rows else {}
        images, base = self._images_real, self._models_base
        return [build_model(r, tags.get(r[0], []), images, base, type_of) for r in rows]

    def iter_models(
        self, batch_size: int = 500, *, type_of: TypeOf | None = None
    ) -> Iterator[LegacyModel]:
        """Every model ordered by id, in keyset-paged batches of at most 500 (tags per batch);
        ``type_of`` gives each row the type it maps the legacy one to (see ``build_model``)."""
        size = max(1, min(batch_size, _CHUNK))
        last: int | None = None
        while True:
            if last is None:
                rows = self._query(f"{self._select} ORDER BY id LIMIT ?", (size,))
            else:
                rows = self._query(f"{self._select} AND id > ? ORDER BY id LIMIT ?", (last, size))
            if not rows:
                return
            yield from self._build(rows, type_of)
            last = rows[-1][0]

    def get_many(self, ids: Sequence[int]) -> dict[int, LegacyModel]:
        """The models with these ids; ids that do not exist are absent from the result."""
        wanted = sorted({int(i) for i in ids if INT64_MIN <= int(i) <= INT64_MAX})
        out: dict[int, LegacyModel] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._query(f"{self._select} AND id IN ({marks}) ORDER BY id", chunk)
            out.update((m.legacy_id, m) for m in self._build(rows))
        return out

    def get(self, legacy_id: int) -> LegacyModel | None:
        """One model, or None."""
        return self.get_many([legacy_id]).get(legacy_id)

    def tag_names(self) -> list[str]:
        """Every tag name of the legacy library, normalized, used by a model or not."""
        rows = self._query("SELECT name FROM tags")
        names = {normalize_tag(str(r[0])) for r in rows if r[0] is not None}
        names.discard("")
        return sorted(names)

    def fingerprint(self) -> str:
        """Hex identity of this library: resolved DB path, size and SHA-256 of its bytes."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            size = 0
            files = [self.db_path, Path(f"{self.db_path}-wal")]
            for i, file in enumerate(files):
                if i and not file.is_file():
                    continue
                with file.open("rb") as f:
                    while block := f.read(1 << 20):
                        digest.update(block)
                        size += len(block)
            ident = f"{os.path.realpath(self.db_path)}\0{size}\0{digest.hexdigest()}"
            self._fingerprint = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()
        return self._fingerprint

    def schema_version(self) -> int | None:
        """``MAX(schema_version.version)``, or None when the table is absent or unreadable."""
        if not self._has_schema_version:
            return None
        try:
            value = self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        except sqlite3.DatabaseError:
            return None
        return to_int(value)

    def preflight(self, types: TypeMap | None = None) -> LegacyPreflight:
        """Count what the migration will meet, without opening any model or image file;
        ``types`` maps each legacy type to the v2 tab it lands in."""
        kinds = dict.fromkeys(("valid", "uppercase", "missing", "invalid"), 0)
        seen: set[str] = set()
        duplicates = referenced = missing = outside = files_missing = 0
        extra_invalid = fields_invalid = models = empty_paths = 0
        type_paths: list[tuple[str, str]] = []
        for m in self.iter_models():
            models += 1
            type_paths.append((m.type, m.path))
            kinds[m.hash_kind] += 1
            if m.sha256 is not None:
                duplicates += m.sha256 in seen
                seen.add(m.sha256)
            referenced += len(m.images)
            outside += sum(i.path is None for i in m.images)
            missing += sum(i.path is not None and not os.path.isfile(i.path) for i in m.images)
            files_missing += bool(m.path.strip()) and not os.path.exists(m.path)
            codes = {w.code for w in m.warnings}
            extra_invalid += bool(codes & {"legacy_extra_invalid", "legacy_extra_too_deep"})
            fields_invalid += bool(codes & FIELD_CODES)
            empty_paths += not m.path.strip()
        invalid_ids = self.invalid_ids()
        counts = {
            "models": models + invalid_ids,
            "valid_hashes": kinds["valid"],
            "uppercase_hashes": kinds["uppercase"],
            "missing_hashes": kinds["missing"],
            "invalid_hashes": kinds["invalid"],
            "duplicate_hashes": duplicates,
            "images_referenced": referenced,
            "images_missing": missing,
            "images_outside": outside,
            "model_files_missing": files_missing,
            "extra_invalid": extra_invalid,
            "fields_invalid": fields_invalid,
            "empty_paths": empty_paths,
            "invalid_ids": invalid_ids,
        }
        return LegacyPreflight(
            db_path=str(self.db_path),
            images_dir=str(self.images_dir),
            schema_version=self.schema_version(),
            tags=len(self.tag_names()),
            type_mapping=(types or TypeMap()).mapping(type_paths),
            warnings=[
                *preflight_sentences(counts),
                *([types.problem] if types and types.problem else []),
            ],
            **counts,
        )
