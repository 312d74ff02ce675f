"""The legacy reader refuses what is not a v1 library, naming the path."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from backend.database.migration.errors import LegacyDatabaseError
from backend.database.migration.legacy.reader import LegacyReader
from backend.sample.legacy_factory import LegacyLibrary


def test_missing_database(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite3"
    with pytest.raises(LegacyDatabaseError, match="not found") as err:
        LegacyReader(missing, tmp_path)
    assert str(missing) in err.value.message
    assert err.value.code == "legacy_db_invalid"


def test_not_a_sqlite_file(tmp_path: Path) -> None:
    bogus = tmp_path / "legacy.sqlite3"
    bogus.write_text("hello, I am a text file pretending to be a database")
    with pytest.raises(LegacyDatabaseError, match="not a SQLite database") as err:
        LegacyReader(bogus, tmp_path)
    assert str(bogus) in err.value.message


def test_directory_instead_of_database(tmp_path: Path) -> None:
    with pytest.raises(LegacyDatabaseError) as err:
        LegacyReader(tmp_path, tmp_path)
    assert str(tmp_path) in err.value.message


def test_sqlite_without_v1_tables(tmp_path: Path) -> None:
    db = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT)")
    conn.close()
    with pytest.raises(LegacyDatabaseError) as err:
        LegacyReader(db, tmp_path)
    assert str(db) in err.value.message
    assert "models" in err.value.message and "model_tags" in err.value.message
    assert ", tags" not in err.value.message


@pytest.mark.parametrize("make", ["missing", "file"])
def test_images_dir_must_be_a_directory(library: LegacyLibrary, tmp_path: Path, make: str) -> None:
    images = tmp_path / "images"
    if make == "file":
        images.write_text("x")
    with pytest.raises(LegacyDatabaseError) as err:
        LegacyReader(library.db_path, images)
    assert str(images) in err.value.message
