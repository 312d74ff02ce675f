"""The v2 app's own schema: its DDL, and the check that a database has exactly that shape.

A library the v2 app created has its six tables and no Alembic table. Before this project
records its baseline revision in such a file it compares every v2 table with the DDL below
(``PRAGMA table_info``, ``index_list``, ``foreign_key_list`` against an in-memory database made
by the same statements); any difference is refused and nothing is written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, inspect, text

from backend.database.migration.errors import LibrarySchemaError, NewerLibraryError

V2_TABLES = ("models", "tags", "model_tags", "pending_import", "pending_model_tags", "db_meta")
"""The tables the v2 app creates (and owns: never dropped, recreated or altered here)."""

OWN_TABLES = frozenset(
    {"alembic_version", "hash_cache", "migration_runs", "migration_items", "migration_events"}
)
"""Tables this project adds next to the v2 ones."""

DB_VERSION = "2"
"""The ``db_meta.db_version`` of the v2 schema this project writes."""

V2_DDL = (
    "CREATE TABLE IF NOT EXISTS models ("
    "sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, name TEXT, type TEXT, "
    "size_bytes INTEGER, created_at INTEGER, meta_json TEXT)",
    "CREATE INDEX IF NOT EXISTS idx_models_path ON models(path)",
    "CREATE TABLE IF NOT EXISTS tags (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "name TEXT UNIQUE NOT NULL)",
    "CREATE TABLE IF NOT EXISTS model_tags (model_hash TEXT, tag_id INTEGER, "
    "PRIMARY KEY (model_hash, tag_id), "
    "FOREIGN KEY (model_hash) REFERENCES models(sha256) ON DELETE CASCADE, "
    "FOREIGN KEY (tag_id) REFERENCES tags(id) ON DELETE CASCADE)",
    "CREATE TABLE IF NOT EXISTS pending_import (id INTEGER PRIMARY KEY, "
    "path TEXT UNIQUE NOT NULL, sha256 TEXT, name TEXT, type TEXT, size_bytes INTEGER, "
    "created_at INTEGER, meta_json TEXT)",
    "CREATE TABLE IF NOT EXISTS pending_model_tags (model_id INTEGER, tag_id INTEGER, "
    "PRIMARY KEY (model_id, tag_id), "
    "FOREIGN KEY (model_id) REFERENCES pending_import(id) ON DELETE CASCADE, "
    "FOREIGN KEY (tag_id) REFERENCES tags(id) ON DELETE CASCADE)",
    "CREATE TABLE IF NOT EXISTS db_meta (key TEXT PRIMARY KEY, value TEXT)",
)
"""The v2 app's ``init_db`` statements, verbatim in meaning (see shared/V2_LIBRARY.md)."""

META_ROWS = (
    "INSERT INTO db_meta (key, value) VALUES ('db_version', '2') ON CONFLICT (key) DO NOTHING",
    "INSERT INTO db_meta (key, value) "
    "SELECT 'tags_id_max', CAST(COALESCE(MAX(id), 0) AS TEXT) FROM tags WHERE 1 = 1 "
    "ON CONFLICT (key) DO NOTHING",
)
"""The ``db_meta`` rows the v2 app writes at start-up when they are missing."""

RAISE_TAGS_ID_MAX = (
    "INSERT INTO db_meta (key, value) "
    "SELECT 'tags_id_max', CAST(MAX(id) AS TEXT) FROM tags WHERE 1 = 1 "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value "
    "WHERE db_meta.value IS NULL "
    "OR CAST(db_meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)"
)
"""Keeps ``db_meta.tags_id_max`` ≥ ``MAX(tags.id)``, as the v2 app does when it adds a tag."""

UNTYPED = "other"
"""What a model without a type is read as (the v2 app shows both under "others")."""


def shape(conn: Any, table: str) -> dict[str, Any]:
    """``table_info``, ``index_list``, ``foreign_key_list`` and AUTOINCREMENT of a table."""
    info = [tuple(r) for r in conn.execute(f"PRAGMA table_info('{table}')")]
    indexes = sorted(tuple(r)[1:] for r in conn.execute(f"PRAGMA index_list('{table}')"))
    keys = sorted(tuple(r)[2:] for r in conn.execute(f"PRAGMA foreign_key_list('{table}')"))
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    autoincrement = sql is not None and "AUTOINCREMENT" in str(sql[0]).upper()
    return {
        "columns": info,
        "indexes": indexes,
        "foreign_keys": keys,
        "autoincrement": autoincrement,
    }


def reference_shapes() -> dict[str, dict[str, Any]]:
    """Shapes of the v2 tables as the v2 DDL makes them (in a private in-memory database)."""
    ref = sqlite3.connect(":memory:")
    try:
        for statement in V2_DDL:
            ref.execute(statement)
        return {table: shape(ref, table) for table in V2_TABLES}
    finally:
        ref.close()


def _columns(info: Iterable[tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    return {row[1]: row[2:] for row in info}


def _describe(table: str, found: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    diffs: list[str] = []
    have, want = _columns(found["columns"]), _columns(wanted["columns"])
    diffs += [f"{table}: missing column {c}" for c in want if c not in have]
    diffs += [f"{table}: extra column {c}" for c in have if c not in want]
    diffs += [
        f"{table}.{c}: {have[c]} instead of {want[c]} (type, not null, default, pk)"
        for c in want
        if c in have and have[c] != want[c]
    ]
    if not diffs and found["columns"] != wanted["columns"]:
        diffs.append(f"{table}: columns in another order")
    for part in ("indexes", "foreign_keys", "autoincrement"):
        if found[part] != wanted[part]:
            diffs.append(f"{table}: {part} {found[part]} instead of {wanted[part]}")
    return diffs


def differences(conn: Connection) -> list[str]:
    """What keeps this SQLite database from being adopted as a v2 library (empty: adoptable).

    Reads only. A database with no table at all is adoptable (it is created from scratch). On
    a server database (which the v2 app never makes) only the set of tables is compared.
    """
    tables = set(inspect(conn).get_table_names()) - {"sqlite_sequence"}
    if not tables - {"alembic_version"}:
        return []
    diffs = [f"missing table {t}" for t in V2_TABLES if t not in tables]
    own = sorted(tables & OWN_TABLES - {"alembic_version"})
    if own:
        diffs.append(f"tables of model-migrate without a recorded revision: {', '.join(own)}")
    foreign = sorted(tables - set(V2_TABLES) - OWN_TABLES)
    if foreign:
        diffs.append(f"tables that are not the v2 app's: {', '.join(foreign)}")
    if conn.dialect.name != "sqlite":
        return diffs
    raw = conn.connection.driver_connection
    reference = reference_shapes()
    for table in V2_TABLES:
        if table in tables:
            diffs += _describe(table, shape(raw, table), reference[table])
    return diffs


def db_version(conn: Connection) -> str | None:
    """``db_meta.db_version`` (None when the table or the row is missing)."""
    if "db_meta" not in inspect(conn).get_table_names():
        return None
    value = conn.scalar(text("SELECT value FROM db_meta WHERE key = 'db_version'"))
    return None if value is None else str(value)


def check_adoptable(conn: Connection, where: str) -> None:
    """Raise unless the database is empty or exactly the v2 app's schema at ``db_version`` 2."""
    diffs = differences(conn)
    if diffs:
        raise LibrarySchemaError(
            f"{where} is not a v2 library this program can adopt: {'; '.join(diffs)}. "
            "Point MODEL_MIGRATE_DATA_DIR (or MODEL_MIGRATE_DATABASE_URL) at the v2 app's "
            "data folder, or move this file away"
        )
    check_version(conn, where)


def check_version(conn: Connection, where: str) -> None:
    """Raise when ``db_meta.db_version`` names a v2 schema other than the one written here."""
    version = db_version(conn)
    if version not in (None, DB_VERSION):
        raise NewerLibraryError(
            f"{where} has db_version {version!r}; this program writes version {DB_VERSION}. "
            "Use a model-migrate release made for that version of the v2 app"
        )
