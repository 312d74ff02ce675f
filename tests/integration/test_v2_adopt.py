"""The library is the v2 app's own file: created with its DDL, adopted when it exists, refused
(nothing written) when its shape differs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from backend.cli import main
from backend.config import Settings
from backend.database import schema
from backend.database.migration.library import LibraryRepository
from backend.database.models import Base
from backend.database.session import make_engine, make_session_factory
from tests.helpers.v2_ddl import (
    V2_TABLES,
    file_digest,
    make_v2_library,
    meta,
    table_shapes,
    v2_connect,
    v2_init_db,
    v2_objects,
)

OWN_TABLES = {"alembic_version", "hash_cache", "migration_runs", "migration_items"}
SHA_A = "a" * 64
SHA_B = "b" * 64


def run_cli(data_dir: Path, *args: str) -> Result:
    env = {"MODEL_MIGRATE_DATA_DIR": str(data_dir), "MODEL_MIGRATE_DATABASE_URL": None}
    return CliRunner().invoke(main, list(args), env={**env, "HIKAZE_DB_PATH": None})


def rows(path: Path, table: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
    finally:
        conn.close()


def table_names(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def populated(data_dir: Path) -> Path:
    """A v2 library with models (one with NULL columns), tags 5/17/42 and pending rows."""
    return make_v2_library(
        data_dir,
        models=[
            {
                "sha256": SHA_A,
                "path": "/models/loras/a.safetensors",
                "name": "A",
                "type": "loras",
                "size_bytes": 10,
                "created_at": 1_700_000_000,
                "meta_json": meta(description="mine", images_count=2),
            },
            {
                "sha256": SHA_B,
                "path": "/models/b.ckpt",
                "name": None,
                "type": None,
                "size_bytes": None,
                "created_at": None,
                "meta_json": None,
            },
        ],
        tags=[(5, "style"), (17, "anime"), (42, "old")],
        model_tags=[(SHA_A, 5), (SHA_A, 42), (SHA_B, 17)],
        pending=[
            {
                "id": 3,
                "path": "/models/new.safetensors",
                "sha256": None,
                "name": None,
                "type": "checkpoints",
                "size_bytes": 7,
                "created_at": 1_700_000_100,
                "meta_json": meta(images=["3.png"]),
            },
        ],
        pending_tags=[(3, 17)],
    )


def test_a_new_library_has_exactly_the_v2_schema_and_meta(tmp_path: Path) -> None:
    ours = tmp_path / "ours"
    assert run_cli(ours, "db", "upgrade").exit_code == 0
    db = ours / "hikaze_model_manager.db"
    reference = tmp_path / "v2.db"
    v2_init_db(reference)
    assert table_shapes(db) == table_shapes(reference)
    assert table_shapes(db)["tags"]["autoincrement"]
    assert dict(rows(db, "db_meta")) == {"db_version": "2", "tags_id_max": "0"}
    assert [r[:3] for r in v2_objects(db)] == [r[:3] for r in v2_objects(reference)]


def test_the_v2_apps_start_up_changes_nothing_in_a_library_made_here(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "db", "upgrade").exit_code == 0
    db = tmp_path / "hikaze_model_manager.db"
    before = file_digest(db)
    v2_init_db(db)
    assert file_digest(db) == before


def test_an_empty_v2_library_is_adopted_without_touching_its_tables(tmp_path: Path) -> None:
    db = make_v2_library(tmp_path)
    objects = v2_objects(db)
    shapes = table_shapes(db)
    result = run_cli(tmp_path, "db", "upgrade")
    assert result.exit_code == 0, result.output
    # Same SQL and same root pages: no v2 table was dropped, recreated or altered.
    assert v2_objects(db) == objects
    assert table_shapes(db) == shapes
    assert table_names(db) >= OWN_TABLES
    assert dict(rows(db, "db_meta")) == {"db_version": "2", "tags_id_max": "0"}


def test_a_populated_v2_library_is_adopted_with_every_row_and_id_kept(tmp_path: Path) -> None:
    db = populated(tmp_path)
    before = {table: rows(db, table) for table in V2_TABLES}
    objects = v2_objects(db)
    result = run_cli(tmp_path, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert {table: rows(db, table) for table in V2_TABLES} == before
    assert v2_objects(db) == objects
    assert dict(rows(db, "db_meta"))["tags_id_max"] == "42"
    # A second start is a no-op.
    digest = file_digest(db)
    assert run_cli(tmp_path, "db", "upgrade").exit_code == 0
    assert file_digest(db) == digest


def test_rows_the_v2_app_left_null_are_read_without_errors(tmp_path: Path) -> None:
    populated(tmp_path)
    engine = schema.open_library(Settings(data_dir=tmp_path))
    try:
        with make_session_factory(engine)() as session:
            repo = LibraryRepository(session)
            model = repo.get_model(SHA_B)
            pending = repo.list_pending()
            assert repo.model_meta(SHA_B) is not None
    finally:
        engine.dispose()
    assert model is not None
    assert (model.name, model.type, model.created_at, model.tags) == ("", "other", 0, ["anime"])
    assert model.meta.images_count == 0
    assert [(p.id, p.name, p.meta.images, p.tags) for p in pending] == [
        (3, "", ["3.png"], ["anime"])
    ]


def _alter(db: Path, *statements: str) -> None:
    conn = v2_connect(db)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


REFUSED = {
    "extra column": (
        ("ALTER TABLE models ADD COLUMN rating INTEGER",),
        "extra column rating",
    ),
    "missing column": (
        (
            "CREATE TABLE db_meta2 (key TEXT PRIMARY KEY)",
            "DROP TABLE db_meta",
            "ALTER TABLE db_meta2 RENAME TO db_meta",
        ),
        "db_meta: missing column value",
    ),
    "table of another app": (("CREATE TABLE workflows (id INTEGER)",), "workflows"),
    "newer db_version": (("UPDATE db_meta SET value = '3' WHERE key = 'db_version'",), "'3'"),
    "newer revision": (
        (
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
            "INSERT INTO alembic_version VALUES ('9999_future')",
        ),
        "9999_future",
    ),
    "missing index": (("DROP INDEX idx_models_path",), "models: indexes"),
    "tags without AUTOINCREMENT": (
        (
            "CREATE TABLE tags2 (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)",
            "INSERT INTO tags2 SELECT * FROM tags",
            "PRAGMA foreign_keys = OFF",
            "DROP TABLE tags",
            "ALTER TABLE tags2 RENAME TO tags",
        ),
        "tags: autoincrement",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_library_of_another_shape_is_refused_and_left_byte_identical(
    tmp_path: Path, case: str
) -> None:
    statements, named = REFUSED[case]
    db = populated(tmp_path)
    _alter(db, *statements)
    digest = file_digest(db)
    files = sorted(p.name for p in tmp_path.iterdir())
    for command in (["db", "upgrade"], ["status"]):
        result = run_cli(tmp_path, *command)
        assert result.exit_code == 2, result.output
        output = " ".join(result.output.split())  # rich wraps lines at the terminal width
        assert named in output
        assert "Traceback" not in output
    assert file_digest(db) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == files


def test_hikaze_db_path_names_the_library_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIKAZE_DB_PATH", "other/custom.db")
    monkeypatch.delenv("MODEL_MIGRATE_DATABASE_URL", raising=False)
    settings = Settings(data_dir=tmp_path)
    assert settings.library_path == tmp_path / "custom.db"
    engine = make_engine(settings.resolved_database_url)
    try:
        schema.ensure_current(engine)
    finally:
        engine.dispose()
    assert "models" in table_names(tmp_path / "custom.db")


def test_adopting_a_populated_library_backs_it_up_first(tmp_path: Path) -> None:
    db = populated(tmp_path)
    before = {table: rows(db, table) for table in V2_TABLES}
    assert run_cli(tmp_path, "db", "upgrade").exit_code == 0
    (backup,) = (tmp_path / "backups").iterdir()
    assert "before-schema" in backup.name
    assert {table: rows(backup, table) for table in V2_TABLES} == before
    assert "alembic_version" not in table_names(backup)


def test_the_orm_mirrors_the_v2_columns_and_their_nullability(tmp_path: Path) -> None:
    reference = tmp_path / "v2.db"
    v2_init_db(reference)
    shapes = table_shapes(reference)
    for table in V2_TABLES:
        orm = Base.metadata.tables[table]
        declared = {c.name: (not c.nullable, c.primary_key) for c in orm.columns}
        info = shapes[table]["table_info"]
        # table_info rows: (cid, name, type, notnull, default, pk); a primary key is implied
        # NOT NULL by the ORM, and SQLite allows NULL in a non-integer one: compare the rest.
        assert declared == {row[1]: (bool(row[3]) or bool(row[5]), bool(row[5])) for row in info}, (
            table
        )
