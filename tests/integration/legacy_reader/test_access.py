"""The legacy reader's access paths agree (get, get_many, batches) and its fingerprint is stable."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from backend.database.migration.legacy.reader import LegacyReader
from backend.sample.legacy_factory import make_legacy_library, make_sample_library


def test_get_many_get_and_batches_agree(tmp_path: Path) -> None:
    library = make_sample_library(tmp_path / "lib", models=1200, image_size=None)
    with LegacyReader(library.db_path, library.images_dir) as reader:
        statements: list[str] = []
        reader._conn.set_trace_callback(statements.append)
        every = list(reader.iter_models(batch_size=500))
        reader._conn.set_trace_callback(None)
        assert len(statements) <= 2 * 4  # a rows query + a tags query per batch: no N+1
        assert [m.legacy_id for m in every] == reader.ids() == [r.legacy_id for r in library.rows]
        assert list(reader.iter_models(batch_size=1)) == every
        wanted = [*reader.ids()[::3], 99_999]
        got = reader.get_many(wanted)
        assert sorted(got) == reader.ids()[::3]
        assert all(got[i] == every[i - 1] for i in got)
        assert reader.get(99_999) is None
        assert reader.get(5) == every[4]


def test_fingerprint_is_stable_and_content_sensitive(tmp_path: Path) -> None:
    library = make_legacy_library(tmp_path / "lib", ["valid", "null_name"])
    with LegacyReader(library.db_path, library.images_dir) as reader:
        first = reader.fingerprint()
    with LegacyReader(library.db_path, library.images_dir) as reader:
        assert reader.fingerprint() == first
    changed = tmp_path / "changed.sqlite3"
    shutil.copy(library.db_path, changed)
    conn = sqlite3.connect(changed)
    with conn:
        conn.execute("UPDATE models SET name = 'edited' WHERE id = 1")
    conn.close()
    with LegacyReader(changed, library.images_dir) as reader:
        assert reader.fingerprint() != first


def test_reads_every_row_of_a_large_library_once(tmp_path: Path) -> None:
    library = make_sample_library(tmp_path / "big", models=10_000, image_size=None)
    with LegacyReader(library.db_path, library.images_dir) as reader:
        ids = [m.legacy_id for m in reader.iter_models()]
    assert ids == sorted({r.legacy_id for r in library.rows})
