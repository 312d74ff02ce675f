"""The audit reports hand-made damage to model rows and tags precisely."""

from __future__ import annotations

from backend.cli.verify import exit_code
from backend.database.migration.images import tier_file_name
from tests.helpers.audit_library import Migrated, problem_keys, row_of, sha_of
from tests.helpers.legacy_cases import only


def test_a_deleted_tier_file(lib: Migrated) -> None:
    valid = only(lib.legacy, "valid")
    name = tier_file_name(sha_of(valid), 0, "medium")
    (lib.data / "images" / name).unlink()
    report = lib.audit()
    assert problem_keys(report) == {("tier_missing", valid.legacy_id)}
    assert report.problems()[0].file == name
    assert exit_code(report) == 1
    assert report.summary.endswith("; 1 inconsistency to fix")


def test_a_changed_description(lib: Migrated) -> None:
    valid = only(lib.legacy, "valid")
    lib.update_meta(sha_of(valid), description="edited by hand")
    report = lib.audit()
    assert problem_keys(report) == {("field_mismatch", valid.legacy_id)}
    (problem,) = report.problems()
    assert problem.message.startswith(f'model {sha_of(valid)}: description is "edited by hand"')
    assert f"Notes about valid_{valid.legacy_id}." in problem.message
    assert exit_code(report) == 1


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
    assert exit_code(report) == 1


def test_an_added_tag_on_a_model_that_was_not_combined(lib: Migrated) -> None:
    spec = only(lib.legacy, "valid")
    lib.sql("INSERT INTO tags (name) VALUES ('made up')")
    lib.sql(
        "INSERT INTO model_tags (model_hash, tag_id)"
        " SELECT :sha, id FROM tags WHERE name = 'made up'",
        sha=sha_of(spec),
    )
    assert problem_keys(lib.audit()) == {("tags_extra", spec.legacy_id)}


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


def test_an_unused_tag_without_legacy_origin(lib: Migrated) -> None:
    lib.sql("INSERT INTO tags (name) VALUES ('nobody uses me')")
    report = lib.audit()
    assert [p.code for p in report.problems()] == ["tag_unexplained"]
    assert "nobody uses me" in report.problems()[0].message
