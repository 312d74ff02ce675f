"""The schema is made only by Alembic: upgrade and downgrade on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

from backend.database import schema
from backend.database.session import make_engine

V2_TABLES = {"models", "tags", "model_tags", "pending_import", "pending_model_tags", "db_meta"}
LIBRARY_TABLES = V2_TABLES | {"hash_cache"}
WORKFLOW_TABLES = {"migration_runs", "migration_items", "migration_events"}


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_creates_every_table_and_downgrade_keeps_only_the_v2_ones(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert schema.current_revision(engine) is None
        schema.upgrade(engine)
        assert schema.current_revision(engine) == schema.head_revision()
        assert tables(engine) == LIBRARY_TABLES | WORKFLOW_TABLES
        schema.downgrade(engine, "0001_library")
        assert tables(engine) == LIBRARY_TABLES
        schema.downgrade(engine, "base")
        # The v2 tables are the user's library (the v2 app's): never dropped.
        assert tables(engine) == V2_TABLES
        assert schema.current_revision(engine) is None
        schema.ensure_current(engine)
        assert tables(engine) == LIBRARY_TABLES | WORKFLOW_TABLES
    finally:
        engine.dispose()


def test_models_columns_match_the_v2_contract(engine: Engine) -> None:
    columns = {c["name"] for c in inspect(engine).get_columns("models")}
    assert columns == {"sha256", "path", "name", "type", "size_bytes", "created_at", "meta_json"}
    pending = {c["name"] for c in inspect(engine).get_columns("pending_import")}
    assert pending == {
        "id",
        "path",
        "sha256",
        "name",
        "type",
        "size_bytes",
        "created_at",
        "meta_json",
    }


def test_sqlite_connections_keep_the_journal_use_foreign_keys_and_busy_timeout(
    sqlite_url: str,
) -> None:
    engine = make_engine(sqlite_url)
    try:
        schema.upgrade(engine)
        with engine.connect() as conn:
            # The file keeps the v2 app's rollback journal: the project never switches it.
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "delete"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
    finally:
        engine.dispose()


def test_tag_names_are_unique(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO tags (name) VALUES ('lora')"))
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO tags (name) VALUES ('lora')"))
    except Exception as exc:
        assert "unique" in str(exc).lower() or "duplicate" in str(exc).lower()
    else:
        raise AssertionError("a second tag with the same name was accepted")
