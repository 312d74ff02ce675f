"""Open a legacy SQLite file so that nothing is ever created or changed next to it.

``mode=ro`` alone is not enough: a reader of a WAL-mode database creates ``-wal`` and ``-shm``
files beside it (and leaves them), and on a read-only mount it cannot open at all ("unable to
open database file", "attempt to write a readonly database"). So:

- WAL mode (header bytes 18/19 = 2), or a ``-wal`` or ``-journal`` file beside the database:
  read a **private snapshot** — the database and those files copied into a fresh folder under
  the scratch dir (the data dir's ``tmp/``), opened there and removed on close. The original's
  fingerprint is still taken from the original.
- A rollback-journal database in a folder we may not write: ``mode=ro&immutable=1`` (SQLite
  takes no lock and creates nothing).
- Otherwise: ``mode=ro`` (a rollback-journal reader creates no file).

Limit: a snapshot costs one copy of the database per reader (a run opens one per thread); a
database written *while* it is copied may give an inconsistent copy (the v1 app should be
closed during a migration, as the README says).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import urllib.parse
from pathlib import Path

WAL = 2
SNAPSHOT_PREFIX = "legacy-snapshot-"
SIDE_FILES = ("-wal", "-journal")


def needs_snapshot(db_path: Path, header: bytes) -> bool:
    """True for a WAL-mode database, or one with a ``-wal`` / ``-journal`` file beside it."""
    wal_mode = len(header) >= 20 and WAL in (header[18], header[19])
    return wal_mode or any(Path(f"{db_path}{s}").exists() for s in SIDE_FILES)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(base: Path) -> None:
    """Remove snapshots left by processes that no longer run (killed before closing)."""
    for old in base.glob(f"{SNAPSHOT_PREFIX}*"):
        pid = old.name.removeprefix(SNAPSHOT_PREFIX).partition("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)


def _snapshot_dir(scratch_dir: Path | None) -> Path:
    prefix = f"{SNAPSHOT_PREFIX}{os.getpid()}-"
    if scratch_dir is not None:
        try:
            scratch_dir.mkdir(parents=True, exist_ok=True)
            _sweep(scratch_dir)
            return Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_dir))
        except OSError:
            pass  # a read-only data dir: the system's temp folder still works
    return Path(tempfile.mkdtemp(prefix=prefix))


def take_snapshot(db_path: Path, scratch_dir: Path | None) -> Path:
    """Copy the database and its ``-wal`` / ``-journal`` into a fresh private folder; returns
    the copy's path. Raises OSError (the caller names the file)."""
    folder = _snapshot_dir(scratch_dir)
    target = folder / "legacy.sqlite3"
    try:
        shutil.copyfile(db_path, target)
        for suffix in SIDE_FILES:
            with contextlib.suppress(FileNotFoundError):
                shutil.copyfile(f"{db_path}{suffix}", f"{target}{suffix}")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return target


def connect(
    db_path: Path, header: bytes, scratch_dir: Path | None
) -> tuple[sqlite3.Connection, Path | None]:
    """A connection that reads ``db_path`` without creating anything beside it, and the
    snapshot folder to remove on close (None when the original is read directly)."""
    if needs_snapshot(db_path, header):
        copy = take_snapshot(db_path, scratch_dir)
        # Our private copy: SQLite may replay its WAL or journal there. Never written by us.
        uri = f"file:{urllib.parse.quote(str(copy))}?mode=rw"
        folder: Path | None = copy.parent
    else:
        immutable = "" if os.access(db_path.parent, os.W_OK) else "&immutable=1"
        uri = f"file:{urllib.parse.quote(str(db_path))}?mode=ro{immutable}"
        folder = None
    try:
        # Used by one thread at a time (the service keeps one reader per thread), but it may
        # be closed by the thread that shuts the service down.
        return sqlite3.connect(uri, uri=True, check_same_thread=False), folder
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def remove(folder: Path | None) -> None:
    """Remove a snapshot folder (no-op for None)."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
