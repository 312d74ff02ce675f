"""Stage 1 repeated: existing tags keep their ids, a re-run or a second run changes nothing,
two workers give the same library as one."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, text

from backend.sample.legacy_factory import LegacyLibrary, make_sample_library
from tests.helpers.library_snapshot import (
    LibrarySnapshot,
    orphan_problems,
    snapshot_library,
    snapshot_tree,
)
from tests.helpers.service import make_service, migrate, url_of


def _precreate_tags(url: str, tags: dict[int, str]) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for tag_id, name in tags.items():
            conn.execute(
                text("INSERT INTO tags (id, name) VALUES (:i, :n)"), {"i": tag_id, "n": name}
            )
    engine.dispose()


def _tag_table(url: str) -> dict[int, str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = {int(i): str(n) for i, n in conn.execute(text("SELECT id, name FROM tags"))}
    engine.dispose()
    return rows


def test_existing_tags_keep_their_ids_and_a_rerun_adds_nothing(
    legacy: LegacyLibrary, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    service = make_service(data)
    url = url_of(service)
    _precreate_tags(url, {7: "lora", 1: "zzz", 3: "style"})
    try:
        run_id = migrate(service, legacy)
        tags_after_first = _tag_table(url)
        first = snapshot_library(data, url)

        again = service.start_legacy_run(legacy.db_path, legacy.images_dir)
        assert again.id == run_id and again.resumed
        service.run_until_done(again.id)
        assert snapshot_library(data, url) == first
        assert _tag_table(url) == tags_after_first
    finally:
        service.close()

    assert tags_after_first[7] == "lora" and tags_after_first[1] == "zzz"
    assert tags_after_first[3] == "style"
    assert len(set(tags_after_first.values())) == len(tags_after_first)
    lora_rows = [r for r in legacy.rows if r.type == "lora" and r.case != "garbage_hash"]
    assert lora_rows
    engine = create_engine(url)
    with engine.connect() as conn:
        linked = {
            str(sha)
            for sha in conn.execute(
                text("SELECT model_hash FROM model_tags WHERE tag_id = 7")
            ).scalars()
        }
    engine.dispose()
    promoted_loras = {r.hash_hex.lower() for r in lora_rows if r.hash_hex.lower() in linked}
    assert promoted_loras, "lora models must link to the existing tag id 7"
    assert "zzz" not in {t for _, t in first.model_tags}


def test_a_second_run_of_a_copied_legacy_db_changes_nothing_and_backs_up(
    legacy: LegacyLibrary, tmp_path: Path
) -> None:
    """A new run (other fingerprint) over the same rows: no new rows, tags or images."""
    data = tmp_path / "data"
    service = make_service(data)
    url = url_of(service)
    try:
        first_run = service.start_legacy_run(legacy.db_path, legacy.images_dir)
        assert first_run.backup_path is None  # empty library: nothing to back up
        service.run_until_done(first_run.id)
        assert not (data / "backups").exists()
        first = snapshot_library(data, url)

        copy = tmp_path / "copy.sqlite3"
        shutil.copyfile(legacy.db_path, copy)
        second_run = service.start_legacy_run(copy, legacy.images_dir)
        assert second_run.id != first_run.id
        service.run_until_done(second_run.id)
        second = snapshot_library(data, url)
    finally:
        service.close()
    assert second == first
    assert orphan_problems(second) == []
    assert second_run.backup_path is not None
    backup = Path(second_run.backup_path)
    assert backup.parent == (data / "backups").resolve() or backup.parent == data / "backups"
    conn = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        (count,) = conn.execute("SELECT COUNT(*) FROM models").fetchone()
    finally:
        conn.close()
    assert count == len(first.models)


def test_two_workers_give_the_same_library_as_one(tmp_path: Path) -> None:
    lib = make_sample_library(tmp_path / "legacy", models=60, image_size=(64, 96))
    before = snapshot_tree(lib.root)
    snaps: list[LibrarySnapshot] = []
    for workers in (1, 2):
        data = tmp_path / f"data{workers}"
        service = make_service(data)
        try:
            run = service.start_legacy_run(lib.db_path, lib.images_dir)
            status = service.run_until_done(run.id, workers=workers, batch_size=4)
        finally:
            service.close()
        assert status.finished and status.counts["failed"] == 0
        snaps.append(snapshot_library(data, url_of(service)))
    one, two = snaps
    assert len(one.models) >= 50
    assert two == one
    assert orphan_problems(two) == []
    assert snapshot_tree(lib.root) == before
