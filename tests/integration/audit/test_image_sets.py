"""The audit expects the image sets the legacy row gives (issue 15): duplicated sets, extra tiers
and leftovers of an image removed from the legacy row are problems with a code and a fix."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from backend.bootstrap import build_service
from backend.cli.verify import exit_code, verify
from backend.config import Settings
from backend.database.migration.audit.records import AuditReport
from backend.database.migration.images import TIERS, tier_file_name
from backend.database.migration.service import MigrationService
from backend.sample.legacy_factory import LegacyLibrary, LegacyRowSpec, make_legacy_library

CASES = ("valid", "several_images")


@dataclass
class Library:
    """A legacy library migrated once into ``data`` (SQLite, real tiers)."""

    legacy: LegacyLibrary
    data: Path
    run_id: int
    spec: LegacyRowSpec  # the row with three good images

    @property
    def sha(self) -> str:
        return self.spec.hash_hex.lower()

    def service(self) -> MigrationService:
        return build_service(Settings(data_dir=self.data))

    def audit(self, run_id: int | None = None, *, deep: bool = False) -> AuditReport:
        service = self.service()
        try:
            return service.audit(run_id or self.run_id, deep=deep)
        finally:
            service.close()

    def migrate(self, legacy_db: Path) -> int:
        service = self.service()
        try:
            run = service.start_legacy_run(legacy_db, self.legacy.images_dir)
            service.run_until_done(run.id)
            return run.id
        finally:
            service.close()

    def sql(self, statement: str, **params: object) -> None:
        engine = create_engine(f"sqlite:///{self.data / 'hikaze_model_manager.db'}")
        try:
            with engine.begin() as conn:
                conn.execute(text(statement), params)
        finally:
            engine.dispose()

    def set_images_count(self, count: int) -> None:
        self.sql(
            "UPDATE models SET meta_json = json_set(meta_json, '$.images_count', :n)"
            " WHERE sha256 = :sha",
            n=count,
            sha=self.sha,
        )

    def copy_set(self, seq: int, to: int) -> None:
        images = self.data / "images"
        for tier, _f, _q in TIERS:
            shutil.copy(
                images / tier_file_name(self.sha, seq, tier),
                images / tier_file_name(self.sha, to, tier),
            )


@pytest.fixture
def migrated(tmp_path: Path) -> Iterator[Library]:
    legacy = make_legacy_library(tmp_path / "legacy", CASES)
    (spec,) = legacy.by_case("several_images")
    assert spec.good_images == 3
    library = Library(legacy, tmp_path / "data", 0, spec)
    library.run_id = library.migrate(legacy.db_path)
    report = library.audit()
    assert exit_code(report) == 0, report.problems()
    assert [r.images_expected for r in report.rows if r.legacy_id == spec.legacy_id] == [3]
    yield library


def codes(report: AuditReport) -> list[tuple[str, int | None]]:
    return [(p.code, p.legacy_id) for p in report.problems()]


def test_duplicated_image_sets_are_named_with_the_set_they_repeat(migrated: Library) -> None:
    for seq in range(3):
        migrated.copy_set(seq, seq + 3)
    migrated.set_images_count(6)

    report = migrated.audit()

    lid = migrated.spec.legacy_id
    assert codes(report) == [("image_set_duplicated", lid)] * 3
    assert [p.message.split("image set ")[1:] for p in report.problems()] == [
        [
            f"{seq} repeats ",
            f"{seq - 3} (images_count=6; the legacy row(s) give 3 good image(s)),"
            " e.g. two runs of one legacy DB",
        ]
        for seq in (3, 4, 5)
    ]
    fix = report.problems()[0].fix
    assert f"{migrated.sha}_3_*.webp" in fix and "set images_count to 3" in fix
    assert exit_code(report) == 1


def test_a_second_run_that_published_the_row_again_is_caught(
    migrated: Library, tmp_path: Path
) -> None:
    """What two parallel `legacy` runs of one legacy DB leave: a second item that published
    the row's images again as sets 3..5 (the old audit took the union of published sets and
    said "all accounted for")."""
    copy = tmp_path / "copy.sqlite3"
    shutil.copy(migrated.legacy.db_path, copy)
    second = migrated.migrate(copy)
    for seq in range(3):
        migrated.copy_set(seq, seq + 3)
    migrated.set_images_count(6)
    migrated.sql(
        "UPDATE migration_items SET artifacts = json_set(artifacts, '$.image_seqs',"
        " json('[3, 4, 5]'), '$.image_mode', 'new') WHERE run_id = :run AND source_key = :key",
        run=second,
        key=str(migrated.spec.legacy_id),
    )

    for run_id in (migrated.run_id, second):
        report = migrated.audit(run_id)
        assert codes(report) == [("image_set_duplicated", migrated.spec.legacy_id)] * 3, run_id
        row = next(r for r in report.rows if r.legacy_id == migrated.spec.legacy_id)
        assert (row.images_count, row.images_expected) == (6, 3)


def test_extra_tier_files_beyond_images_count(migrated: Library) -> None:
    migrated.copy_set(0, 3)

    report = migrated.audit()

    assert [(p.code, p.file) for p in report.problems()] == [
        ("tier_beyond_count", tier_file_name(migrated.sha, 3, tier))
        for tier in ("high", "low", "medium")
    ]
    assert all(p.fix == "delete the file; no v2 reader shows it" for p in report.problems())


def test_a_bumped_images_count_without_files_is_a_count_mismatch(migrated: Library) -> None:
    migrated.set_images_count(4)

    report = migrated.audit()

    lid = migrated.spec.legacy_id
    assert codes(report) == [("images_count_mismatch", lid)] + [("tier_missing", lid)] * 3
    assert "set images_count back to 3" in report.problems()[0].fix


def _drop_last_image(legacy_db: Path, copy: Path, legacy_id: int) -> None:
    shutil.copy(legacy_db, copy)
    conn = sqlite3.connect(copy)
    try:
        with conn:
            (extra,) = conn.execute(
                "SELECT extra_json FROM models WHERE id = ?", (legacy_id,)
            ).fetchone()
            data = json.loads(extra)
            data["images"] = data["images"][:-1]
            conn.execute(
                "UPDATE models SET extra_json = ? WHERE id = ?", (json.dumps(data), legacy_id)
            )
    finally:
        conn.close()


def test_an_image_removed_from_the_legacy_row_between_runs_leaves_a_named_leftover(
    migrated: Library, tmp_path: Path
) -> None:
    edited = tmp_path / "edited.sqlite3"
    _drop_last_image(migrated.legacy.db_path, edited, migrated.spec.legacy_id)
    second = migrated.migrate(edited)  # re-imports the row over its model: sets 0..1 rewritten

    report = migrated.audit(second)

    lid = migrated.spec.legacy_id
    assert codes(report) == [("image_removed_leftover", lid)]
    (leftover,) = report.problems()
    assert "image set 2 was published by an earlier run" in leftover.message
    assert f"{migrated.sha}_2_*.webp" in leftover.fix and "set images_count to 2" in leftover.fix
    row = next(r for r in report.rows if r.legacy_id == lid)
    assert (row.images_count, row.images_expected) == (3, 2)

    runner = CliRunner()
    env = {"MODEL_MIGRATE_DATA_DIR": str(migrated.data)}
    shown = runner.invoke(verify, [], env=env)  # the newest run by default
    assert shown.exit_code == 1
    assert "1 inconsistency to fix" in shown.output


def test_verify_json_streams_the_rows_into_one_document(migrated: Library) -> None:
    migrated.copy_set(0, 3)
    migrated.set_images_count(4)
    runner = CliRunner()
    result = runner.invoke(
        verify, [str(migrated.run_id), "--json"], env={"MODEL_MIGRATE_DATA_DIR": str(migrated.data)}
    )
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    assert [r["legacy_id"] for r in payload["rows"]] == [r.legacy_id for r in migrated.legacy.rows]
    assert payload["verdict"] == "inconsistent" and payload["problem_count"] == 1
    (row,) = [r for r in payload["rows"] if r["problems"]]
    assert [p["code"] for p in row["problems"]] == ["image_set_duplicated"]


def test_a_merge_from_another_legacy_db_is_not_a_duplicate(
    migrated: Library, tmp_path: Path
) -> None:
    """The same model file listed in a second legacy DB under another path: its images are
    appended by a decided merge, so 3 + 3 sets are all expected, audited from either run."""
    other = tmp_path / "other.sqlite3"
    shutil.copy(migrated.legacy.db_path, other)
    conn = sqlite3.connect(other)
    try:
        with conn:
            conn.execute(
                "UPDATE models SET path = ? WHERE id = ?",
                (str(tmp_path / "elsewhere.safetensors"), migrated.spec.legacy_id),
            )
    finally:
        conn.close()
    service = migrated.service()
    try:
        run = service.start_legacy_run(other, migrated.legacy.images_dir, on_conflict="merge")
        service.run_until_done(run.id)
    finally:
        service.close()

    for run_id in (migrated.run_id, run.id):
        report = migrated.audit(run_id)
        assert report.problems() == [], (run_id, report.problems())
        row = next(r for r in report.rows if r.legacy_id == migrated.spec.legacy_id)
        assert (row.images_count, row.images_expected, row.combined_by) == (6, 6, "merge")
