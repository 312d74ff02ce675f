"""The legacy reader only reads: no write, no image or model file opened, read-only files work."""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.database.migration.legacy.reader import LegacyReader
from backend.sample.legacy_factory import LegacyLibrary, make_legacy_library
from tests.helpers.library_snapshot import snapshot_tree

_opened: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], str | bytes | Path):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def opened() -> Iterator[list[str]]:
    """Paths opened (Python-level ``open``) while the test runs."""
    global _opened
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


def _read_everything(reader: LegacyReader) -> None:
    every = list(reader.iter_models())
    assert len(every) == reader.count() == len(reader.ids())
    assert reader.get_many(reader.ids()) == {m.legacy_id: m for m in every}
    assert reader.get(every[0].legacy_id) == every[0]
    assert reader.preflight().models == len(every)
    assert len(reader.fingerprint()) == 64


def test_reading_changes_nothing_and_opens_no_image_or_model_file(
    tmp_path: Path, opened: list[str]
) -> None:
    library = make_legacy_library(tmp_path / "lib")
    before = snapshot_tree(library.root)
    opened.clear()
    with LegacyReader(library.db_path, library.images_dir) as reader:
        _read_everything(reader)
    seen = set(opened)
    assert snapshot_tree(library.root) == before
    assert str(library.db_path) in seen  # the hook works: the header check was seen
    assert seen <= {str(library.db_path)}


def test_connection_refuses_writes(library: LegacyLibrary) -> None:
    with LegacyReader(library.db_path, library.images_dir) as reader:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader._conn.execute("CREATE TABLE intruder (a)")
        assert reader.count() == len(library.rows)


def test_reads_from_a_read_only_file_and_directory(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions; the byte check above still runs")
    library = make_legacy_library(tmp_path / "lib", ["valid", "several_images"])
    before = snapshot_tree(library.root)
    library.db_path.chmod(0o444)
    library.root.chmod(0o555)
    try:
        with LegacyReader(library.db_path, library.images_dir) as reader:
            _read_everything(reader)
            assert reader.count() == 2
    finally:
        library.root.chmod(0o755)
        library.db_path.chmod(0o644)
    assert snapshot_tree(library.root) == before


def test_path_with_uri_special_characters(tmp_path: Path) -> None:
    library = make_legacy_library(tmp_path / "my lib #1 %20?x=1&mode=rw", ["valid"])
    with LegacyReader(library.db_path, library.images_dir) as reader:
        assert [m.legacy_id for m in reader.iter_models()] == [1]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader._conn.execute("CREATE TABLE intruder (a)")
