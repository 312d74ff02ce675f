"""Streaming SHA-256 and the (path, size, mtime_ns) hash cache, on real files and databases."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.database.migration import hashing
from backend.database.migration.errors import HashError
from backend.database.migration.hashing import HashCache, sha256_file
from backend.database.models import HashCache as HashCacheRow
from backend.database.session import make_session_factory, writer

SMALL_BUFFER = 4096


def write(path: Path, data: bytes, mtime_ns: int | None = None) -> Path:
    path.write_bytes(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def expected(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ChangingHasher:
    """A sha256 object that runs ``on_first_update`` once, mid-read, then hashes normally."""

    def __init__(self, real: Callable[[], Any], on_first_update: Callable[[], None]) -> None:
        self._real = real()
        self._hook: Callable[[], None] | None = on_first_update

    def update(self, data: Any) -> None:
        if self._hook is not None:
            hook, self._hook = self._hook, None
            hook()
        self._real.update(data)

    def hexdigest(self) -> str:
        return str(self._real.hexdigest())


def change_mid_read(monkeypatch: pytest.MonkeyPatch, hook: Callable[[], None]) -> None:
    real = hashlib.sha256
    monkeypatch.setattr(hashlib, "sha256", lambda: ChangingHasher(real, hook))


# --- sha256_file -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [0, 1, SMALL_BUFFER - 1, SMALL_BUFFER, SMALL_BUFFER + 1, 3 * SMALL_BUFFER + 17],
)
def test_digest_matches_hashlib_with_a_small_buffer(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = write(tmp_path / "model.bin", data)
    assert sha256_file(path, buffer_size=SMALL_BUFFER) == expected(data)


def test_digest_matches_hashlib_over_several_default_buffers(tmp_path: Path) -> None:
    data = os.urandom(2 * hashing.DEFAULT_BUFFER_SIZE + 12_345)
    path = write(tmp_path / "model.bin", data)
    assert sha256_file(path) == expected(data)


def test_buffer_size_must_be_positive(tmp_path: Path) -> None:
    path = write(tmp_path / "model.bin", b"x")
    with pytest.raises(ValueError):
        sha256_file(path, buffer_size=0)


def test_missing_file_is_source_missing(tmp_path: Path) -> None:
    with pytest.raises(HashError) as info:
        sha256_file(tmp_path / "gone.safetensors")
    assert info.value.code == "source_missing"
    assert "gone.safetensors" in info.value.message


def test_file_appended_to_while_hashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "model.bin", os.urandom(5 * SMALL_BUFFER))

    def append() -> None:
        with path.open("ab") as fh:
            fh.write(b"more")

    change_mid_read(monkeypatch, append)
    with pytest.raises(HashError) as info:
        sha256_file(path, buffer_size=SMALL_BUFFER)
    assert info.value.code == "source_changed_during_hash"


def test_file_replaced_with_same_size_and_mtime_while_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mtime = 1_700_000_000_000_000_000
    path = write(tmp_path / "model.bin", os.urandom(5 * SMALL_BUFFER), mtime)

    def replace() -> None:
        other = write(tmp_path / "other.bin", os.urandom(5 * SMALL_BUFFER), mtime)
        os.replace(other, path)

    change_mid_read(monkeypatch, replace)
    with pytest.raises(HashError) as info:
        sha256_file(path, buffer_size=SMALL_BUFFER)
    assert info.value.code == "source_changed_during_hash"


def test_file_deleted_while_hashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "model.bin", os.urandom(5 * SMALL_BUFFER))
    change_mid_read(monkeypatch, path.unlink)
    with pytest.raises(HashError) as info:
        sha256_file(path, buffer_size=SMALL_BUFFER)
    assert info.value.code == "source_changed_during_hash"


# --- HashCache ---------------------------------------------------------------------------------


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def rows(sessions: sessionmaker[Session]) -> list[tuple[str, int, int, str]]:
    with sessions() as s:
        found = s.scalars(select(HashCacheRow).order_by(HashCacheRow.path)).all()
        return [(r.path, r.size_bytes, r.mtime_ns, r.sha256) for r in found]


def test_cache_hit_does_not_read_the_file(
    tmp_path: Path, sessions: sessionmaker[Session], hash_calls: list[Path]
) -> None:
    data = os.urandom(10_000)
    path = write(tmp_path / "model.bin", data)
    cache = HashCache(sessions)
    assert cache.lookup(path) is None
    assert cache.get_or_compute(path) == expected(data)
    assert cache.get_or_compute(path) == expected(data)
    assert HashCache(sessions).get_or_compute(path) == expected(data)  # persisted, not in memory
    assert cache.lookup(path) == expected(data)
    assert len(hash_calls) == 1
    st = path.stat()
    assert rows(sessions) == [(str(path.resolve()), st.st_size, st.st_mtime_ns, expected(data))]


def test_key_is_the_resolved_absolute_path(
    tmp_path: Path,
    sessions: sessionmaker[Session],
    hash_calls: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = b"weights" * 1000
    (tmp_path / "real").mkdir()
    target = write(tmp_path / "real" / "model.bin", data)
    link = tmp_path / "link.bin"
    link.symlink_to(target)
    cache = HashCache(sessions)
    assert cache.get_or_compute(link) == expected(data)
    monkeypatch.chdir(tmp_path / "real")
    assert cache.get_or_compute(Path("model.bin")) == expected(data)
    assert cache.get_or_compute(target) == expected(data)
    assert len(hash_calls) == 1
    assert [r[0] for r in rows(sessions)] == [str(target.resolve())]


def test_touch_or_modify_invalidates_and_upserts_one_row(
    tmp_path: Path, sessions: sessionmaker[Session], hash_calls: list[Path]
) -> None:
    t0 = 1_700_000_000_000_000_000
    first = os.urandom(4096)
    path = write(tmp_path / "model.bin", first, t0)
    cache = HashCache(sessions)
    assert cache.get_or_compute(path) == expected(first)

    os.utime(path, ns=(t0 + 1, t0 + 1))  # touched: same bytes, new mtime
    assert cache.lookup(path) is None
    assert cache.get_or_compute(path) == expected(first)
    assert len(hash_calls) == 2

    second = os.urandom(4096)  # same size, new content and mtime
    write(path, second, t0 + 2_000_000_000)
    assert cache.lookup(path) is None
    assert cache.get_or_compute(path) == expected(second)
    assert cache.get_or_compute(path) == expected(second)
    assert len(hash_calls) == 3
    assert rows(sessions) == [(str(path.resolve()), 4096, t0 + 2_000_000_000, expected(second))]


def test_missing_file_is_source_missing_and_not_cached(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    cache = HashCache(sessions)
    assert cache.lookup(tmp_path / "gone.bin") is None
    with pytest.raises(HashError) as info:
        cache.get_or_compute(tmp_path / "gone.bin")
    assert info.value.code == "source_missing"
    assert rows(sessions) == []


def test_change_during_hash_raises_and_caches_nothing(
    tmp_path: Path, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "model.bin", os.urandom(5 * SMALL_BUFFER))

    def append() -> None:
        with path.open("ab") as fh:
            fh.write(b"!")

    change_mid_read(monkeypatch, append)
    real = hashing.sha256_file
    monkeypatch.setattr(hashing, "sha256_file", lambda p: real(p, buffer_size=SMALL_BUFFER))
    with pytest.raises(HashError) as info:
        HashCache(sessions).get_or_compute(path)
    assert info.value.code == "source_changed_during_hash"
    assert rows(sessions) == []


def test_change_between_stat_and_hash_is_not_cached(
    tmp_path: Path, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file changes after the cache's own stat but before sha256_file starts: sha256_file
    # hashes a stable (new) file, yet the digest must not be stored under the old stat.
    path = write(tmp_path / "model.bin", b"old" * 100, 1_700_000_000_000_000_000)
    real = hashing.sha256_file

    def rewrite_then_hash(p: Path) -> str:
        write(path, b"new" * 101, 1_700_000_100_000_000_000)
        return real(p)

    monkeypatch.setattr(hashing, "sha256_file", rewrite_then_hash)
    with pytest.raises(HashError) as info:
        HashCache(sessions).get_or_compute(path)
    assert info.value.code == "source_changed_during_hash"
    assert rows(sessions) == []


def test_many_files_each_get_their_own_row(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    cache = HashCache(sessions)
    datas = {tmp_path / f"m{i}.bin": os.urandom(100 + i) for i in range(5)}
    for path, data in datas.items():
        write(path, data)
        assert cache.get_or_compute(path) == expected(data)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(HashCacheRow)) == 5
    assert {r[3] for r in rows(sessions)} == {expected(d) for d in datas.values()}


def test_works_with_a_writer_bound_factory_and_reads_do_not_lock(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    begins: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        begins.append(statement)

    data = os.urandom(3000)
    path = write(tmp_path / "model.bin", data)
    cache = HashCache(make_session_factory(writer(engine)))
    assert cache.get_or_compute(path) == expected(data)
    assert cache.get_or_compute(path) == expected(data)
    assert HashCache(make_session_factory(engine)).lookup(path) == expected(data)
    if engine.dialect.name == "sqlite":
        sql = [s.split()[0].upper() + (" IMMEDIATE" if "IMMEDIATE" in s else "") for s in begins]
        assert sql.count("BEGIN IMMEDIATE") == 1  # only the one write
        assert "INSERT" in sql
