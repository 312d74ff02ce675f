"""``export-v2``: a library on another database (PostgreSQL) ends in the v2 app's SQLite file,
equal to what a run straight into that file produces; idempotent and resumable."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from backend.bootstrap import build_service
from backend.cli import main
from backend.config import Settings
from backend.database import export
from backend.sample.legacy_factory import LegacyLibrary, make_sample_library
from tests.helpers.v2_ddl import make_v2_library, meta

DB_NAME = "hikaze_model_manager.db"


def existing_v2(data: Path, lib: LegacyLibrary) -> None:
    """A v2 library that already has one of the legacy models and two tags (ids 5 and 9)."""
    mine = lib.by_case("valid")[0]
    assert mine.content_sha256 is not None
    make_v2_library(
        data,
        models=[
            {
                "sha256": mine.content_sha256,
                "path": "/comfy/models/loras/mine.safetensors",
                "name": "Mine",
                "type": "loras",
                "size_bytes": 1,
                "created_at": 1_600_000_000,
                "meta_json": meta(description="the user's own"),
            }
        ],
        tags=[(5, "anime"), (9, "kept")],
        model_tags=[(mine.content_sha256, 9)],
    )


def migrate(settings: Settings, lib: LegacyLibrary) -> None:
    service = build_service(settings)
    try:
        service.run_until_done(service.start_legacy_run(lib.db_path, lib.images_dir).id)
    finally:
        service.close()


def v2_content(data: Path) -> dict[str, Any]:
    """Everything the v2 app shows, with tags by name (ids are the file's own)."""
    conn = sqlite3.connect(data / DB_NAME)
    try:
        tags = dict(conn.execute("SELECT id, name FROM tags").fetchall())
        db_meta = dict(conn.execute("SELECT key, value FROM db_meta").fetchall())
        content = {
            "models": sorted(conn.execute("SELECT * FROM models").fetchall()),
            "model_tags": sorted(
                (sha, tags[tid]) for sha, tid in conn.execute("SELECT * FROM model_tags")
            ),
            "pending": sorted(
                conn.execute(
                    "SELECT path, sha256, name, type, size_bytes, created_at, meta_json "
                    "FROM pending_import"
                ).fetchall()
            ),
            "pending_tags": sorted(
                conn.execute(
                    "SELECT p.path, t.name FROM pending_model_tags l "
                    "JOIN pending_import p ON p.id = l.model_id JOIN tags t ON t.id = l.tag_id"
                ).fetchall()
            ),
            "tag_names": sorted(tags.values()),
            "user_tag_ids": {5: tags.get(5), 9: tags.get(9)},
            "db_version": db_meta["db_version"],
            "tags_id_max_ok": int(db_meta["tags_id_max"]) >= max(tags),
        }
    finally:
        conn.close()
    images = data / "images"
    content["files"] = {
        p.relative_to(images).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in images.rglob("*")
        if p.is_file() and (p.parent == images or p.parent.name == "pending")
    }
    return content


def test_a_library_elsewhere_then_export_v2_equals_a_run_into_the_v2_file(
    tmp_path: Path, db_url: str
) -> None:
    lib = make_sample_library(tmp_path / "legacy", models=24, images_per_model=2)
    direct = tmp_path / "direct"
    existing_v2(direct, lib)
    migrate(Settings(data_dir=direct), lib)

    elsewhere = Settings(data_dir=tmp_path / "elsewhere", database_url=db_url)
    migrate(elsewhere, lib)
    target = tmp_path / "target"
    existing_v2(target, lib)

    copied: list[Path] = []

    def crash_after_three(source: Path, to: Path) -> None:
        if len(copied) == 3:
            raise OSError("simulated crash in the middle of the export")
        export._copy(source, to)
        copied.append(to)

    service = build_service(elsewhere)
    try:
        with pytest.raises(OSError, match="simulated crash"):
            export.export_v2(service.engine, elsewhere, target, copy=crash_after_three)
        resumed = service.export_v2(target)
        again = service.export_v2(target)
    finally:
        service.close()

    expected = v2_content(direct)
    assert v2_content(target) == expected
    assert expected["user_tag_ids"] == {5: "anime", 9: "kept"}
    assert expected["tags_id_max_ok"] and expected["db_version"] == "2"
    assert resumed.models_added > 10 and resumed.models_kept >= 1
    assert resumed.pending_added >= 1 and resumed.files_copied > 20
    assert (again.models_added, again.pending_added, again.tags_added, again.files_copied) == (
        0,
        0,
        0,
        0,
    )
    assert again.warnings == []


def test_export_v2_from_the_cli_refuses_the_library_itself(tmp_path: Path) -> None:
    env = {"MODEL_MIGRATE_DATA_DIR": str(tmp_path), "MODEL_MIGRATE_DATABASE_URL": None}
    result = CliRunner().invoke(main, ["export-v2", str(tmp_path)], env=env)
    assert result.exit_code == 2
    assert "is this library itself" in " ".join(result.output.split())


def test_export_v2_never_overwrites_a_pending_original_of_the_v2_app(tmp_path: Path) -> None:
    lib = make_sample_library(tmp_path / "legacy", models=12, images_per_model=1)
    source = Settings(data_dir=tmp_path / "source", database_url=f"sqlite:///{tmp_path}/s.db")
    migrate(source, lib)
    target = tmp_path / "target"
    make_v2_library(target)
    originals = sorted((source.pending_images_dir).iterdir())
    assert originals, "the sample library stages at least one pending model"
    taken = target / "images" / "pending" / originals[0].name
    taken.write_bytes(b"the v2 app's own original")
    service = build_service(source)
    try:
        result = service.export_v2(target)
    finally:
        service.close()
    assert taken.read_bytes() == b"the v2 app's own original"
    conn = sqlite3.connect(target / DB_NAME)
    try:
        metas = [m for (m,) in conn.execute("SELECT meta_json FROM pending_import")]
    finally:
        conn.close()
    renamed = f"export1-{originals[0].name}"
    assert any(renamed in m for m in metas)
    assert (target / "images" / "pending" / renamed).read_bytes() == originals[0].read_bytes()
    assert result.pending_added == len(metas)
