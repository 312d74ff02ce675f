"""The audit (issue 10) of whole runs: a clean migration audits clean, decisions are named,
an unfinished run is not accounted for."""

from __future__ import annotations

from pathlib import Path

from backend.cli.verify import exit_code
from backend.sample.legacy_factory import LegacyLibrary
from tests.helpers.audit_library import item_id_of, row_of
from tests.helpers.legacy_cases import only
from tests.helpers.service import make_service


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

        waiting = service.audit(None)
        total = len(legacy.rows)
        assert waiting.run_id == run.id
        assert exit_code(waiting) == 3 and not waiting.ok
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
        report = service.audit(run.id)
        deep = service.audit(run.id, deep=True)
    finally:
        service.close()

    assert report.problems() == [], report.problems()
    assert exit_code(report) == 0 and report.ok
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
    assert exit_code(deep) == 0 and deep.counts.tier_files_decoded == deep.counts.tier_files_checked


def test_a_row_ignored_up_front_is_accounted_with_its_decision(
    legacy: LegacyLibrary, tmp_path: Path
) -> None:
    service = make_service(tmp_path / "data")
    try:
        run = service.start_legacy_run(legacy.db_path, legacy.images_dir, on_conflict="ignore")
        service.run_until_done(run.id)
        report = service.audit(run.id)
    finally:
        service.close()
    winner, copy = legacy.by_case("duplicate_hash")
    ignored = row_of(report, copy.legacy_id)
    assert ignored.outcome == "ignored" and ignored.decision is not None
    assert ignored.decision.strategy == "ignore" and ignored.decision.at_iso.startswith("20")
    assert row_of(report, winner.legacy_id).combined_by is None
    # the staged rows are still pending models: accounted for, nothing to decide
    assert report.outcomes == {"model": len(legacy.rows) - 3, "pending": 2, "ignored": 1}
    assert exit_code(report) == 0, report.problems()
    assert report.counts.pending_checked == 2


def test_an_unfinished_run_is_not_accounted_for(legacy: LegacyLibrary, tmp_path: Path) -> None:
    service = make_service(tmp_path / "data")
    try:
        run = service.start_legacy_run(legacy.db_path, legacy.images_dir)
        report = service.audit(run.id)
    finally:
        service.close()
    assert exit_code(report) == 1
    assert report.accounted == 0
    assert {p.code for p in report.problems()} == {"row_unfinished"}
    assert report.summary.startswith(f"0 of {len(legacy.rows)} legacy models accounted for")
