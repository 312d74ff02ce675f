"""The v2 app's library as that app makes it: its ``init_db`` typed from shared/V2_LIBRARY.md.

Kept independent of ``backend.database.v2schema`` on purpose: the tests compare what the
project creates with what these statements create.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

V2_TABLES = ("models", "tags", "model_tags", "pending_import", "pending_model_tags", "db_meta")

V2_INIT_DB = """
CREATE TABLE IF NOT EXISTS models (
    sha256 TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    name TEXT,
    type TEXT,
    size_bytes INTEGER,
    created_at INTEGER,
    meta_json TEXT
);
CREATE INDEX IF NOT EXISTS idx_models_path ON models(path);
CREATE TABLE IF NOT EXISTS tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT UNIQUE NOT NULL
);
CREATE TABLE IF NOT EXISTS model_tags (
    model_hash TEXT,
    tag_id INTEGER,
    PRIMARY KEY (model_hash, tag_id),
    FOREIGN KEY (model_hash) REFERENCES models(sha256) ON DELETE CASCADE,
    FOREIGN KEY (tag_id) REFERENCES tags(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS pending_import (
    id INTEGER PRIMARY KEY,
    path TEXT UNIQUE NOT NULL,
    sha256 TEXT,
    name TEXT,
    type TEXT,
    size_bytes INTEGER,
    created_at INTEGER,
    meta_json TEXT
);
CREATE TABLE IF NOT EXISTS pending_model_tags (
    model_id INTEGER,
    tag_id INTEGER,
    PRIMARY KEY (model_id, tag_id),
    FOREIGN KEY (model_id) REFERENCES pending_import(id) ON DELETE CASCADE,
    FOREIGN KEY (tag_id) REFERENCES tags(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS db_meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
"""


def v2_connect(path: Path) -> sqlite3.Connection:
    """A connection opened the way the v2 app opens its library (sqlite3 defaults)."""
    conn = sqlite3.connect(path, timeout=5)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def v2_init_db(path: Path) -> None:
    """What the v2 app runs at start-up: its DDL, then the missing ``db_meta`` rows."""
    conn = v2_connect(path)
    try:
        conn.executescript(V2_INIT_DB)
        conn.execute("INSERT OR IGNORE INTO db_meta (key, value) VALUES ('db_version', '2')")
        top = conn.execute("SELECT COALESCE(MAX(id), 0) FROM tags").fetchone()[0]
        conn.execute(
            "INSERT OR IGNORE INTO db_meta (key, value) VALUES ('tags_id_max', ?)", (str(top),)
        )
        conn.commit()
    finally:
        conn.close()


def make_v2_library(
    data_dir: Path,
    models: Sequence[dict[str, Any]] = (),
    tags: Iterable[tuple[int, str]] = (),
    model_tags: Iterable[tuple[str, int]] = (),
    pending: Sequence[dict[str, Any]] = (),
    pending_tags: Iterable[tuple[int, int]] = (),
) -> Path:
    """A v2 data folder with its library file (made by :func:`v2_init_db`) and rows."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "images" / "pending").mkdir(parents=True, exist_ok=True)
    path = data_dir / "hikaze_model_manager.db"
    v2_init_db(path)
    conn = v2_connect(path)
    try:
        for model in models:
            conn.execute(
                "INSERT INTO models VALUES (:sha256, :path, :name, :type, :size_bytes, "
                ":created_at, :meta_json)",
                model,
            )
        conn.executemany("INSERT INTO tags (id, name) VALUES (?, ?)", list(tags))
        conn.executemany("INSERT INTO model_tags VALUES (?, ?)", list(model_tags))
        for row in pending:
            conn.execute(
                "INSERT INTO pending_import VALUES (:id, :path, :sha256, :name, :type, "
                ":size_bytes, :created_at, :meta_json)",
                row,
            )
        conn.executemany("INSERT INTO pending_model_tags VALUES (?, ?)", list(pending_tags))
        top = conn.execute("SELECT COALESCE(MAX(id), 0) FROM tags").fetchone()[0]
        conn.execute("UPDATE db_meta SET value = ? WHERE key = 'tags_id_max'", (str(top),))
        conn.commit()
    finally:
        conn.close()
    return path


def table_shapes(path: Path) -> dict[str, dict[str, Any]]:
    """``table_info``, ``index_list``, ``foreign_key_list`` (and whether the table is
    AUTOINCREMENT, which no pragma shows) of every v2 table of a file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        shapes: dict[str, dict[str, Any]] = {}
        for table in V2_TABLES:
            shapes[table] = {
                pragma: [tuple(r) for r in conn.execute(f"PRAGMA {pragma}('{table}')")]
                for pragma in ("table_info", "index_list", "foreign_key_list")
            }
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
            shapes[table]["autoincrement"] = "AUTOINCREMENT" in sql[0].upper()
        return shapes
    finally:
        conn.close()


def v2_objects(path: Path) -> list[tuple[Any, ...]]:
    """The v2 tables' and indexes' schema rows (type, name, table, root page, SQL)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(V2_TABLES))
        return conn.execute(
            "SELECT type, name, tbl_name, rootpage, sql FROM sqlite_master "
            f"WHERE tbl_name IN ({marks}) ORDER BY name",
            V2_TABLES,
        ).fetchall()
    finally:
        conn.close()


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def meta(**fields: Any) -> str:
    """A meta_json text as the v2 app writes it."""
    return json.dumps(fields)
