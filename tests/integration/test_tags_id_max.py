"""``db_meta.tags_id_max`` ≥ ``MAX(tags.id)`` after every commit that adds tags (as the v2 app
keeps it), on SQLite and PostgreSQL, through every way tags are created."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from backend.bootstrap import build_service
from backend.config import Settings
from backend.database import schema
from backend.database.migration.library import LibraryRepository
from backend.database.session import make_engine, make_session_factory
from backend.sample.legacy_factory import make_sample_library
from tests.helpers.v2_ddl import make_v2_library, meta, v2_connect

SHA = "c" * 64


def id_max(engine: Engine) -> tuple[int, int]:
    """(tags_id_max as stored, MAX(tags.id))."""
    with engine.connect() as conn:
        stored = conn.scalar(text("SELECT value FROM db_meta WHERE key = 'tags_id_max'"))
        top = conn.scalar(text("SELECT COALESCE(MAX(id), 0) FROM tags"))
    return int(stored), int(top)


def _seed(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO models (sha256, path, name, type, size_bytes, created_at, meta_json) "
                "VALUES (:s, '/m/a.safetensors', 'a', 'loras', 1, 1, '{}')"
            ),
            {"s": SHA},
        )
        conn.execute(
            text(
                "INSERT INTO pending_import (id, path, name, type, created_at, meta_json) "
                "VALUES (9, '/m/p.safetensors', 'p', 'loras', 1, '{}')"
            )
        )


WAYS: dict[str, Callable[[LibraryRepository, list[str]], object]] = {
    "ensure_tags": lambda repo, names: repo.ensure_tags(names),
    "add_model_tags": lambda repo, names: repo.add_model_tags(SHA, names),
    "add_pending_tags": lambda repo, names: repo.add_pending_tags(9, names),
}


@pytest.mark.parametrize("way", sorted(WAYS))
def test_every_commit_that_adds_tags_keeps_tags_id_max(engine: Engine, way: str) -> None:
    _seed(engine)
    sessions = make_session_factory(engine)
    assert id_max(engine) == (0, 0)
    for names in (["Style"], ["style", " anime ", "sdxl"], ["anime"], []):
        with sessions.begin() as session:
            WAYS[way](LibraryRepository(session), names)
        stored, top = id_max(engine)
        assert stored >= top
    assert id_max(engine)[1] >= 3


def test_a_stale_tags_id_max_is_raised_and_a_larger_one_never_lowered(engine: Engine) -> None:
    _seed(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        LibraryRepository(session).ensure_tags(["a", "b"])
    with engine.begin() as conn:
        conn.execute(text("UPDATE db_meta SET value = '1' WHERE key = 'tags_id_max'"))
    with sessions.begin() as session:
        LibraryRepository(session).ensure_tags(["c"])
    stored, top = id_max(engine)
    assert stored == top
    with engine.begin() as conn:
        conn.execute(text("UPDATE db_meta SET value = '1000' WHERE key = 'tags_id_max'"))
    with sessions.begin() as session:
        LibraryRepository(session).ensure_tags(["d"])
    assert id_max(engine)[0] == 1000


def test_a_migration_into_an_adopted_library_keeps_ids_and_tags_id_max(tmp_path: Path) -> None:
    data = tmp_path / "v2"
    make_v2_library(
        data,
        models=[
            {
                "sha256": SHA,
                "path": "/m/a.safetensors",
                "name": "a",
                "type": "loras",
                "size_bytes": 1,
                "created_at": 1,
                "meta_json": meta(),
            }
        ],
        tags=[(7, "anime"), (40, "mine")],
        model_tags=[(SHA, 40)],
    )
    lib = make_sample_library(tmp_path / "legacy", models=40, image_size=None)
    service = build_service(Settings(data_dir=data))
    try:
        run = service.start_legacy_run(lib.db_path, lib.images_dir)
        service.run_until_done(run.id, workers=1)
        stored, top = id_max(service.engine)
        with service.engine.connect() as conn:
            kept = dict(conn.execute(text("SELECT id, name FROM tags WHERE id IN (7, 40)")).all())
            new = conn.scalar(text("SELECT COUNT(*) FROM tags WHERE id > 40"))
    finally:
        service.close()
    assert kept == {7: "anime", 40: "mine"}
    assert new > 0
    assert stored == top > 40
    conn = v2_connect(data / "hikaze_model_manager.db")
    try:
        # The v2 app's next tag gets an id above every one the migration wrote.
        conn.execute("INSERT INTO tags (name) VALUES ('from-v2')")
        assert conn.execute("SELECT id FROM tags WHERE name = 'from-v2'").fetchone()[0] > top
    finally:
        conn.close()


@pytest.mark.postgres
def test_known_tags_leave_the_db_meta_row_unlocked(postgres_url: str) -> None:
    """Tagging with tags that all exist must not upsert ``db_meta``: PostgreSQL locks the row
    of an ``ON CONFLICT DO UPDATE`` even when its WHERE skips the update, and that lock made
    two workers' group transactions wait for each other."""
    engine = make_engine(postgres_url)
    schema.upgrade(engine)
    try:
        _seed(engine)
        sessions = make_session_factory(engine)
        with sessions.begin() as session:
            LibraryRepository(session).add_model_tags(SHA, ["anime", "style"])
        with sessions.begin() as session:
            LibraryRepository(session).add_model_tags(SHA, ["Anime", "style"])
            with engine.connect() as other:  # raises LockNotAvailable if the row is locked
                other.execute(text("SET lock_timeout = '1s'"))
                locked = "SELECT value FROM db_meta WHERE key = 'tags_id_max' FOR UPDATE NOWAIT"
                assert other.execute(text(locked)).scalar() is not None
                other.rollback()
    finally:
        engine.dispose()
