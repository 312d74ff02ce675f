"""The audit reports hand-made damage to pending models (staged rows) precisely."""

from __future__ import annotations

from pathlib import Path

from backend.cli.verify import exit_code
from tests.helpers.audit_library import Migrated, problem_keys, row_of
from tests.helpers.service import make_service


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
    assert exit_code(report) == 1


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
