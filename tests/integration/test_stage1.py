"""Stage 1 end to end through MigrationService: every legacy case, tags, re-runs, conflicts."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from backend.config import Settings
from backend.database.migration.images import TIERS, tier_file_name
from backend.database.migration.service import MigrationService
from backend.database.migration.steps import legacy as steps
from backend.sample.legacy_factory import (
    LegacyLibrary,
    LegacyRowSpec,
    make_legacy_library,
    make_sample_library,
)
from tests.helpers.library_snapshot import (
    LibrarySnapshot,
    orphan_problems,
    snapshot_library,
    snapshot_tree,
)
from workflows.records import WorkItem


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[LegacyLibrary]:
    """The CASES library; the test fails if anything under it changed."""
    lib = make_legacy_library(tmp_path / "legacy")
    before = snapshot_tree(lib.root)
    yield lib
    assert snapshot_tree(lib.root) == before, "the legacy library was modified"


def make_service(data_dir: Path, url: str | None = None) -> MigrationService:
    return MigrationService(Settings(data_dir=data_dir, database_url=url))


def url_of(service: MigrationService) -> str:
    return service.settings.resolved_database_url


def migrate(service: MigrationService, lib: LegacyLibrary, **kwargs: object) -> int:
    run = service.start_legacy_run(lib.db_path, lib.images_dir, **kwargs)  # type: ignore[arg-type]
    service.run_until_done(run.id)
    return run.id


def items_by_legacy_id(service: MigrationService, run_id: int) -> dict[int, object]:
    page = service.list_items(run_id, limit=1000)
    return {int(i.source_key): i for i in page.items}


def codes(item: object) -> list[str]:
    return sorted(w.code for w in item.warnings)  # type: ignore[attr-defined]


def tier_files(images_dir: Path, sha: str) -> set[str]:
    return {p.name for p in images_dir.glob(f"{sha}_*.webp")}


def expected_tiers(sha: str, count: int) -> set[str]:
    return {tier_file_name(sha, s, t) for s in range(count) for t, _f, _q in TIERS}


def only(lib: LegacyLibrary, case: str) -> LegacyRowSpec:
    rows = lib.by_case(case)
    assert len(rows) == 1
    return rows[0]


# --- every case ---------------------------------------------------------------------------------


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
        assert model["type"] == row.type
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
    assert meta["extra"] == {}
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
        assert meta["extra"] == {} and meta["description"] == ""
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


# --- tags ---------------------------------------------------------------------------------------


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


# --- --on-conflict ------------------------------------------------------------------------------


def _duplicate_library(root: Path) -> tuple[LegacyLibrary, LegacyRowSpec, LegacyRowSpec]:
    """Two rows with the same hash and different user data (the winner has empty fields)."""
    lib = make_legacy_library(root, cases=("valid", "duplicate_hash"))
    winner, loser = lib.by_case("duplicate_hash")
    conn = sqlite3.connect(lib.db_path)
    with conn:
        for row, extra in (
            (
                winner,
                {
                    "description": "",
                    "community_links": "https://a.invalid",
                    "prompts": {"positive": "", "negative": "winner negative"},
                    "images": winner.image_urls,
                    "k1": "winner",
                },
            ),
            (
                loser,
                {
                    "description": "loser description",
                    "community_links": "https://b.invalid",
                    "prompts": {"positive": "loser positive", "negative": "loser negative"},
                    "images": loser.image_urls,
                    "k1": "loser",
                    "k2": "only in loser",
                },
            ),
        ):
            conn.execute(
                "UPDATE models SET extra_json = ? WHERE id = ?", (json.dumps(extra), row.legacy_id)
            )
        tag_id = conn.execute("SELECT MAX(id) + 1 FROM tags").fetchone()[0]
        conn.execute("INSERT INTO tags (id, name) VALUES (?, 'loser-only')", (tag_id,))
        conn.execute("INSERT INTO model_tags VALUES (?, ?)", (loser.legacy_id, tag_id))
    conn.close()
    return lib, winner, loser


@pytest.mark.parametrize("strategy", ["override", "merge", "ignore"])
def test_on_conflict_strategies_for_duplicate_hashes(tmp_path: Path, strategy: str) -> None:
    lib, winner, loser = _duplicate_library(tmp_path / "legacy")
    before = snapshot_tree(lib.root)
    data = tmp_path / "data"
    service = make_service(data)
    try:
        run_id = migrate(service, lib, on_conflict=strategy)
        items = items_by_legacy_id(service, run_id)
        history = [e.trigger for e in service.item_detail(items[loser.legacy_id].id).events]  # type: ignore[attr-defined]
    finally:
        service.close()
    snap = snapshot_library(data, url_of(service))
    sha = winner.hash_hex
    model = snap.model(sha)
    meta = model["meta"]
    assert items[winner.legacy_id].state == "promoted"  # type: ignore[attr-defined]
    assert history[:2] == ["conflict", "resolve"]
    if strategy == "ignore":
        assert items[loser.legacy_id].state == "ignored"  # type: ignore[attr-defined]
        assert model["path"] == winner.path and model["name"] == winner.name
        assert meta["description"] == "" and meta["extra"] == {"k1": "winner"}
        assert meta["images_count"] == 1
        assert snap.tags_of(sha) == sorted(set(winner.tags))
    else:
        assert items[loser.legacy_id].state == "promoted"  # type: ignore[attr-defined]
        assert meta["images_count"] == 2
        assert snap.tags_of(sha) == sorted({*winner.tags, "loser-only"})
        if strategy == "override":
            assert model["path"] == loser.path and model["name"] == loser.name
            assert meta["description"] == "loser description"
            assert meta["community_links"] == "https://b.invalid"
            assert meta["prompts"] == {"positive": "loser positive", "negative": "loser negative"}
            assert meta["extra"] == {"k1": "loser", "k2": "only in loser"}
        else:
            assert model["path"] == winner.path and model["name"] == winner.name
            assert meta["description"] == "loser description"
            assert meta["community_links"] == "https://a.invalid"
            assert meta["prompts"] == {"positive": "loser positive", "negative": "winner negative"}
            assert meta["extra"] == {"k1": "winner", "k2": "only in loser"}
        # the appended image is the loser's own picture, not a copy of the winner's
        high = sorted(
            (data / "images" / tier_file_name(sha, s, "high")).read_bytes() for s in range(2)
        )
        assert high[0] != high[1]
    assert tier_files(data / "images", sha) == expected_tiers(sha, meta["images_count"])
    assert orphan_problems(snap) == []
    assert snapshot_tree(lib.root) == before


def test_resolve_a_conflicted_duplicate_afterwards(legacy: LegacyLibrary, tmp_path: Path) -> None:
    data = tmp_path / "data"
    service = make_service(data)
    try:
        run_id = migrate(service, legacy)
        first, second = legacy.by_case("duplicate_hash")
        item = items_by_legacy_id(service, run_id)[second.legacy_id]
        service.resolve(item.id, "merge")  # type: ignore[attr-defined]
        status = service.run_until_done(run_id)
        events = [e.trigger for e in service.item_detail(item.id).events]  # type: ignore[attr-defined]
    finally:
        service.close()
    snap = snapshot_library(data, url_of(service))
    assert status.counts["conflicted"] == 0
    assert events[:3] == ["conflict", "resolve", "import_model"]
    assert snap.model(first.hash_hex)["meta"]["images_count"] == 2
    assert snap.model(first.hash_hex)["path"] == first.path
    assert orphan_problems(snap) == []


# --- workers ------------------------------------------------------------------------------------


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


def test_on_conflict_append_survives_the_winner_processing_its_images_late(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loser appends while the winner's image step is still to come (transient failure)."""
    lib, winner, loser = _duplicate_library(tmp_path / "legacy")
    real_render = steps.render_images
    failed: list[str] = []

    def flaky_render(item: WorkItem, *args: object, **kwargs: object) -> int:
        if item.source_key == str(winner.legacy_id) and not failed:
            failed.append(item.source_key)
            raise OSError("images disk busy")
        return real_render(item, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(steps, "render_images", flaky_render)
    data = tmp_path / "data"
    service = make_service(data)
    try:
        run_id = migrate(service, lib, on_conflict="override")
        items = items_by_legacy_id(service, run_id)
    finally:
        service.close()
    assert failed == [str(winner.legacy_id)]
    assert {items[r.legacy_id].state for r in (winner, loser)} == {"promoted"}  # type: ignore[attr-defined]
    snap = snapshot_library(data, url_of(service))
    sha = winner.hash_hex
    assert snap.model(sha)["meta"]["images_count"] == 2
    assert tier_files(data / "images", sha) == expected_tiers(sha, 2)
    high = {(data / "images" / tier_file_name(sha, s, "high")).read_bytes() for s in range(2)}
    assert len(high) == 2, "one row's image was overwritten by the other's"
    assert orphan_problems(snap) == []


def test_the_lowest_legacy_id_imports_even_when_its_duplicate_runs_first(
    tmp_path: Path,
) -> None:
    lib = make_legacy_library(tmp_path / "legacy", cases=["valid", "duplicate_hash"])
    winner, loser = lib.by_case("duplicate_hash")
    service = make_service(tmp_path / "data")
    try:
        run = service.start_legacy_run(lib.db_path, lib.images_dir)
        held = service.store.item_by_source(run.id, str(winner.legacy_id))
        assert held is not None
        with service.engine.begin() as conn:  # another machine's live lease on the winner
            conn.execute(
                text(
                    "UPDATE migration_items SET lease_owner = 'elsewhere:1:x', "
                    "lease_expires_at = 1e12 WHERE id = :id"
                ),
                {"id": held.id},
            )
        service.advance(run.id, 10)
        after_first = service.store.item_by_source(run.id, str(loser.legacy_id))
        with service.engine.begin() as conn:
            conn.execute(
                text("UPDATE migration_items SET lease_owner = NULL WHERE id = :id"),
                {"id": held.id},
            )
        service.run_until_done(run.id)
        model = service.store.item_by_source(run.id, str(winner.legacy_id))
        with service.sessions() as session:
            path = session.execute(
                text("SELECT path FROM models WHERE sha256 = :s"),
                {"s": winner.hash_hex.lower()},
            ).scalar_one()
    finally:
        service.close()
    assert after_first is not None and after_first.state == "conflicted"
    assert after_first.artifacts["conflict"]["legacy_id"] == winner.legacy_id
    assert model is not None and model.state == "promoted"
    assert path == winner.path
