"""Migrating into a v2 library that already holds models, images, tags and pending rows."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from backend.cli import main
from backend.database.migration.images import TIERS, make_tiers, tier_file_name
from backend.database.migration.types import TYPES_CACHE_NAME, TypeMap
from backend.sample.legacy_factory import LegacyLibrary, make_legacy_library
from backend.sample.v2_factory import V2_TAGS
from tests.helpers.library_snapshot import snapshot_library
from tests.helpers.v2_target import Target, file_digests, make_target


@pytest.fixture
def legacy(tmp_path: Path) -> LegacyLibrary:
    return make_legacy_library(
        tmp_path / "legacy", cases=("valid", "several_images", "garbage_hash", "null_name")
    )


def _sha(lib: LegacyLibrary, case: str) -> str:
    return lib.by_case(case)[0].hash_hex.lower()


def _item(target: Target, run_id: int, legacy_id: int) -> object:
    page = target.service.list_items(run_id, limit=1000)
    return next(i for i in page.items if i.source_key == str(legacy_id))


def _codes(item: object) -> set[str]:
    return {w.code for w in item.warnings}  # type: ignore[attr-defined]


def _legacy_sql(lib: LegacyLibrary, sql: str, *args: object) -> None:
    conn = sqlite3.connect(lib.db_path)
    try:
        with conn:
            conn.execute(sql, args)
    finally:
        conn.close()


def _tags(target: Target) -> dict[int, str]:
    return {int(i): str(n) for i, n in target.query("SELECT id, name FROM tags")}


# --- a model already in the library -------------------------------------------------------------


def test_a_model_already_in_the_library_conflicts_and_merge_appends_after_its_images(
    legacy: LegacyLibrary, tmp_path: Path
) -> None:
    row = legacy.by_case("several_images")[0]
    sha = _sha(legacy, "several_images")
    data = tmp_path / "data"
    target = make_target(data, tmp_path / "comfy", shared=((sha, row.path, "loras", 2),))
    try:
        before = file_digests(data / "images", sha)
        assert len(before) == 6  # seqs 0..1, three tiers each
        model_before = target.query("SELECT * FROM models WHERE sha256 = ?", sha)

        run_id = target.migrate(legacy)
        item = _item(target, run_id, row.legacy_id)
        assert item.state == "conflicted"  # type: ignore[attr-defined]
        assert target.query("SELECT * FROM models WHERE sha256 = ?", sha) == model_before
        assert file_digests(data / "images", sha) == before

        target.service.resolve(item.id, "merge")  # type: ignore[attr-defined]
        target.service.run_until_done(run_id)
        item = _item(target, run_id, row.legacy_id)
    finally:
        target.service.close()

    assert item.state == "promoted"  # type: ignore[attr-defined]
    assert item.artifacts["image_seqs"] == [2, 3, 4]  # type: ignore[attr-defined]
    after = file_digests(data / "images", sha)
    assert {k: after[k] for k in before} == before  # the library's own tiers, byte-identical
    assert set(after) == {tier_file_name(sha, s, t) for s in range(5) for t, _f, _q in TIERS}
    snap = snapshot_library(data, f"sqlite:///{target.db}")
    model = snap.model(sha)
    assert model["meta"]["images_count"] == 5
    assert model["name"] == Path(row.path).name  # merge: the library's name is kept
    assert model["meta"]["description"] == f"Notes about {Path(row.path).stem}."  # filled
    assert snap.tags_of(sha) == sorted({"favorite", "lora"})
    tags = _tags(target)
    assert {i: tags[i] for i in V2_TAGS} == V2_TAGS  # no tag renamed or renumbered
    assert "anime" not in tags.values()
    normalized = [n.strip().lower() for n in tags.values()]
    assert len(normalized) == len(set(normalized))


def test_an_existing_tag_is_reused_by_its_normalized_name(
    legacy: LegacyLibrary, tmp_path: Path
) -> None:
    valid = legacy.by_case("valid")[0]
    tag_id = int(
        sqlite3.connect(legacy.db_path).execute("SELECT MAX(id) + 1 FROM tags").fetchone()[0]
    )
    _legacy_sql(legacy, "INSERT INTO tags (id, name) VALUES (?, 'anime')", tag_id)
    _legacy_sql(legacy, "INSERT INTO model_tags VALUES (?, ?)", valid.legacy_id, tag_id)
    target = make_target(tmp_path / "data", tmp_path / "comfy")
    try:
        target.migrate(legacy)
    finally:
        target.service.close()
    links = target.query(
        "SELECT t.id, t.name FROM model_tags mt JOIN tags t ON t.id = mt.tag_id"
        " WHERE mt.model_hash = ?",
        _sha(legacy, "valid"),
    )
    assert (7, "Anime") in links and (12, "style") in links
    assert {i: n for i, n in _tags(target).items() if i in V2_TAGS} == V2_TAGS


def test_an_image_file_the_migration_did_not_write_is_never_overwritten(
    legacy: LegacyLibrary, tmp_path: Path
) -> None:
    sha = _sha(legacy, "valid")
    data = tmp_path / "data"
    target = make_target(data, tmp_path / "comfy")
    source = tmp_path / "theirs.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(source)
    make_tiers(source, data / "images", sha, 0, fsync=False)  # left there by the v2 app
    theirs = file_digests(data / "images", sha)
    try:
        run_id = target.migrate(legacy)
        item = _item(target, run_id, legacy.by_case("valid")[0].legacy_id)
    finally:
        target.service.close()
    assert item.state == "promoted"  # type: ignore[attr-defined]
    assert item.artifacts["image_seqs"] == [1]  # type: ignore[attr-defined]
    after = file_digests(data / "images", sha)
    assert {k: after[k] for k in theirs} == theirs
    assert len(after) == 6
    count = json.loads(target.query("SELECT meta_json FROM models WHERE sha256 = ?", sha)[0][0])
    assert count["images_count"] == 2


# --- faithful to the legacy library -------------------------------------------------------------


def test_every_legacy_tag_is_migrated_used_or_not(legacy: LegacyLibrary, tmp_path: Path) -> None:
    _legacy_sql(legacy, "INSERT INTO tags (id, name) VALUES (900, 'nobody uses me')")
    _legacy_sql(legacy, "INSERT INTO tags (id, name) VALUES (901, '  Mixed Case ')")
    target = make_target(tmp_path / "data", tmp_path / "comfy")
    try:
        target.migrate(legacy)
    finally:
        target.service.close()
    names = set(_tags(target).values())
    assert {"nobody uses me", "mixed case"} <= names


def test_a_row_without_a_name_gets_its_file_name_with_the_extension(
    legacy: LegacyLibrary, tmp_path: Path
) -> None:
    row = legacy.by_case("null_name")[0]
    target = make_target(tmp_path / "data", tmp_path / "comfy")
    try:
        target.migrate(legacy)
    finally:
        target.service.close()
    name = target.query("SELECT name FROM models WHERE sha256 = ?", _sha(legacy, "null_name"))
    assert name == [(Path(row.path).name,)]
    assert name[0][0].endswith(".safetensors")


def test_a_relative_model_path_is_resolved_against_the_legacy_db_folder(
    legacy: LegacyLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = legacy.by_case("valid")[0]
    relative = os.path.relpath(row.path, legacy.db_path.parent)
    _legacy_sql(legacy, "UPDATE models SET path = ? WHERE id = ?", relative, row.legacy_id)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    target = make_target(tmp_path / "data", tmp_path / "comfy")
    try:
        run_id = target.migrate(legacy)
        item = _item(target, run_id, row.legacy_id)
    finally:
        target.service.close()
    path = target.query("SELECT path FROM models WHERE sha256 = ?", _sha(legacy, "valid"))
    assert path == [(row.path,)]
    assert "model_file_missing" not in _codes(item)


def test_a_staged_row_lists_only_originals_that_open_as_images(tmp_path: Path) -> None:
    lib = make_legacy_library(
        tmp_path / "legacy", cases=("garbage_hash", "non_image", "truncated_image")
    )
    staged = lib.by_case("garbage_hash")[0]
    urls = [*staged.image_urls, *lib.by_case("non_image")[0].image_urls]
    urls += lib.by_case("truncated_image")[0].image_urls
    extra = json.dumps({"description": "staged", "images": urls})
    _legacy_sql(lib, "UPDATE models SET extra_json = ? WHERE id = ?", extra, staged.legacy_id)
    data = tmp_path / "data"
    target = make_target(data, tmp_path / "comfy")
    try:
        run_id = target.migrate(lib)
        item = _item(target, run_id, staged.legacy_id)
        pending = {p.path: p for p in target.service.pending_models()}[staged.path]
    finally:
        target.service.close()
    assert item.state == "staged"  # type: ignore[attr-defined]
    assert len(pending.meta.images) == 1
    assert (data / "images" / "pending" / pending.meta.images[0]).is_file()
    assert {"image_unreadable", "image_truncated", "legacy_hash_invalid"} <= _codes(item)


def test_a_pending_row_already_there_for_the_path_is_not_duplicated(
    legacy: LegacyLibrary, tmp_path: Path
) -> None:
    staged = legacy.by_case("garbage_hash")[0]
    target = make_target(tmp_path / "data", tmp_path / "comfy")
    path = target.v2.pending_paths[0]
    _legacy_sql(legacy, "UPDATE models SET path = ? WHERE id = ?", path, staged.legacy_id)
    try:
        target.migrate(legacy)
    finally:
        target.service.close()
    rows = target.query("SELECT name, meta_json FROM pending_import WHERE path = ?", path)
    assert len(rows) == 1
    name, meta = rows[0]
    assert name == Path(path).name  # the v2 app's own values are kept
    assert json.loads(str(meta))["description"] == f"Notes about {Path(staged.path).stem}."


# --- reruns -------------------------------------------------------------------------------------


def test_a_rerun_keeps_what_the_user_changed_in_the_v2_app(tmp_path: Path) -> None:
    legacy = make_legacy_library(
        tmp_path / "legacy", cases=("valid", "several_images", "null_extra", "empty_extra")
    )
    data = tmp_path / "data"
    target = make_target(data, tmp_path / "comfy")
    valid, several = legacy.by_case("valid")[0], legacy.by_case("several_images")[0]
    sha_valid, sha_several = _sha(legacy, "valid"), _sha(legacy, "several_images")
    copies = [tmp_path / f"copy{n}.sqlite3" for n in (1, 2)]
    for copy in copies:
        shutil.copyfile(legacy.db_path, copy)
    try:
        target.migrate(legacy)
        edited = json.loads(
            str(target.query("SELECT meta_json FROM models WHERE sha256 = ?", sha_valid)[0][0])
        )
        edited = {k: v for k, v in edited.items() if k != "extra"}  # the v2 app drops extra
        edited["description"] = "my own words"
        target.execute(
            "UPDATE models SET meta_json = ? WHERE sha256 = ?", json.dumps(edited), sha_valid
        )
        untouched = target.query("SELECT * FROM models WHERE sha256 = ?", sha_several)
        files = file_digests(data / "images", "")

        rerun = target.service.start_legacy_run(copies[0], legacy.images_dir)
        assert not rerun.resumed
        target.service.run_until_done(rerun.id)
        kept = _item(target, rerun.id, valid.legacy_id)
        rewritten = _item(target, rerun.id, several.legacy_id)
        imageless = [_item(target, rerun.id, r.legacy_id) for r in legacy.rows[2:]]
        after_rerun = target.query("SELECT meta_json FROM models WHERE sha256 = ?", sha_valid)
        assert target.query("SELECT * FROM models WHERE sha256 = ?", sha_several) == untouched
        assert file_digests(data / "images", "") == files

        override = target.service.start_legacy_run(
            copies[1], legacy.images_dir, on_conflict="override"
        )
        target.service.run_until_done(override.id)
        restored = target.query("SELECT meta_json FROM models WHERE sha256 = ?", sha_valid)
    finally:
        target.service.close()
    assert kept.state == "ignored"  # type: ignore[attr-defined]
    assert "changed_in_v2" in _codes(kept)
    assert json.loads(str(after_rerun[0][0])) == edited
    assert rewritten.state == "promoted"  # type: ignore[attr-defined]
    assert rewritten.artifacts["image_mode"] == "replace"  # type: ignore[attr-defined]
    # models without images were inserted as a group: their digest was computed, not read
    assert [i.state for i in imageless] == ["promoted", "promoted"]  # type: ignore[attr-defined]
    assert all("changed_in_v2" not in _codes(i) for i in imageless)
    assert json.loads(str(restored[0][0]))["description"] == f"Notes about {Path(valid.path).stem}."


# --- types: the v2 tabs ---------------------------------------------------------------------------


def test_types_come_from_the_types_cache_folders_then_the_aliases(tmp_path: Path) -> None:
    lib = make_legacy_library(tmp_path / "legacy", cases=("valid",) * 7)
    by_type = {r.type: r for r in lib.rows}
    assert set(by_type) == {
        "checkpoint",
        "lora",
        "embedding",
        "vae",
        "upscale",
        "ultralytics",
        "other",
    }
    folders = {
        "checkpoints": [lib.models_dir / "checkpoints"],
        "ultralytics_bbox": [lib.models_dir / "ultralytics"],
        "vae": [lib.models_dir / "vae"],
    }
    target = make_target(tmp_path / "data", tmp_path / "comfy", types_cache=folders)
    try:
        preflight = target.service.preflight(lib.db_path, lib.images_dir)
        target.migrate(lib)
    finally:
        target.service.close()
    expected = {
        "checkpoint": "checkpoints",  # its folder
        "ultralytics": "ultralytics_bbox",  # its folder, though no alias says so
        "vae": "vae",
        "lora": "loras",  # not under a cached folder: the alias
        "embedding": "embeddings",
        "upscale": "upscale_models",
        "other": "other",  # kept: shown under "others"
    }
    mapping = {(m.legacy_type, m.v2_type, m.count) for m in preflight.type_mapping}
    assert mapping == {(legacy, v2, 1) for legacy, v2 in expected.items()}
    for legacy_type, row in by_type.items():
        type_, meta = target.query(
            "SELECT type, meta_json FROM models WHERE sha256 = ?", row.hash_hex
        )[0]
        assert type_ == expected[legacy_type]
        extra = json.loads(str(meta))["extra"]
        if expected[legacy_type] == legacy_type:
            assert "legacy_type" not in extra
        else:
            assert extra["legacy_type"] == legacy_type


def test_preflight_prints_the_type_mapping(legacy: LegacyLibrary, tmp_path: Path) -> None:
    env = {"MODEL_MIGRATE_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(
        main, ["preflight", str(legacy.db_path), str(legacy.images_dir)], env=env
    )
    assert result.exit_code == 0, result.output
    assert "legacy → v2 tab" in result.output
    assert "checkpoints" in result.output and "loras" in result.output


def test_the_sample_factory_writes_absolute_paths_as_v1_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    lib = make_legacy_library(Path("relative-root"), cases=("valid", "null_name"))
    conn = sqlite3.connect(lib.db_path)
    try:
        paths = [str(p) for (p,) in conn.execute("SELECT path FROM models")]
    finally:
        conn.close()
    assert paths and all(os.path.isabs(p) for p in paths)


def test_load_reads_the_data_folder_and_reports_an_unreadable_cache(tmp_path: Path) -> None:
    assert TypeMap.load(tmp_path).folders == ()
    models = tmp_path / "models" / "loras"
    (tmp_path / TYPES_CACHE_NAME).write_text(
        json.dumps({"version": 1, "types": ["loras"], "paths_by_type": {"loras": [str(models)]}})
    )
    loaded = TypeMap.load(tmp_path)
    assert loaded.v2_type("checkpoint", str(models / "x.safetensors")) == "loras"
    assert loaded.problem is None
    (tmp_path / TYPES_CACHE_NAME).write_text("{not json")
    broken = TypeMap.load(tmp_path)
    assert broken.problem is not None and TYPES_CACHE_NAME in broken.problem
    assert broken.v2_type("checkpoint", str(models / "x.safetensors")) == "checkpoints"
