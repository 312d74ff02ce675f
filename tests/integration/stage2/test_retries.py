"""Stage 2 retries: the hash is computed once, a missing file fails and succeeds once it is back."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from backend.database.migration import hashing
from backend.database.migration.steps import promotion
from tests.helpers.library_snapshot import snapshot_library
from tests.helpers.service import library_url, make_service, pending_id_for
from tests.helpers.stage_libraries import CopyLibrary, run_stage1


def test_the_hash_is_computed_once_across_a_transient_retry(
    copy_lib: CopyLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    run_stage1(copy_lib.lib, data)
    unique = copy_lib.unique[0]
    calls: list[Path] = []
    real_hash = hashing.sha256_file

    def counting(path: Path, **kwargs: object) -> str:
        calls.append(Path(path))
        return real_hash(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hashing, "sha256_file", counting)
    failures = {"left": 1}
    real_record = promotion.to_model_record

    def flaky(*args: object, **kwargs: object) -> object:
        if failures["left"]:
            failures["left"] -= 1
            raise OSError("disk hiccup")
        return real_record(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(promotion, "to_model_record", flaky)
    service = make_service(data)
    try:
        pid = pending_id_for(service, unique.path)
        run = service.start_promotion_run([pid])
        first = service.advance(run.id)
        assert [r.error_code for r in first.items] == ["transient"]
        assert service.pending_model(pid).sha256 == unique.content_sha256  # saved at once
        engine = create_engine(library_url(data))
        with engine.begin() as conn:  # the pending row, not the cache, must spare the rehash
            conn.execute(text("DELETE FROM hash_cache"))
        engine.dispose()
        status = service.run_until_done(run.id)
        item = service.store.item_by_source(run.id, str(pid))
    finally:
        service.close()
    assert status.counts["promoted"] == 1
    assert item is not None and item.state == "promoted"
    assert calls == [Path(unique.path)]
    assert failures["left"] == 0


def test_missing_file_fails_then_succeeds_after_it_is_back(
    copy_lib: CopyLibrary, tmp_path: Path, hash_calls: list[Path]
) -> None:
    data = tmp_path / "data"
    run_stage1(copy_lib.lib, data)
    # the legacy file must stay untouched: promote a scanned copy of it instead
    models = tmp_path / "models" / "loras"
    models.mkdir(parents=True)
    source = models / "moved.safetensors"
    shutil.copyfile(copy_lib.unique[0].path, source)
    service = make_service(data)
    try:
        service.scan([tmp_path / "models"])
        pid = pending_id_for(service, str(source.resolve()))
        hidden = source.with_suffix(".away")
        os.replace(source, hidden)
        result = service.promote_batch([pid])
        assert result.run_id is not None
        item = service.store.item_by_source(result.run_id, str(pid))
        assert item is not None and item.state == "failed"
        assert item.last_error_code == "source_missing"
        assert [f.id for f in result.failed] == [pid]
        os.replace(hidden, source)
        assert service.retry(item_id=item.id).retried == [item.id]
        status = service.run_until_done(result.run_id)
        item = service.store.item_by_source(result.run_id, str(pid))
    finally:
        service.close()
    assert item is not None and item.state == "promoted"
    assert status.counts["failed"] == 0
    assert hash_calls == [source.resolve()] or hash_calls == [source]
    snap = snapshot_library(data, library_url(data))
    assert snap.model(copy_lib.unique[0].content_sha256 or "")["path"] == str(source.resolve())
