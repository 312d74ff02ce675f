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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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
_ENTRY = (_CACHE.c.sha256, _CACHE.c.size_bytes, _CACHE.c.mtime_ns)
_LOOKUP = select(*_ENTRY).where(_CACHE.c.path == bindparam("path"))
SaveFn = Callable[[Session, str], None]
Entry = tuple[str, int, int]
"""A cache row: (sha256, size_bytes, mtime_ns)."""
LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class Lookup:
    """What the cache holds for a path, asked for ahead (see :meth:`HashCache.entries`)."""

    key: str
    entry: Entry | None


@dataclass(frozen=True)
class Hashed:
    """A file's digest with the size and mtime_ns it holds for; ``fresh`` when it was just
    computed (not read from the cache), so :meth:`HashCache.store` has to keep it."""

    key: str
    sha256: str
    size: int
    mtime_ns: int
    fresh: bool


def sha256_file(path: Path, *, buffer_size: int = DEFAULT_BUFFER_SIZE) -> str:
    """Lower-case hex SHA-256 of ``path``'s content.

    Raises :class:`HashError` ``source_missing`` when the file does not exist, and
    ``source_changed_during_hash`` when its size, mtime or inode changed while it was read.
    """
    if buffer_size <= 0:
        raise ValueError(f"buffer_size must be positive, got {buffer_size}")
    before = _fingerprint(_stat(path))
    digest = hashlib.sha256()
    buffer_size = min(buffer_size, before[2] + 1)  # a small file: no 4 MiB buffer to zero
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
        hashed = self.compute(path)
        if hashed.fresh or save is not None:
            with self._sessions() as session, session.begin():
                # Takes SQLite's write lock at BEGIN (see session.writer); ignored elsewhere.
                session.connection(execution_options={IMMEDIATE: True})
                self.store(session, [hashed])
                if save is not None:
                    save(session, hashed.sha256)
        return hashed.sha256

    def compute(self, path: Path, lookup: Lookup | None = None) -> Hashed:
        """The digest of ``path`` without storing it: from the cache entry when the file's size
        and mtime_ns still match it, else by reading the file (see :meth:`get_or_compute` for
        the errors). ``lookup`` is the cache's answer asked for ahead (one query for a batch,
        see :meth:`entries`); without it the cache is asked here."""
        key = _key(path) if lookup is None else lookup.key
        before = _stat(path)
        known = self._entry(key) if lookup is None else lookup.entry
        if known is not None and known[1] == before.st_size and known[2] == before.st_mtime_ns:
            return Hashed(key, known[0], before.st_size, before.st_mtime_ns, fresh=False)
        digest = sha256_file(path)
        try:
            after = os.stat(path)
        except FileNotFoundError as e:
            raise _changed(path) from e
        if _fingerprint(after) != _fingerprint(before):
            raise _changed(path)
        return Hashed(key, digest, before.st_size, before.st_mtime_ns, fresh=True)

    @staticmethod
    def keys(paths: Iterable[str]) -> dict[str, str]:
        """The cache's keys of many paths (absolute, resolved), each folder resolved once: a
        file that is no symlink resolves to its folder's real path joined with its name, as
        resolving it whole would give. A path that cannot be resolved is left out."""
        folders: dict[Path, str] = {}
        found: dict[str, str] = {}
        for text in paths:
            path = Path(text)
            try:
                if path.name in ("", ".", "..") or path.is_symlink():
                    found[text] = _key(path)
                    continue
                real = folders.get(path.parent)
                if real is None:
                    real = folders[path.parent] = _key(path.parent)
                found[text] = os.path.join(real, path.name)
            except (OSError, ValueError, RuntimeError):
                continue
        return found

    @staticmethod
    def entries(session: Session, keys: Iterable[str]) -> dict[str, Entry]:
        """The cache rows of many keys, a query per :data:`LOOKUP_CHUNK` of them (``session``
        is a reading one)."""
        wanted = sorted(set(keys))
        found: dict[str, Entry] = {}
        conn = session.connection()
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            query = select(_CACHE.c.path, *_ENTRY).where(_CACHE.c.path.in_(chunk))
            for row in conn.execute(query):
                found[row.path] = (str(row.sha256), row.size_bytes, row.mtime_ns)
        return found

    @staticmethod
    def store(session: Session, hashed: Iterable[Hashed]) -> None:
        """Keep the fresh digests (one statement for all), in the caller's transaction."""
        now = time.time()
        rows = [
            {
                "path": h.key,
                "size_bytes": h.size,
                "mtime_ns": h.mtime_ns,
                "sha256": h.sha256,
                "hashed_at": now,
            }
            for h in hashed
            if h.fresh
        ]
        if not rows:
            return
        conn = session.connection()
        if conn.dialect.name in ("sqlite", "postgresql"):
            conn.execute(_upsert(conn.dialect.name), rows)
            return
        for row in rows:
            conn.execute(delete(_CACHE).where(_CACHE.c.path == row["path"]))
        conn.execute(insert(_CACHE), rows)

    def _cached(self, key: str, st: os.stat_result) -> str | None:
        entry = self._entry(key)
        if entry is None or entry[1] != st.st_size or entry[2] != st.st_mtime_ns:
            return None
        return entry[0]

    def _entry(self, key: str) -> Entry | None:
        with self._sessions() as session:
            # A read: plain BEGIN even when the factory is bound to session.writer(engine).
            conn = session.connection(execution_options={IMMEDIATE: False})
            row = conn.execute(_LOOKUP, {"path": key}).first()
            return None if row is None else (str(row.sha256), row.size_bytes, row.mtime_ns)


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
