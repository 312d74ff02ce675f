"""Stage 2 batches: a mixed batch reports every item, two promotions share one run, a crash after
resolve-delete leaves no pending row."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from backend.database.migration import hashing
from tests.helpers.library_snapshot import orphan_problems, snapshot_library
from tests.helpers.service import library_url, make_service, pending_id_for
from tests.helpers.stage_libraries import CopyLibrary, run_stage1, scan_library


@pytest.mark.parametrize("strategy", [None, "ignore", "delete"])
def test_a_mixed_batch_reports_every_item_and_commits_the_good_ones(
    copy_lib: CopyLibrary, tmp_path: Path, strategy: str | None
) -> None:
    data = tmp_path / "data"
    run_stage1(copy_lib.lib, data)
    sha = copy_lib.original.hash_hex
    files = scan_library(tmp_path / "models", Path(copy_lib.original.path).read_bytes())
    service = make_service(data)
    try:
        scanned = service.scan([tmp_path / "models"])
        assert scanned.added == 3
        files["missing"].unlink()
        ids = {k: pending_id_for(service, str(p.resolve())) for k, p in files.items()}
        bad: list[object] = ["abc", -1, 10**6, None]
        result = service.promote_batch([ids["new"], ids["dup"], ids["missing"], *bad], strategy)
        left = {p.path for p in service.pending_models()}
    finally:
        service.close()
    snap = snapshot_library(data, library_url(data))
    new_sha = hashing.sha256_file(files["new"])

    assert result.total == 7
    assert result.success == [ids["new"]]
    assert snap.model(new_sha)["path"] == str(files["new"].resolve())
    assert snap.model(new_sha)["type"] == "loras"  # the scanned "lora" as the v2 tab
    assert snap.model(new_sha)["meta"]["extra"] == {"legacy_type": "lora"}
    assert str(files["new"].resolve()) not in left
    failed = {repr(f.id): f.error for f in result.failed}
    assert set(failed) == {repr(ids["missing"]), *(repr(b) for b in bad)}
    assert failed[repr(ids["missing"])].startswith("source_missing")
    assert "not an integer" in failed["'abc'"] and "not an integer" in failed["None"]
    assert "no pending model" in failed["-1"] and "no pending model" in failed[repr(10**6)]
    dup_path = str(files["dup"].resolve())
    if strategy is None:
        assert [c.model_dump() for c in result.conflict] == [
            {
                "pending": {"id": ids["dup"], "path": dup_path},
                "existing": {"id": sha, "path": copy_lib.original.path},
            }
        ]
        assert not result.ignored and not result.deleted
        assert dup_path in left
    elif strategy == "ignore":
        assert result.ignored == [ids["dup"]] and not result.conflict and not result.deleted
        assert dup_path in left
    else:
        assert result.deleted == [ids["dup"]] and not result.conflict and not result.ignored
        assert dup_path not in left
    assert str(files["missing"].resolve()) in left
    assert snap.model(sha)["meta"]["images_count"] == 1
    assert snap.model(sha)["path"] == copy_lib.original.path
    assert orphan_problems(snap) == []


def test_two_services_starting_a_promotion_at_the_same_moment_share_one_run(
    copy_lib: CopyLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B looks for an open promotion run while A is between looking and creating one."""
    data = tmp_path / "data"
    run_stage1(copy_lib.lib, data)
    a, b = make_service(data), make_service(data)
    b_looked = threading.Event()
    real_join, real_find = a.store.join_open_run, b.store.find_run

    def a_join(*args: object, **kwargs: object) -> tuple[int, bool]:
        b_looked.wait(timeout=1.0)  # A has found no open run and is about to create one
        return real_join(*args, **kwargs)  # type: ignore[arg-type]

    def b_find(*args: object, **kwargs: object) -> int | None:
        found = real_find(*args, **kwargs)  # type: ignore[arg-type]
        b_looked.set()
        return found

    monkeypatch.setattr(a.store, "join_open_run", a_join)
    monkeypatch.setattr(b.store, "find_run", b_find)
    runs: dict[str, int] = {}

    def start_b() -> None:
        runs["b"] = b.start_promotion_run(None, "merge").id

    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(start_b)
            runs["a"] = a.start_promotion_run(None, "merge").id
            future.result(timeout=30)
        a.run_until_done(runs["a"])
        b.run_until_done(runs["b"])
        engine = create_engine(library_url(data))
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT source_key, status FROM migration_items WHERE kind = 'promotion'")
            ).all()
        engine.dispose()
    finally:
        a.close()
        b.close()
    keys = [k for k, _ in rows]
    assert sorted(keys) == sorted(set(keys)), f"pending ids in two promotion items: {rows}"
    assert {s for _, s in rows} == {"promoted"}
    assert runs["a"] == runs["b"]


def test_a_crash_right_after_resolve_delete_leaves_no_pending_row(
    copy_lib: CopyLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    run_stage1(copy_lib.lib, data)
    service = make_service(data)
    try:
        pid = pending_id_for(service, copy_lib.copy.path)
        originals = service.pending_model(pid).meta.images
        result = service.promote_batch([pid])
        assert result.run_id is not None and result.conflict
        item = service.store.item_by_source(result.run_id, str(pid))
        assert item is not None

        def killed(*_args: object, **_kwargs: object) -> int:
            raise KeyboardInterrupt  # the process dies after the commit, before file removal

        monkeypatch.setattr("backend.database.migration.runs.pending_files.remove", killed)
        with pytest.raises(KeyboardInterrupt):
            service.resolve(item.id, "delete")
        monkeypatch.undo()
        left_after_crash = [p.path for p in service.pending_models()]
        service.promote_batch(None)  # the next command of the user
        state = service.item_detail(item.id).item.state
        left = [p.path for p in service.pending_models()]
    finally:
        service.close()
    assert state == "deleted"
    assert copy_lib.copy.path not in left_after_crash
    assert not any((data / "images" / "pending" / name).exists() for name in originals)
    assert copy_lib.copy.path not in left
