"""Consistent copy of the library database before a migration first writes to it."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine.url import make_url


def sqlite_path(engine: Engine) -> Path | None:
    """The file behind a SQLite engine, or None for other databases and in-memory SQLite."""
    url = make_url(str(engine.url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def backup_sqlite(db_file: Path, backups_dir: Path, label: str) -> Path:
    """Copy ``db_file`` with SQLite's online backup API; returns the copy's path."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    target = _reserve(backups_dir, f"{db_file.stem}-{stamp}-{label}")
    source = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    dest = sqlite3.connect(target)
    try:
        with dest:
            source.backup(dest)
    finally:
        dest.close()
        source.close()
    return target


def _reserve(backups_dir: Path, stem: str) -> Path:
    """A new, empty file named after ``stem``, created exclusively: two callers in the same
    second (threads or processes) never copy into one file."""
    backups_dir.mkdir(parents=True, exist_ok=True)
    counter = 0
    while True:
        suffix = f"-{counter}" if counter else ""
        target = backups_dir / f"{stem}{suffix}.sqlite3"
        try:
            target.touch(exist_ok=False)
        except FileExistsError:
            counter += 1
            continue
        return target
