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


def _event_keys(engine: Engine) -> list[tuple[str, list[str]]]:
    return [
        (key["referred_table"], key["constrained_columns"])
        for key in inspect(engine).get_foreign_keys("migration_events")
    ]


def test_0006_drops_the_events_item_key_and_keeps_every_event(db_url: str) -> None:
    engine = make_engine(db_url)
    rows = "SELECT item_id, seq, trigger, detail FROM migration_events ORDER BY id"
    try:
        schema.upgrade(engine, "0005_hot_path_indexes")
        assert _event_keys(engine) == [("migration_items", ["item_id"])]
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO migration_runs (id, kind, source_fingerprint, options,"
                    " created_at, updated_at) VALUES (1, 'legacy', 'fp', '{}', 0, 0)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO migration_items (id, run_id, kind, source_key, status, attempts,"
                    " max_attempts, crashes, next_attempt_at, warnings, artifacts, version,"
                    " updated_at) VALUES (7, 1, 'legacy', '1', 'imported', 0, 5, 0, 0, '[]',"
                    " '{}', 1, 0)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO migration_events (item_id, run_id, seq, trigger, from_state,"
                    " to_state, attempt, at, detail) VALUES (7, 1, 1, 'import', 'pending',"
                    " 'imported', 0, 1.5, '{\"n\": 1}')"
                )
            )
        with engine.connect() as conn:
            before = conn.execute(text(rows)).all()

        schema.upgrade(engine)
        assert _event_keys(engine) == []
        with engine.connect() as conn:
            assert conn.execute(text(rows)).all() == before
        assert {u["name"] for u in inspect(engine).get_unique_constraints("migration_events")} >= {
            "uq_migration_events_item_seq"
        }

        schema.downgrade(engine, "0005_hot_path_indexes")
        assert _event_keys(engine) == [("migration_items", ["item_id"])]
        with engine.connect() as conn:
            assert conn.execute(text(rows)).all() == before
    finally:
        engine.dispose()
