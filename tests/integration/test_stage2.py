"""Stage 2 through MigrationService: strategies, mixed batches, hashing once, retries, scan."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from backend.config import Settings
from backend.database.migration import hashing
from backend.database.migration.images import TIERS, tier_file_name
from backend.database.migration.service import MigrationService
from backend.database.migration.steps import promotion
from tests.helpers.library_snapshot import orphan_problems, snapshot_library, snapshot_tree
from tests.helpers.stage_libraries import COPY_TAG, CopyLibrary, make_copy_library, run_stage1


@pytest.fixture
def copy_lib(tmp_path: Path) -> Iterator[CopyLibrary]:
    built = make_copy_library(tmp_path / "legacy")
    before = snapshot_tree(built.lib.root)
    yield built
    assert snapshot_tree(built.lib.root) == before, "the legacy library was modified"


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every call of the real file hasher."""
    calls: list[Path] = []
    real = hashing.sha256_file

    def counting(path: Path, **kwargs: object) -> str:
        calls.append(Path(path))
        return real(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hashing, "sha256_file", counting)
    return calls


def make_service(data_dir: Path, url: str | None = None) -> MigrationService:
    return MigrationService(Settings(data_dir=data_dir, database_url=url))


def url_for(data_dir: Path) -> str:
    return f"sqlite:///{data_dir.resolve()}/library.sqlite3"


def tiers(sha: str, count: int) -> set[str]:
    return {tier_file_name(sha, s, t) for s in range(count) for t, _f, _q in TIERS}


def pending_id_for(service: MigrationService, path: str) -> int:
    ids = [p.id for p in service.pending_models() if p.path == path]
    assert len(ids) == 1, path
    return ids[0]


# --- strategies on a real conflict ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["upfront", "resolve"])
@pytest.mark.parametrize("strategy", ["override", "merge", "ignore", "delete"])
def test_each_strategy_on_an_unhashed_legacy_copy(
    copy_lib: CopyLibrary, tmp_path: Path, strategy: str, how: str, db_url: str
) -> None:
    data = tmp_path / "data"
    run_stage1(copy_lib.lib, data, database_url=db_url)
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
        assert {n for n in after.file_names() if n.startswith(sha)} == tiers(sha, 2)
        # the existing image is untouched, the appended one is the copy's picture
        for tier, _f, _q in TIERS:
            name = tier_file_name(sha, 0, tier)
            assert dict(after.files)[name] == dict(before.files)[name]
        assert (
            dict(after.files)[tier_file_name(sha, 1, "high")]
            != dict(before.files)[tier_file_name(sha, 0, "high")]
        )
        assert after.tags_of(sha) == sorted({*original.tags, copy.type, COPY_TAG})
        assert meta["extra"] == {"copy_key": 1}
        assert model["created_at"] == old["created_at"]
        if strategy == "override":
            assert model["path"] == copy.path
            assert model["name"] == copy.name
            assert model["type"] == copy.type
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


# --- a mixed batch ------------------------------------------------------------------------------


def _scan_library(root: Path, existing: bytes) -> dict[str, Path]:
    """Model files for scan: a new one, a copy of ``existing``, and one removed after the scan."""
    files = {
        "new": root / "loras" / "new.safetensors",
        "dup": root / "checkpoints" / "dup.safetensors",
        "missing": root / "vae" / "missing.safetensors",
    }
    for key, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(existing if key == "dup" else f"model {key}".encode() * 100)
    return files


@pytest.mark.parametrize("strategy", [None, "ignore", "delete"])
def test_a_mixed_batch_reports_every_item_and_commits_the_good_ones(
    copy_lib: CopyLibrary, tmp_path: Path, strategy: str | None
) -> None:
    data = tmp_path / "data"
    run_stage1(copy_lib.lib, data)
    sha = copy_lib.original.hash_hex
    files = _scan_library(tmp_path / "models", Path(copy_lib.original.path).read_bytes())
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
    snap = snapshot_library(data, url_for(data))
    new_sha = hashing.sha256_file(files["new"])

    assert result.total == 7
    assert result.success == [ids["new"]]
    assert snap.model(new_sha)["path"] == str(files["new"].resolve())
    assert snap.model(new_sha)["type"] == "lora"
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


# --- hashing once, retries ----------------------------------------------------------------------


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
        engine = create_engine(url_for(data))
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
    snap = snapshot_library(data, url_for(data))
    assert snap.model(copy_lib.unique[0].content_sha256 or "")["path"] == str(source.resolve())


# --- scan ---------------------------------------------------------------------------------------


def test_scan_types_from_folders_skips_known_paths_and_never_hashes(
    copy_lib: CopyLibrary, tmp_path: Path, hash_calls: list[Path]
) -> None:
    data = tmp_path / "data"
    run_stage1(copy_lib.lib, data)
    root = tmp_path / "models"
    layout = {
        "checkpoints/a.safetensors": "checkpoint",
        "Loras/sub/b.safetensors": "lora",
        "embeddings/c.pt": "embedding",
        "vae/d.ckpt": "vae",
        "upscale_models/e.pth": "upscale",
        "misc/f.safetensors": "other",
    }
    for rel in [*layout, "vae/readme.txt"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())
    service = make_service(data)
    try:
        first = service.scan([root])
        second = service.scan([root])
        legacy_models = service.scan([copy_lib.lib.models_dir])
        pending = service.pending_models()
        types = {p.path: p.type for p in pending}
    finally:
        service.close()
    assert (first.scanned, first.added, first.skipped) == (6, 6, 0)
    assert (second.scanned, second.added, second.skipped) == (6, 0, 6)
    for rel, kind in layout.items():
        assert types[str((root / rel).resolve())] == kind, rel
    # every legacy model file is already a model or a pending row
    assert legacy_models.added == 0 and legacy_models.skipped == legacy_models.scanned > 0
    assert hash_calls == []
    assert all(p.sha256 is None for p in pending)


# --- two promotions racing to create the run ------------------------------------------------------


def test_two_services_starting_a_promotion_at_the_same_moment_share_one_run(
    copy_lib: CopyLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B looks for an open promotion run while A is between looking and creating one."""
    data = tmp_path / "data"
    run_stage1(copy_lib.lib, data)
    a, b = make_service(data), make_service(data)
    b_looked = threading.Event()
    real_backup, real_find = a._backup_if_needed, b.store.find_run

    def a_backup(label: str) -> str | None:  # A has found no open run and is about to create
        b_looked.wait(timeout=1.0)  # with the run lock B cannot look until A is done
        return real_backup(label)

    def b_find(*args: object, **kwargs: object) -> int | None:
        found = real_find(*args, **kwargs)  # type: ignore[arg-type]
        b_looked.set()
        return found

    monkeypatch.setattr(a, "_backup_if_needed", a_backup)
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
        engine = create_engine(url_for(data))
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

        monkeypatch.setattr("backend.database.migration.service.pending_files.remove", killed)
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
