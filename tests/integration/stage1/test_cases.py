"""Stage 1 end to end through MigrationService: every legacy case migrates as specified."""

from __future__ import annotations

import json
from pathlib import Path

from backend.database.migration.types import V1_ALIASES
from backend.sample.legacy_factory import LegacyLibrary
from tests.helpers.legacy_cases import only, typed
from tests.helpers.library_snapshot import (
    expected_tiers,
    orphan_problems,
    snapshot_library,
    tier_files,
)
from tests.helpers.service import codes, items_by_legacy_id, make_service, migrate


def test_every_legacy_case_migrates_as_specified(
    legacy: LegacyLibrary, tmp_path: Path, db_url: str
) -> None:
    data = tmp_path / "data"
    service = make_service(data, db_url)
    try:
        run_id = migrate(service, legacy)
        status = service.run_status(run_id)
        items = items_by_legacy_id(service, run_id)
    finally:
        service.close()
    snap = snapshot_library(data, db_url)
    images = data / "images"
    assert status.finished
    assert status.counts["staged"] == 2
    assert status.counts["conflicted"] == 1
    assert status.counts["failed"] == 0
    assert status.counts["promoted"] == len(legacy.rows) - 3

    for row in legacy.rows:
        item = items[row.legacy_id]
        if row.case in ("garbage_hash", "empty_hash"):
            continue
        if row.case == "duplicate_hash" and row is legacy.by_case("duplicate_hash")[1]:
            continue
        assert item.state == "promoted", (row.case, item)  # type: ignore[attr-defined]
        sha = row.hash_hex.lower()
        model = snap.model(sha)
        assert model["path"] == row.path
        assert model["type"] == V1_ALIASES.get(row.type, row.type)
        assert model["created_at"] == row.created_at
        assert model["size_bytes"] == row.size_bytes
        assert snap.tags_of(sha) == sorted({t.strip().lower() for t in row.tags}), row.case
        count = model["meta"]["images_count"]
        assert count == row.good_images, row.case
        assert tier_files(images, sha) == expected_tiers(sha, count), row.case
        assert item.artifacts["image_seqs"] == list(range(count))  # type: ignore[attr-defined]

    # valid: every user field mapped
    valid = only(legacy, "valid")
    meta = snap.model(valid.hash_hex)["meta"]
    extra = json.loads(valid.extra_json or "{}")
    assert meta["description"] == extra["description"]
    assert meta["community_links"] == extra["community_links"]
    assert meta["prompts"] == extra["prompts"]
    assert meta["extra"] == typed(valid.type)
    assert snap.model(valid.hash_hex)["name"] == valid.name
    assert codes(items[valid.legacy_id]) == []

    # upper-case hash stored lower-case
    upper = only(legacy, "uppercase_hash")
    assert upper.hash_hex != upper.hash_hex.lower()
    assert upper.hash_hex.lower() in {m[0] for m in snap.models}
    assert upper.hash_hex not in {m[0] for m in snap.models}
    assert all(m[0] == m[0].lower() and len(m[0]) == 64 for m in snap.models)

    # garbage / empty hash: staged as pending rows with tags and copies of the images
    for case in ("garbage_hash", "empty_hash"):
        row = only(legacy, case)
        item = items[row.legacy_id]
        assert item.state == "staged"  # type: ignore[attr-defined]
        pending = snap.pending_by_path(row.path)
        assert pending["sha256"] is None
        assert pending["tags"] == sorted(row.tags)
        assert pending["meta"]["description"] == f"Notes about {case}_{row.legacy_id}."
        copies = pending["meta"]["images"]
        assert len(copies) == 1
        original = legacy.images_dir / row.image_urls[0].removeprefix("/media/")
        assert (images / "pending" / copies[0]).read_bytes() == original.read_bytes()
        assert row.content_sha256 not in {m[0] for m in snap.models}

    # duplicates: the lower id imports, the higher is conflicted
    first, second = legacy.by_case("duplicate_hash")
    assert first.legacy_id < second.legacy_id
    assert first.hash_hex == second.hash_hex
    assert snap.model(first.hash_hex)["path"] == first.path
    assert snap.model(first.hash_hex)["meta"]["images_count"] == 1
    conflicted = items[second.legacy_id]
    assert conflicted.state == "conflicted"  # type: ignore[attr-defined]
    assert conflicted.artifacts["conflict"]["legacy_id"] == first.legacy_id  # type: ignore[attr-defined]

    # extra: null / empty / malformed / not an object / unknown keys — nothing dropped
    for case in ("null_extra", "empty_extra"):
        meta = snap.model(only(legacy, case).hash_hex)["meta"]
        assert meta["extra"] == typed(only(legacy, case).type) and meta["description"] == ""
        assert codes(items[only(legacy, case).legacy_id]) == []
    for case in ("malformed_extra", "non_object_extra"):
        row = only(legacy, case)
        meta = snap.model(row.hash_hex)["meta"]
        assert meta["extra"]["legacy_extra_raw"] == row.extra_json
        if row.meta_json is not None:  # the scanner metadata is not dropped either
            assert row.meta_json in json.dumps(meta["extra"], ensure_ascii=False) or any(
                row.meta_json == v for v in meta["extra"].values()
            )
        assert codes(items[row.legacy_id]) == ["legacy_extra_invalid"]
    unknown = only(legacy, "unknown_keys")
    meta = snap.model(unknown.hash_hex)["meta"]
    assert meta["description"] == "has extra keys"
    assert {k: v for k, v in meta["extra"].items() if not k.startswith("legacy_meta_")} == {
        "rating": 4.5,
        "source": {"site": "civitai", "model_id": 1234},
        "trigger_words": ["foo", "bar"],
        "legacy_meta": "a user key that looks like ours",
        **typed(unknown.type),
    }
    wrong = only(legacy, "wrong_field_types")
    meta = snap.model(wrong.hash_hex)["meta"]
    assert meta["extra"]["note"] == "kept as is"
    assert meta["extra"]["legacy_description"] == 42
    assert meta["extra"]["legacy_prompts"] == ["masterpiece"]

    # Unicode tags, case-folded and trimmed
    uni = only(legacy, "unicode_tags")
    assert snap.tags_of(uni.hash_hex) == sorted({uni.type, "日本語", "concept art"})
    assert "日本語" in snap.tags

    # several images: seqs 0..k-1 with three tiers each
    several = only(legacy, "several_images")
    assert several.good_images == 3
    assert snap.model(several.hash_hex)["meta"]["images_count"] == 3
    assert tier_files(images, several.hash_hex) == expected_tiers(several.hash_hex, 3)

    # bad images are warnings with a code; the model still migrates
    expected_codes = {
        "missing_image": ["image_missing"],
        "truncated_image": ["image_truncated"],
        "non_image": ["image_unreadable"],
        "huge_image": ["image_too_large"],
        "cmyk_image": [],
        "gray16_image": [],
        "animated_image": [],
        "dotdot_url": ["image_outside_legacy_dir"],
        "absolute_url": ["image_outside_legacy_dir", "image_outside_legacy_dir"],
        "symlink_escape": ["image_outside_legacy_dir"],
        "model_file_missing": ["model_file_missing"],
    }
    for case, wanted in expected_codes.items():
        row = only(legacy, case)
        item = items[row.legacy_id]
        assert item.state == "promoted", case  # type: ignore[attr-defined]
        assert codes(item) == wanted, case
        assert all(w.file for w in item.warnings), case  # type: ignore[attr-defined]
    for case in ("cmyk_image", "gray16_image", "animated_image", "alpha_image"):
        assert snap.model(only(legacy, case).hash_hex)["meta"]["images_count"] == 1, case

    # model file deleted: metadata still migrates
    gone = only(legacy, "model_file_missing")
    assert not Path(gone.path).exists()
    assert snap.model(gone.hash_hex)["meta"]["description"].startswith("Notes about")

    assert orphan_problems(snap) == []


def test_migrate_legacy_summary(legacy: LegacyLibrary, tmp_path: Path) -> None:
    service = make_service(tmp_path / "data")
    try:
        result = service.migrate_legacy(legacy.db_path, legacy.images_dir)
    finally:
        service.close()
    good = sum(
        r.good_images for r in legacy.rows if r.hash_hex.lower() != "" and len(r.hash_hex) == 64
    )
    second = legacy.by_case("duplicate_hash")[1]
    assert result.status == "needs_attention"
    assert result.db_migration["migrated"] == len(legacy.rows) - 3
    assert result.db_migration["pending"] == 2
    assert result.db_migration["conflicts"] == 1
    assert result.db_migration["errors"] == 0
    assert result.db_migration["images_processed"] == good - second.good_images
    assert result.backup_path is None
