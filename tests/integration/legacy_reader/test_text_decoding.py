"""The reader lets SQLite decode text (quick) and reads a query again through ``decode_text``
only when a value in it is not UTF-8: the rows are the same either way."""

from __future__ import annotations

from pathlib import Path

from backend.database.migration.jsonsafe import InvalidText
from backend.database.migration.legacy.reader import LegacyReader
from tests.helpers.odd_legacy import RawText, odd_row, write_odd_library


def test_a_page_with_one_value_that_is_not_utf8_reads_like_before(tmp_path: Path) -> None:
    rows = [odd_row(1), odd_row(2, name=RawText(b"caf\xe9")), odd_row(3, name="caf\u00e9")]
    lib = write_odd_library(tmp_path / "legacy", rows)
    with LegacyReader(lib.db_path, lib.images_dir) as reader:
        models = list(reader.iter_models())
        again = reader.get_many([1, 3])
        raw = reader._query("SELECT name FROM models ORDER BY id")

    assert [m.name for m in models] == ["odd 1", "caf\\xe9", "café"]
    assert [w.code for w in models[1].warnings] == ["legacy_text_not_utf8"]
    assert models[1].extra["legacy_name"] == {"utf8_invalid_hex": "636166e9"}
    assert models[0].warnings == models[2].warnings == []
    assert [again[1].name, again[3].name] == ["odd 1", "café"]  # decoding is back to quick
    assert [type(r[0]) for r in raw] == [str, InvalidText, str]
