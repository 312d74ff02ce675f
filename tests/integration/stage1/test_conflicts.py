"""Stage 1 duplicate hashes: --on-conflict strategies, resolving afterwards, the lowest legacy id
wins whatever the order."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from backend.database.migration.images import tier_file_name
from backend.database.migration.steps import legacy as steps
from backend.sample.legacy_factory import LegacyLibrary, make_legacy_library
from tests.helpers.legacy_cases import typed
from tests.helpers.library_snapshot import (
    expected_tiers,
    orphan_problems,
    snapshot_library,
    snapshot_tree,
    tier_files,
)
from tests.helpers.service import items_by_legacy_id, make_service, migrate, url_of
from tests.helpers.stage_libraries import duplicate_library
from workflows.records import WorkItem


@pytest.mark.parametrize("strategy", ["override", "merge", "ignore"])
def test_on_conflict_strategies_for_duplicate_hashes(tmp_path: Path, strategy: str) -> None:
    lib, winner, loser = duplicate_library(tmp_path / "legacy")
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
        assert meta["description"] == "" and meta["extra"] == {"k1": "winner", **typed(winner.type)}
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
            assert meta["extra"] == {"k1": "loser", "k2": "only in loser", **typed(loser.type)}
        else:
            assert model["path"] == winner.path and model["name"] == winner.name
            assert meta["description"] == "loser description"
            assert meta["community_links"] == "https://a.invalid"
            assert meta["prompts"] == {"positive": "loser positive", "negative": "winner negative"}
            assert meta["extra"] == {"k1": "winner", "k2": "only in loser", **typed(winner.type)}
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


def test_on_conflict_append_survives_the_winner_processing_its_images_late(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loser appends while the winner's image step is still to come (transient failure)."""
    lib, winner, loser = duplicate_library(tmp_path / "legacy")
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
