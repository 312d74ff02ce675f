"""The legacy reader's preflight summary matches the factory's library."""

from __future__ import annotations

from pathlib import Path

from backend.database.migration.legacy.reader import LegacyReader
from backend.database.migration.records import normalize_tag
from backend.sample.legacy_factory import LegacyLibrary, make_sample_library
from tests.helpers.legacy_cases import EXPECTED_KIND


def test_preflight_matches_the_factory(library: LegacyLibrary) -> None:
    rows = library.rows
    with LegacyReader(library.db_path, library.images_dir) as reader:
        pre = reader.preflight()
    kinds = [EXPECTED_KIND.get(r.case, "valid") for r in rows]
    image_kinds = [k for r in rows for k in r.image_kinds]
    assert pre.schema_version == 2
    assert pre.models == len(rows)
    assert (pre.valid_hashes, pre.uppercase_hashes) == (kinds.count("valid"), 1)
    assert (pre.missing_hashes, pre.invalid_hashes) == (1, 1)
    assert pre.duplicate_hashes == len(library.by_case("duplicate_hash")) - 1
    assert pre.tags == len({normalize_tag(t) for r in rows for t in r.tags})
    assert pre.images_referenced == sum(len(r.image_urls) for r in rows)
    assert pre.images_missing == image_kinds.count("missing")
    assert pre.images_outside == image_kinds.count("outside")
    assert pre.model_files_missing == sum(not r.file_exists for r in rows)
    assert pre.extra_invalid == 2
    assert pre.fields_invalid == 1
    assert any("outside" in w for w in pre.warnings)
    assert any("conflict" in w for w in pre.warnings)


def test_preflight_of_a_clean_library_has_no_warnings(tmp_path: Path) -> None:
    library = make_sample_library(tmp_path / "lib", models=40, include_cases=False)
    with LegacyReader(library.db_path, library.images_dir) as reader:
        pre = reader.preflight()
    assert pre.models == pre.valid_hashes == 40
    assert pre.images_referenced == 40
    assert pre.warnings == []
