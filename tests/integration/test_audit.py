"""The audit (issue 10): a clean migration audits clean; hand-made damage is reported precisely."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import create_engine, text

from backend.cli.verify import verify
from backend.config import Settings
from backend.database.migration.audit.records import RERUN, AuditReport, RowAudit
from backend.database.migration.audit.report import audit
from backend.database.migration.images import tier_file_name
from backend.database.migration.service import MigrationService
from backend.sample.legacy_factory import LegacyLibrary, LegacyRowSpec, make_legacy_library
from tests.helpers.library_snapshot import snapshot_tree


def make_service(data_dir: Path, url: str | None = None) -> MigrationService:
    return MigrationService(Settings(data_dir=data_dir, database_url=url))


def only(lib: LegacyLibrary, case: str) -> LegacyRowSpec:
    rows = lib.by_case(case)
    assert len(rows) == 1
    return rows[0]


def row_of(report: AuditReport, legacy_id: int) -> RowAudit:
    return next(r for r in report.rows if r.legacy_id == legacy_id)


def problem_keys(report: AuditReport) -> set[tuple[str, int | None]]:
    return {(p.code, p.legacy_id) for p in report.problems()}


def item_id_of(service: MigrationService, run_id: int, legacy_id: int) -> int:
    item = service.store.item_by_source(run_id, str(legacy_id))
    assert item is not None
    return item.id


def file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[LegacyLibrary]:
    """The CASES library; the test fails if anything under it changed (the DB's bytes too)."""
    lib = make_legacy_library(tmp_path / "legacy")
    before = snapshot_tree(lib.root)
    db_bytes = file_sha(lib.db_path)
    yield lib
    assert file_sha(lib.db_path) == db_bytes, "the audit wrote to the legacy DB"
    assert snapshot_tree(lib.root) == before, "the legacy library was modified"


# --- a clean migration --------------------------------------------------------------------------


def test_a_clean_migration_audits_clean_once_the_conflict_is_resolved(
    legacy: LegacyLibrary, tmp_path: Path, db_url: str
) -> None:
    service = make_service(tmp_path / "data", db_url)
    try:
        run = service.start_legacy_run(legacy.db_path, legacy.images_dir)
        service.run_until_done(run.id)
        promoted = service.promote_batch(None)
        assert len(promoted.success) == 2
        winner, copy = legacy.by_case("duplicate_hash")
        copy_item = item_id_of(service, run.id, copy.legacy_id)

        waiting = audit(service, None)
        total = len(legacy.rows)
        assert waiting.run_id == run.id
        assert waiting.exit_code == 3 and not waiting.ok
        assert waiting.problems() == []
        assert [n.legacy_id for n in waiting.needs_decision] == [copy.legacy_id]
        need = waiting.needs_decision[0]
        assert need.item_id == copy_item and need.state == "conflicted"
        assert f"model-migrate resolve {copy_item} merge" in need.commands
        assert waiting.summary == (
            f"{total} of {total} legacy models accounted for;"
            f" 1 needs a decision (legacy id {copy.legacy_id})"
        )
        conflicted = row_of(waiting, copy.legacy_id)
        assert conflicted.outcome == "conflicted"
        assert conflicted.conflict_with is not None
        assert conflicted.conflict_with.legacy_id == winner.legacy_id
        assert conflicted.conflict_with.model_exists

        service.resolve(copy_item, "merge")
        service.run_until_done(run.id)
        report = audit(service, run.id)
        deep = audit(service, run.id, deep=True)
    finally:
        service.close()

    assert report.problems() == [], report.problems()
    assert report.exit_code == 0 and report.ok
    assert report.summary == f"{total} of {total} legacy models accounted for; 0 need a decision"
    assert report.accounted == report.legacy_rows == total
    assert report.outcomes == {"model": total}
    # both duplicate rows are named as combined, and the winner holds both images
    for spec in (winner, copy):
        assert row_of(report, spec.legacy_id).combined_by == "merge"
    merged = row_of(report, winner.legacy_id)
    assert merged.images_count == merged.images_expected == 2
    assert row_of(report, copy.legacy_id).decision is not None
    assert row_of(report, copy.legacy_id).decision.strategy == "merge"  # type: ignore[union-attr]
    # staged rows were promoted in stage 2 and count as models
    for case in ("garbage_hash", "empty_hash"):
        staged = row_of(report, only(legacy, case).legacy_id)
        assert staged.state == "staged" and staged.outcome == "model"
        assert staged.promoted_by_item is not None and staged.images_count == 1
    # bad images are listed with their warning codes
    assert [
        b.code for b in row_of(report, only(legacy, "truncated_image").legacy_id).bad_images
    ] == ["image_truncated"]
    assert [b.code for b in row_of(report, only(legacy, "missing_image").legacy_id).bad_images] == [
        "image_missing"
    ]
    assert row_of(report, only(legacy, "several_images").legacy_id).images_count == 3
    assert report.counts.tier_files_checked > 0 and report.counts.tier_files_decoded == 0
    assert deep.exit_code == 0 and deep.counts.tier_files_decoded == deep.counts.tier_files_checked


def test_a_row_ignored_up_front_is_accounted_with_its_decision(
    legacy: LegacyLibrary, tmp_path: Path
) -> None:
    service = make_service(tmp_path / "data")
    try:
        run = service.start_legacy_run(legacy.db_path, legacy.images_dir, on_conflict="ignore")
        service.run_until_done(run.id)
        report = audit(service, run.id)
    finally:
        service.close()
    winner, copy = legacy.by_case("duplicate_hash")
    ignored = row_of(report, copy.legacy_id)
    assert ignored.outcome == "ignored" and ignored.decision is not None
    assert ignored.decision.strategy == "ignore" and ignored.decision.at_iso.startswith("20")
    assert row_of(report, winner.legacy_id).combined_by is None
    # the staged rows are still pending models: accounted for, nothing to decide
    assert report.outcomes == {"model": len(legacy.rows) - 3, "pending": 2, "ignored": 1}
    assert report.exit_code == 0, report.problems()
    assert report.counts.pending_checked == 2


def test_an_unfinished_run_is_not_accounted_for(legacy: LegacyLibrary, tmp_path: Path) -> None:
    service = make_service(tmp_path / "data")
    try:
        run = service.start_legacy_run(legacy.db_path, legacy.images_dir)
        report = audit(service, run.id)
    finally:
        service.close()
    assert report.exit_code == 1
    assert report.accounted == 0
    assert {p.code for p in report.problems()} == {"row_unfinished"}
    assert report.summary.startswith(f"0 of {len(legacy.rows)} legacy models accounted for")


# --- damage by hand -----------------------------------------------------------------------------


@dataclass
class Migrated:
    """A migrated library (copied per test): one staged row still pending, one promoted."""

    legacy: LegacyLibrary
    data: Path
    run_id: int
    pending_spec: LegacyRowSpec  # still a pending model
    promoted_spec: LegacyRowSpec  # staged, then promoted in stage 2

    @property
    def url(self) -> str:
        return f"sqlite:///{self.data / 'library.sqlite3'}"

    def sql(self, statement: str, **params: object) -> None:
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                conn.execute(text(statement), params)
        finally:
            engine.dispose()

    def update_meta(self, sha256: str, **changes: object) -> None:
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                meta = json.loads(
                    conn.execute(
                        text("SELECT meta_json FROM models WHERE sha256 = :sha"), {"sha": sha256}
                    ).scalar_one()
                )
                conn.execute(
                    text("UPDATE models SET meta_json = :meta WHERE sha256 = :sha"),
                    {"sha": sha256, "meta": json.dumps({**meta, **changes})},
                )
        finally:
            engine.dispose()

    def audit(self, *, deep: bool = False) -> AuditReport:
        service = make_service(self.data)
        try:
            return audit(service, self.run_id, deep=deep)
        finally:
            service.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Migrated:
    root = tmp_path_factory.mktemp("audit-template")
    lib = make_legacy_library(root / "legacy")
    service = make_service(root / "data")
    try:
        run = service.start_legacy_run(lib.db_path, lib.images_dir)
        service.run_until_done(run.id)
        copy = lib.by_case("duplicate_hash")[1]
        service.resolve(item_id_of(service, run.id, copy.legacy_id), "merge")
        service.run_until_done(run.id)
        pending = {p.path: p.id for p in service.pending_models()}
        promoted_spec = only(lib, "garbage_hash")
        assert service.promote_batch([pending[promoted_spec.path]]).success
    finally:
        service.close()
    return Migrated(lib, root / "data", run.id, only(lib, "empty_hash"), promoted_spec)


@pytest.fixture
def lib(template: Migrated, tmp_path: Path) -> Migrated:
    data = tmp_path / "data"
    shutil.copytree(template.data, data, symlinks=True)
    copy = Migrated(
        template.legacy, data, template.run_id, template.pending_spec, template.promoted_spec
    )
    assert copy.audit().exit_code == 0, copy.audit().problems()
    return copy


def sha_of(spec: LegacyRowSpec) -> str:
    return spec.hash_hex.lower()


def test_a_deleted_tier_file(lib: Migrated) -> None:
    valid = only(lib.legacy, "valid")
    name = tier_file_name(sha_of(valid), 0, "medium")
    (lib.data / "images" / name).unlink()
    report = lib.audit()
    assert problem_keys(report) == {("tier_missing", valid.legacy_id)}
    assert report.problems()[0].file == name
    assert report.exit_code == 1
    assert report.summary.endswith("; 1 inconsistency to fix")


def test_a_changed_description(lib: Migrated) -> None:
    valid = only(lib.legacy, "valid")
    lib.update_meta(sha_of(valid), description="edited by hand")
    report = lib.audit()
    assert problem_keys(report) == {("field_mismatch", valid.legacy_id)}
    (problem,) = report.problems()
    assert problem.message.startswith(f'model {sha_of(valid)}: description is "edited by hand"')
    assert f"Notes about valid_{valid.legacy_id}." in problem.message
    assert report.exit_code == 1


def test_a_dropped_extra_key(lib: Migrated) -> None:
    spec = only(lib.legacy, "unknown_keys")
    lib.update_meta(sha_of(spec), extra={"rating": 4.5})
    report = lib.audit()
    assert problem_keys(report) == {("extra_key_missing", spec.legacy_id)}
    named = {p.message.split("extra key ")[1].split(" ")[0] for p in report.problems()}
    assert {"'source'", "'trigger_words'", "'legacy_meta'"} <= named
    assert "'rating'" not in named


def test_a_dropped_tag(lib: Migrated) -> None:
    spec = only(lib.legacy, "unicode_tags")
    lib.sql(
        "DELETE FROM model_tags WHERE model_hash = :sha"
        " AND tag_id = (SELECT id FROM tags WHERE name = '日本語')",
        sha=sha_of(spec),
    )
    report = lib.audit()
    assert problem_keys(report) == {("tags_missing", spec.legacy_id)}
    assert "日本語" in report.problems()[0].message
    assert report.exit_code == 1


def test_an_added_tag_on_a_model_that_was_not_combined(lib: Migrated) -> None:
    spec = only(lib.legacy, "valid")
    lib.sql("INSERT INTO tags (name) VALUES ('made up')")
    lib.sql(
        "INSERT INTO model_tags (model_hash, tag_id)"
        " SELECT :sha, id FROM tags WHERE name = 'made up'",
        sha=sha_of(spec),
    )
    assert problem_keys(lib.audit()) == {("tags_extra", spec.legacy_id)}


@pytest.mark.parametrize(
    ("name", "code"),
    [
        (tier_file_name("ab" * 32, 0, "high"), "orphan_image"),
        ("holiday.webp", "unexpected_file"),
        (".x.webp.123.tmp", "temp_file_leftover"),
    ],
)
def test_an_added_file(lib: Migrated, name: str, code: str) -> None:
    Image.new("RGB", (8, 8)).save(lib.data / "images" / name, "WEBP")
    report = lib.audit()
    assert [(p.code, p.legacy_id, p.file) for p in report.problems()] == [(code, None, name)]
    assert report.library_problems[0].fix
    assert report.exit_code == 1


def test_a_tier_file_beyond_images_count(lib: Migrated) -> None:
    valid = only(lib.legacy, "valid")
    name = tier_file_name(sha_of(valid), 1, "low")
    shutil.copy(
        lib.data / "images" / tier_file_name(sha_of(valid), 0, "low"), lib.data / "images" / name
    )
    report = lib.audit()
    assert [(p.code, p.file) for p in report.problems()] == [("tier_beyond_count", name)]


def test_a_deleted_pending_row(lib: Migrated) -> None:
    spec = lib.pending_spec
    lib.sql("DELETE FROM pending_model_tags")  # only this row is still pending
    lib.sql("DELETE FROM pending_import WHERE path = :path", path=spec.path)
    report = lib.audit()
    # the row is no longer accounted for, and its copied original is now an orphan
    assert problem_keys(report) == {
        ("pending_row_missing", spec.legacy_id),
        ("pending_original_orphan", None),
    }
    assert row_of(report, spec.legacy_id).outcome == "missing"
    assert report.accounted == report.legacy_rows - 1
    assert report.exit_code == 1


def test_a_deleted_pending_original(lib: Migrated) -> None:
    spec = lib.pending_spec
    originals = list((lib.data / "images" / "pending").iterdir())
    assert len(originals) == 1
    originals[0].unlink()
    report = lib.audit()
    assert problem_keys(report) == {("pending_original_missing", spec.legacy_id)}
    source = lib.legacy.images_dir / spec.image_urls[0].removeprefix("/media/")
    assert str(source) in report.problems()[0].fix
    assert row_of(report, spec.legacy_id).outcome == "pending"


def test_a_changed_pending_row_tag_and_field(lib: Migrated) -> None:
    spec = lib.pending_spec
    lib.sql("UPDATE pending_import SET name = 'renamed' WHERE path = :path", path=spec.path)
    lib.sql("DELETE FROM pending_model_tags")
    report = lib.audit()
    assert problem_keys(report) == {
        ("field_mismatch", spec.legacy_id),
        ("tags_missing", spec.legacy_id),
    }


def test_a_failed_promotion_of_a_staged_row_needs_a_retry(lib: Migrated, tmp_path: Path) -> None:
    spec = lib.pending_spec
    gone = tmp_path / "moved-away.safetensors"
    lib.sql(
        "UPDATE pending_import SET path = :gone WHERE path = :path", gone=str(gone), path=spec.path
    )
    service = make_service(lib.data)
    try:
        result = service.promote_batch(None)
    finally:
        service.close()
    assert len(result.failed) == 1
    report = lib.audit()
    row = row_of(report, spec.legacy_id)
    assert row.outcome == "pending"
    (need,) = report.needs_decision
    assert need.legacy_id == spec.legacy_id and need.state == "failed"
    assert need.commands == [f"model-migrate retry --item {need.item_id}"]
    assert "source_missing" in need.reason
    # the hand-moved path is itself reported, so this audit exits 1, not 3
    assert problem_keys(report) == {("field_mismatch", spec.legacy_id)}
    assert "path is" in report.problems()[0].message


def test_a_deleted_model(lib: Migrated) -> None:
    spec = lib.promoted_spec  # staged in stage 1, promoted in stage 2
    report = lib.audit()
    sha = row_of(report, spec.legacy_id).sha256
    assert sha is not None and row_of(report, spec.legacy_id).promoted_by_item is not None
    lib.sql("DELETE FROM model_tags WHERE model_hash = :sha", sha=sha)
    lib.sql("DELETE FROM models WHERE sha256 = :sha", sha=sha)
    report = lib.audit()
    assert problem_keys(report) == {("model_missing", spec.legacy_id), ("orphan_image", None)}
    assert {p.file for p in report.problems() if p.code == "orphan_image"} == {
        tier_file_name(sha, 0, t) for t in ("high", "medium", "low")
    }
    assert report.accounted == report.legacy_rows - 1


def test_a_wrong_images_count(lib: Migrated) -> None:
    spec = only(lib.legacy, "several_images")
    lib.update_meta(sha_of(spec), images_count=4)
    report = lib.audit()
    assert ("images_count_mismatch", spec.legacy_id) in problem_keys(report)
    # the fourth image's three tiers are reported missing too
    assert sum(p.code == "tier_missing" for p in report.problems()) == 3


TierDamage = Callable[[Path], None]


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a webp at all")


def _resized(path: Path) -> None:
    Image.new("RGB", (5, 5)).save(path, "WEBP")


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _scrambled(path: Path) -> None:
    """Keep the RIFF/VP8 headers up to the frame size, overwrite the compressed pixels."""
    data = path.read_bytes()
    assert data[12:16] == b"VP8 "  # lossy; the frame width/height are bytes 26..29
    path.write_bytes(data[:30] + b"\xff" * (len(data) - 30))


@pytest.mark.parametrize(
    ("damage", "code", "deep"),
    [
        (_garbage, "tier_unreadable", False),
        (_resized, "tier_wrong_size", False),
        (_truncated, "tier_unreadable", False),
        (_scrambled, "tier_corrupt", True),
    ],
)
def test_a_damaged_tier_file(lib: Migrated, damage: TierDamage, code: str, deep: bool) -> None:
    spec = only(lib.legacy, "exif_rotated_image")  # expected sizes follow the EXIF rotation
    path = lib.data / "images" / tier_file_name(sha_of(spec), 0, "high")
    damage(path)
    report = lib.audit(deep=deep)
    assert [(p.code, p.legacy_id) for p in report.problems()] == [(code, spec.legacy_id)]
    if deep:  # the default check reads headers only: this damage needs --deep
        assert lib.audit().problems() == []


def test_an_unused_tag_without_legacy_origin(lib: Migrated) -> None:
    lib.sql("INSERT INTO tags (name) VALUES ('nobody uses me')")
    report = lib.audit()
    assert [p.code for p in report.problems()] == ["tag_unexplained"]
    assert "nobody uses me" in report.problems()[0].message


def test_the_rerun_fix_repairs_a_deleted_tier_and_a_changed_description(
    lib: Migrated, tmp_path: Path
) -> None:
    valid = only(lib.legacy, "valid")
    (lib.data / "images" / tier_file_name(sha_of(valid), 0, "high")).unlink()
    lib.update_meta(sha_of(valid), description="edited by hand")
    broken = lib.audit()
    assert problem_keys(broken) == {
        ("tier_missing", valid.legacy_id),
        ("field_mismatch", valid.legacy_id),
    }
    assert all(RERUN in p.fix for p in broken.problems())
    copy = tmp_path / "copy.sqlite3"
    shutil.copy(lib.legacy.db_path, copy)
    service = make_service(lib.data)
    try:
        service.migrate_legacy(copy, lib.legacy.images_dir)
    finally:
        service.close()
    assert lib.audit().problems() == []


# --- the command --------------------------------------------------------------------------------


def test_verify_command_prints_the_report_and_exits_with_its_code(lib: Migrated) -> None:
    runner = CliRunner()
    env = {"MODEL_MIGRATE_DATA_DIR": str(lib.data), "MODEL_MIGRATE_DATABASE_URL": lib.url}
    clean = runner.invoke(verify, ["--json"], env=env)
    assert clean.exit_code == 0, clean.output
    payload = json.loads(clean.output)
    assert payload["ok"] is True and payload["run_id"] == lib.run_id
    assert payload["summary"].startswith(f"{len(lib.legacy.rows)} of {len(lib.legacy.rows)}")

    valid = only(lib.legacy, "valid")
    (lib.data / "images" / tier_file_name(sha_of(valid), 0, "low")).unlink()
    human = runner.invoke(verify, [str(lib.run_id)], env=env)
    assert human.exit_code == 1
    assert "tier_missing" in human.output
    assert "1 inconsistency to fix" in human.output

    missing = runner.invoke(verify, ["999"], env=env)
    assert missing.exit_code == 2
