"""Streaming SHA-256 of model files, and a cache keyed by (path, size, mtime_ns).

:func:`sha256_file` reads through one reusable buffer (``readinto`` on an unbuffered file, no
per-chunk allocation; hashlib releases the GIL, so several files hash in parallel threads) and
refuses a file that changed while it was read. :class:`HashCache` remembers digests in the
``hash_cache`` table so a rerun never rereads an unchanged multi-gigabyte checkpoint.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Final, cast

from sqlalchemy import Insert, Table, bindparam, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from backend.database.migration.errors import HashError
from backend.database.models import HashCache as HashCacheRow
from backend.database.session import IMMEDIATE

DEFAULT_BUFFER_SIZE: Final = 4 * 1024 * 1024

_Fingerprint = tuple[int, int, int, int]  # (device, inode, size, mtime_ns)
_CACHE = cast(Table, HashCacheRow.__table__)
_LOOKUP = select(_CACHE.c.sha256, _CACHE.c.size_bytes, _CACHE.c.mtime_ns).where(
    _CACHE.c.path == bindparam("path")
)
SaveFn = Callable[[Session, str], None]


def sha256_file(path: Path, *, buffer_size: int = DEFAULT_BUFFER_SIZE) -> str:
    """Lower-case hex SHA-256 of ``path``'s content.

    Raises :class:`HashError` ``source_missing`` when the file does not exist, and
    ``source_changed_during_hash`` when its size, mtime or inode changed while it was read.
    """
    if buffer_size <= 0:
        raise ValueError(f"buffer_size must be positive, got {buffer_size}")
    before = _fingerprint(_stat(path))
    digest = hashlib.sha256()
    buf = bytearray(buffer_size)
    view = memoryview(buf)
    total = 0
    try:
        with open(path, "rb", buffering=0) as fh:
            if _fingerprint(os.fstat(fh.fileno())) != before:
                raise _changed(path)  # replaced between stat and open
            if hasattr(os, "posix_fadvise"):  # bigger readahead on a cold (not cached) file
                os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            while n := fh.readinto(view):
                digest.update(view if n == buffer_size else view[:n])
                total += n
    except FileNotFoundError as e:
        raise _changed(path) from e
    finally:
        view.release()
    try:
        after = _fingerprint(os.stat(path))
    except FileNotFoundError as e:
        raise _changed(path) from e
    if after != before or total != before[2]:
        raise _changed(path)
    return digest.hexdigest()


class HashCache:
    """SHA-256 per absolute resolved path, valid while the file's size and mtime_ns hold."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def lookup(self, path: Path) -> str | None:
        """The cached digest of ``path`` if its size and mtime_ns still match, else None."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return self._cached(_key(path), st)

    def get_or_compute(self, path: Path, *, save: SaveFn | None = None) -> str:
        """The digest of ``path``: from the cache when the file is unchanged, else by reading it.

        A fresh digest is stored only when the file did not change from before the read to after
        it; otherwise :class:`HashError` ``source_changed_during_hash`` is raised and nothing is
        stored. No transaction is open while the file is read. ``save(session, digest)`` runs in
        the same write transaction that stores a fresh digest (its own one for a cached digest),
        so a caller's record of the hash commits together with the cache's.
        """
        key = _key(path)
        before = _stat(path)
        digest = self._cached(key, before)
        fresh = digest is None
        if digest is None:
            digest = sha256_file(path)
            try:
                after = os.stat(path)
            except FileNotFoundError as e:
                raise _changed(path) from e
            if _fingerprint(after) != _fingerprint(before):
                raise _changed(path)
        if fresh or save is not None:
            with self._sessions() as session, session.begin():
                # Takes SQLite's write lock at BEGIN (see session.writer); ignored elsewhere.
                session.connection(execution_options={IMMEDIATE: True})
                if fresh:
                    _store(session, key, before, digest)
                if save is not None:
                    save(session, digest)
        return digest

    def _cached(self, key: str, st: os.stat_result) -> str | None:
        with self._sessions() as session:
            # A read: plain BEGIN even when the factory is bound to session.writer(engine).
            conn = session.connection(execution_options={IMMEDIATE: False})
            row = conn.execute(_LOOKUP, {"path": key}).first()
            if row is None or row.size_bytes != st.st_size or row.mtime_ns != st.st_mtime_ns:
                return None
            return str(row.sha256)


@cache
def _upsert(dialect: str) -> Insert:
    """``INSERT … ON CONFLICT (path) DO UPDATE`` of a cache row, built once per dialect."""
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(_CACHE)
    upsert: Insert = stmt.on_conflict_do_update(
        index_elements=["path"],
        set_={k: stmt.excluded[k] for k in ("size_bytes", "mtime_ns", "sha256", "hashed_at")},
    )
    return upsert


def _store(session: Session, key: str, st: os.stat_result, digest: str) -> None:
    values = {
        "path": key,
        "size_bytes": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256": digest,
        "hashed_at": time.time(),
    }
    conn = session.connection()
    if conn.dialect.name in ("sqlite", "postgresql"):
        conn.execute(_upsert(conn.dialect.name), values)
    else:
        conn.execute(delete(_CACHE).where(_CACHE.c.path == key))
        conn.execute(insert(_CACHE), values)


def _key(path: Path) -> str:
    return str(Path(path).resolve())


def _stat(path: Path) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError as e:
        raise HashError(f"model file {path} does not exist", code="source_missing") from e


def _fingerprint(st: os.stat_result) -> _Fingerprint:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _changed(path: Path) -> HashError:
    return HashError(
        f"model file {path} changed while it was being hashed; retry once it is stable",
        code="source_changed_during_hash",
    )
