"""Legacy v1 databases with values the v1 app never meant to write, written with raw sqlite3.

SQLite stores whatever it is given (type affinity, not types): a BLOB in ``created_at``, a text
``id``, 1.5e300 in an INTEGER column, bytes that are not UTF-8 in a TEXT column. The factory in
``backend.sample`` writes well-typed rows; these builders write the hostile ones, one row each.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOOSE_SCHEMA = """
CREATE TABLE models (id {id_type} PRIMARY KEY, path TEXT, name TEXT, type TEXT,
    size_bytes INTEGER, hash_hex TEXT, created_at INTEGER, meta_json TEXT, extra_json TEXT);
CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, color TEXT,
    created_at INTEGER);
CREATE TABLE model_tags (model_id, tag_id, PRIMARY KEY (model_id, tag_id));
CREATE TABLE schema_version (version INTEGER);
INSERT INTO schema_version VALUES (2);
"""
COLUMNS = ("id", "path", "name", "type", "size_bytes", "hash_hex", "created_at", "meta_json",
           "extra_json")  # fmt: skip
GOOD_HASH = "ab" * 32


@dataclass
class OddLibrary:
    """The legacy DB and its (empty) images folder."""

    db_path: Path
    images_dir: Path


def odd_row(legacy_id: Any = 1, **values: Any) -> dict[str, Any]:
    """A sane row (its own hash, path and a timestamp) with ``values`` replacing columns."""
    row: dict[str, Any] = {
        "id": legacy_id,
        "path": f"/models/odd-{legacy_id}.safetensors",
        "name": f"odd {legacy_id}",
        "type": "lora",
        "size_bytes": 10,
        "hash_hex": GOOD_HASH,
        "created_at": 1_600_000_000_000,
        "meta_json": None,
        "extra_json": json.dumps({"description": "d"}),
    }
    row.update(values)
    return row


def write_odd_library(
    root: Path, rows: list[dict[str, Any]], *, id_type: str = "INTEGER"
) -> OddLibrary:
    """Write ``rows`` as they are (no conversion) into a fresh legacy DB under ``root``.

    Text that must reach SQLite as raw, possibly invalid, UTF-8 is given as ``RawText(bytes)``.
    """
    root.mkdir(parents=True, exist_ok=True)
    images = root / "images"
    images.mkdir(exist_ok=True)
    db_path = root / "library.db"
    conn = sqlite3.connect(db_path)
    try:
        conn.executescript(LOOSE_SCHEMA.format(id_type=id_type))
        for row in rows:
            values = [row.get(c) for c in COLUMNS]
            slots = [_slot(v) for v in values]
            params = [v for v in values if not isinstance(v, RawText)]
            conn.execute(
                f"INSERT INTO models ({', '.join(COLUMNS)}) VALUES ({', '.join(slots)})", params
            )
        conn.commit()
    finally:
        conn.close()
    return OddLibrary(db_path=db_path, images_dir=images)


def _slot(value: Any) -> str:
    return f"CAST(x'{value.hex()}' AS TEXT)" if isinstance(value, RawText) else "?"


class RawText(bytes):
    """Bytes stored as a TEXT value (``CAST(x'..' AS TEXT)``), so invalid UTF-8 reaches the DB."""


def nested_text(depth: int) -> str:
    """``{"deep": [[[…"bottom"…]]]}`` as text, without Python recursion."""
    return '{"deep": ' + "[" * depth + '"bottom"' + "]" * depth + "}"
