"""Backups of the library before a run first writes to it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from freezegun import freeze_time

from backend.database.migration.backup import backup_sqlite

CALLERS = 8


def _library(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE models (sha256 TEXT PRIMARY KEY)")
        conn.execute("INSERT INTO models VALUES ('a')")
    conn.close()
    return path


def test_backups_in_the_same_second_never_share_a_file(tmp_path: Path) -> None:
    # Ten POST /runs at once made two threads copy into one name; the loser of the run race
    # removed "its" backup while the other thread still wrote it (a 500 for that caller).
    db = _library(tmp_path / "hikaze_model_manager.db")
    barrier = threading.Barrier(CALLERS)
    made: list[Path] = []
    lock = threading.Lock()

    def backup() -> None:
        barrier.wait()
        target = backup_sqlite(db, tmp_path / "backups", "before-promotion")
        with lock:
            made.append(target)

    with freeze_time("2026-11-30 02:00:00"):
        threads = [threading.Thread(target=backup) for _ in range(CALLERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert len(set(made)) == CALLERS
    for target in made:
        with sqlite3.connect(target) as conn:
            assert conn.execute("SELECT sha256 FROM models").fetchall() == [("a",)]
        conn.close()


def test_a_backup_name_says_what_and_when(tmp_path: Path) -> None:
    db = _library(tmp_path / "hikaze_model_manager.db")
    with freeze_time("2026-11-30 02:00:00"):
        first = backup_sqlite(db, tmp_path / "backups", "before-legacy")
        second = backup_sqlite(db, tmp_path / "backups", "before-legacy")
    assert first.name == "hikaze_model_manager-20261130-020000-before-legacy.sqlite3"
    assert second.name == "hikaze_model_manager-20261130-020000-before-legacy-1.sqlite3"
