"""Stage 2 a batch at a time: pending rows read once per claim, new models inserted as a group,
a group that fails falls back item by item, and a file is hashed once whatever happens."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from backend.database.migration import library, pending_batch
from backend.database.migration.hashing import HashCache
from backend.database.migration.library import LibraryRepository
from backend.database.migration.pending_batch import PendingBatch, read_pending
from backend.database.migration.records import ModelRecord, PendingMetaJson, PendingModelRecord
from backend.database.migration.service import MigrationService
from backend.database.migration.steps import promotion
from tests.helpers.service import make_service, pending_id_for
from workflows.records import WorkItem

FLOW = ["import_model", "process_images", "sync_tags", "promote"]


def _models(root: Path, contents: dict[str, bytes]) -> dict[str, Path]:
    folder = root / "models" / "loras"
    folder.mkdir(parents=True)
    files = {}
    for name, data in contents.items():
        files[name] = folder / f"{name}.safetensors"
        files[name].write_bytes(data)
    return files


def _ids(service: MigrationService, files: dict[str, Path]) -> dict[str, int]:
    return {name: pending_id_for(service, str(path.resolve())) for name, path in files.items()}


def _item(pid: int, state: str = "pending", kind: str = "promotion") -> WorkItem:
    return WorkItem(
        id=pid, run_id=1, kind=kind, source_key=str(pid), sha256=None, state=state,
        failed_from_state=None, attempts=0, max_attempts=5, crashes=0, strategy=None,
        artifacts={}, warnings=[], version=1, last_error_code=None, last_error=None,
    )  # fmt: skip


def test_the_bulk_pending_read_gives_the_records_of_the_row_by_row_read(tmp_path: Path) -> None:
    files = _models(tmp_path, {"a": b"a" * 10, "b": b"b" * 10, "c": b"c" * 10})
    service = make_service(tmp_path / "data")
    try:
        service.scan([tmp_path / "models"])
        ids = _ids(service, files)
        with service.wiring.write_sessions() as session, session.begin():
            repo = LibraryRepository(session)
            repo.add_pending_tags(ids["a"], ["Anime", "style"])
            repo.add_pending_tags(ids["b"], ["style"])
            repo.set_pending_sha256(ids["b"], "b" * 64)
            repo.upsert_pending(
                path=str(files["b"].resolve()), name="B", type="loras", size_bytes=10,
                created_at=5, meta=PendingMetaJson(description="odd", images=["x.png"]),
            )  # fmt: skip
            session.execute(  # the v2 app may leave these NULL
                text("UPDATE pending_import SET name = NULL, type = NULL, size_bytes = NULL,"
                     " meta_json = NULL WHERE id = :id"),
                {"id": ids["c"]},
            )  # fmt: skip
        wanted = [*ids.values(), 10_000]
        with service.sessions() as session:
            bulk = read_pending(session, wanted)
            one_by_one = {pid: LibraryRepository(session).get_pending(pid) for pid in wanted}
    finally:
        service.close()
    assert set(bulk) == set(ids.values())
    assert one_by_one[10_000] is None
    for pid in ids.values():
        assert bulk[pid] == one_by_one[pid]
    assert bulk[ids["a"]].tags == ["anime", "style"]
    assert bulk[ids["b"]].meta.images == ["x.png"] and bulk[ids["b"]].sha256 == "b" * 64


def test_a_claim_reads_its_pending_rows_once_for_their_first_step(tmp_path: Path) -> None:
    files = _models(tmp_path, {"a": b"a", "b": b"b"})
    service = make_service(tmp_path / "data")
    try:
        service.scan([tmp_path / "models"])
        ids = _ids(service, files)
        batch = PendingBatch(service.wiring.sessions)
        batch.load([_item(ids["a"]), _item(ids["b"], state="imported"), _item(99, kind="legacy")])
        first = batch.take(ids["a"])
        again = batch.take(ids["a"])
        other_state = batch.take(ids["b"])
        batch.load([_item(ids["b"]), _item(12_345)])
        after_reload = batch.take(ids["a"])
        gone = batch.take(12_345)
    finally:
        service.close()
    assert first is not None and first.row is not None
    assert first.row.path == str(files["a"].resolve())
    assert first.lookup is not None and first.lookup.key == str(files["a"].resolve())
    assert first.lookup.entry is None  # never hashed yet
    assert again is None and other_state is None and after_reload is None
    assert gone is not None and gone.row is None  # read ahead: no such row


def test_cache_keys_of_many_paths_are_those_of_resolving_each(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "m.bin").write_bytes(b"m")
    (tmp_path / "linked").symlink_to(real)
    (real / "alias.bin").symlink_to(real / "m.bin")
    paths = [
        str(real / "m.bin"), str(tmp_path / "linked" / "m.bin"), str(real / "alias.bin"),
        str(real / "absent.bin"), str(real / ".." / "real" / "m.bin"), str(real / ".."),
    ]  # fmt: skip
    keys = HashCache.keys(paths)
    assert keys == {p: str(Path(p).resolve()) for p in paths}
    assert keys[str(real / "alias.bin")] == str(real / "m.bin")


def test_new_models_are_inserted_as_a_group_each_still_its_own_history(
    tmp_path: Path, hash_calls: list[Path]
) -> None:
    files = _models(tmp_path, {"a": b"a" * 100, "b": b"b" * 100, "c": b"c" * 100})
    service = make_service(tmp_path / "data")
    try:
        service.scan([tmp_path / "models"])
        ids = _ids(service, files)
        result = service.promote_batch(None)
        assert result.run_id is not None
        histories = {
            name: [e.trigger for e in service.store.events(item.id)]
            for name, pid in ids.items()
            if (item := service.store.item_by_source(result.run_id, str(pid))) is not None
        }
        left = service.pending_models()
        with service.sessions() as session:
            cached = session.execute(text("SELECT count(*) FROM hash_cache")).scalar()
    finally:
        service.close()
    assert sorted(result.success) == sorted(ids.values())
    assert histories == {name: FLOW for name in ids}
    assert left == [] and cached == 3
    assert sorted(hash_calls) == sorted(files.values())


def test_a_group_that_fails_falls_back_to_each_item_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hash_calls: list[Path]
) -> None:
    files = _models(tmp_path, {"a": b"a" * 100, "b": b"b" * 100, "c": b"a" * 100})
    real_insert = library.LibraryRepository.insert_models_if_new
    groups: list[int] = []

    def no_groups(self: LibraryRepository, records: Sequence[ModelRecord]) -> set[str]:
        groups.append(len(records))
        if len(records) > 1:
            raise RuntimeError("the group statement failed")
        return real_insert(self, records)

    monkeypatch.setattr(library.LibraryRepository, "insert_models_if_new", no_groups)
    service = make_service(tmp_path / "data")
    try:
        service.scan([tmp_path / "models"])
        ids = _ids(service, files)
        run = service.start_promotion_run(None)
        batch = service.advance(run.id)  # one claim, one commit group
        states = {r.source_key: r.to_state for r in batch.items}
        conflicted = service.pending_model(ids["c"])
    finally:
        service.close()
    assert groups == [3, 1, 1, 1]  # the group, then each item alone
    assert states == {
        str(ids["a"]): "promoted",
        str(ids["b"]): "promoted",
        str(ids["c"]): "conflicted",
    }
    assert conflicted.sha256 is not None  # its hash kept on the row for the decision
    assert sorted(hash_calls) == sorted(files.values())


def test_an_item_failing_after_its_group_keeps_its_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hash_calls: list[Path]
) -> None:
    files = _models(tmp_path, {"a": b"a" * 100, "b": b"b" * 100, "dup": b"a" * 100})
    failures = {"left": 1}
    real_conflict = promotion.conflict_transitions

    def flaky(*args: object, **kwargs: object) -> object:
        if failures["left"]:
            failures["left"] -= 1
            raise OSError("disk hiccup")
        return real_conflict(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(promotion, "conflict_transitions", flaky)
    service = make_service(tmp_path / "data")
    try:
        service.scan([tmp_path / "models"])
        ids = _ids(service, files)
        run = service.start_promotion_run(None)
        first = service.advance(run.id)
        errors = {r.source_key: r.error_code for r in first.items}
        saved = service.pending_model(ids["dup"]).sha256
        with service.wiring.write_sessions() as session, session.begin():
            session.execute(text("DELETE FROM hash_cache"))  # the row, not the cache, must do
        status = service.run_until_done(run.id)
    finally:
        service.close()
    assert errors == {str(ids["a"]): None, str(ids["b"]): None, str(ids["dup"]): "transient"}
    assert saved is not None
    assert status.counts["promoted"] == 2 and status.counts["conflicted"] == 1
    assert sorted(hash_calls) == sorted(files.values())  # each file read once


def test_a_busy_database_during_the_read_ahead_leaves_each_step_to_read_its_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _models(tmp_path, {"a": b"a" * 100, "b": b"b" * 100})
    busy = {"left": 1}
    real_read = pending_batch.read_pending

    def locked_once(session: Session, ids: Iterable[int]) -> dict[int, PendingModelRecord]:
        if busy["left"]:
            busy["left"] -= 1
            raise OperationalError("SELECT", {}, sqlite3.OperationalError("database is locked"))
        return real_read(session, ids)

    monkeypatch.setattr(pending_batch, "read_pending", locked_once)
    service = make_service(tmp_path / "data")
    try:
        service.scan([tmp_path / "models"])
        ids = _ids(service, files)
        run = service.start_promotion_run(None)
        batch = service.advance(run.id)
    finally:
        service.close()
    assert busy["left"] == 0
    assert {r.source_key: r.to_state for r in batch.items} == {
        str(pid): "promoted" for pid in ids.values()
    }
