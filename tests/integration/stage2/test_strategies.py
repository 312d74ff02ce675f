"""Stage 2 through MigrationService: each strategy on a real conflict, up front or resolved."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.database.migration.images import TIERS, tier_file_name
from backend.database.migration.types import V1_ALIASES
from tests.helpers.library_snapshot import expected_tiers, orphan_problems, snapshot_library
from tests.helpers.service import make_service, pending_id_for
from tests.helpers.stage_libraries import COPY_TAG, CopyLibrary, run_stage1


@pytest.mark.parametrize("how", ["upfront", "resolve"])
@pytest.mark.parametrize("strategy", ["override", "merge", "ignore", "delete"])
def test_each_strategy_on_an_unhashed_legacy_copy(
    copy_lib: CopyLibrary, tmp_path: Path, strategy: str, how: str, db_url: str
) -> None:
    data = tmp_path / "data"
    run_stage1(copy_lib.lib, data, db_url)
    url = db_url
    original, copy = copy_lib.original, copy_lib.copy
    sha = original.hash_hex
    before = snapshot_library(data, url)
    pending = before.pending_by_path(copy.path)
    originals = pending["meta"]["images"]
    assert len(originals) == 1 and (data / "images" / "pending" / originals[0]).is_file()
    assert before.model(sha)["meta"]["images_count"] == 1

    service = make_service(data, url)
    try:
        pid = pending_id_for(service, copy.path)
        if how == "upfront":
            result = service.promote_batch([pid], strategy)
        else:
            first = service.promote_batch([pid])
            assert first.conflict and first.conflict[0].pending == {"id": pid, "path": copy.path}
            assert first.conflict[0].existing == {"id": sha, "path": original.path}
            assert first.run_id is not None
            item = service.store.item_by_source(first.run_id, str(pid))
            assert item is not None and item.state == "conflicted"
            service.resolve(item.id, strategy)
            service.run_until_done(first.run_id)
            result = first
        run_id = result.run_id
        assert run_id is not None
        item = service.store.item_by_source(run_id, str(pid))
        assert item is not None
        history = [e.trigger for e in service.item_detail(item.id).events]
    finally:
        service.close()
    after = snapshot_library(data, url)
    model = after.model(sha)
    meta = model["meta"]
    old = before.model(sha)

    assert history[:2] == ["conflict", "resolve"]
    if how == "upfront":
        expected = {
            "override": "success",
            "merge": "success",
            "ignore": "ignored",
            "delete": "deleted",
        }
        assert getattr(result, expected[strategy]) == [pid]
        assert result.total == 1 and not result.failed and not result.conflict

    if strategy in ("ignore", "delete"):
        assert model == old
        assert after.tags_of(sha) == before.tags_of(sha)
        assert after.file_names() - {f"pending/{originals[0]}"} == before.file_names() - {
            f"pending/{originals[0]}"
        }
        if strategy == "ignore":
            assert item.state == "ignored"
            kept = after.pending_by_path(copy.path)
            assert kept["sha256"] == sha  # the hash is saved on the row at once; nothing else
            assert {**kept, "sha256": None} == pending
            assert (data / "images" / "pending" / originals[0]).is_file()
        else:
            assert item.state == "deleted"
            assert [p for p in after.pending if p[0] == copy.path] == []
            assert not (data / "images" / "pending" / originals[0]).exists()
    else:
        assert item.state == "promoted"
        assert [p for p in after.pending if p[0] == copy.path] == []
        assert not (data / "images" / "pending" / originals[0]).exists()
        assert meta["images_count"] == 2
        assert {n for n in after.file_names() if n.startswith(sha)} == expected_tiers(sha, 2)
        # the existing image is untouched, the appended one is the copy's picture
        for tier, _f, _q in TIERS:
            name = tier_file_name(sha, 0, tier)
            assert dict(after.files)[name] == dict(before.files)[name]
        assert (
            dict(after.files)[tier_file_name(sha, 1, "high")]
            != dict(before.files)[tier_file_name(sha, 0, "high")]
        )
        assert after.tags_of(sha) == sorted({*original.tags, copy.type, COPY_TAG})
        kept_type = copy.type if strategy == "override" else original.type
        assert meta["extra"] == {"copy_key": 1, "legacy_type": kept_type}
        assert model["created_at"] == old["created_at"]
        if strategy == "override":
            assert model["path"] == copy.path
            assert model["name"] == copy.name
            assert model["type"] == V1_ALIASES[copy.type]
            assert meta["description"] == old["meta"]["description"]  # incoming empty: kept
            assert meta["community_links"] == "https://copy.invalid"
            assert meta["prompts"] == {
                "positive": "copy positive",
                "negative": old["meta"]["prompts"]["negative"],
            }
        else:
            assert (model["path"], model["name"], model["type"]) == (
                old["path"],
                old["name"],
                old["type"],
            )
            assert meta["description"] == old["meta"]["description"]
            assert meta["community_links"] == old["meta"]["community_links"]
            assert meta["prompts"] == old["meta"]["prompts"]
    assert orphan_problems(after) == []
    assert snapshot_library(data, url).tags == after.tags
