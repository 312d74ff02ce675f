"""``iter_models(type_of=...)`` gives the rows the audit compares: each as ``as_v2_row`` makes it
(the legacy row with its v2 type), without a copy per row."""

from __future__ import annotations

from pathlib import Path

from backend.database.migration.legacy.reader import LegacyReader
from backend.database.migration.steps.legacy import as_v2_row
from backend.database.migration.types import TypeMap
from backend.sample.legacy_factory import make_sample_library


def test_rows_read_with_their_v2_type_equal_the_copied_ones(tmp_path: Path) -> None:
    lib = make_sample_library(tmp_path / "legacy", models=40, image_size=(8, 8), seed=11)
    aliases = TypeMap()
    folders = TypeMap(folders=((str(lib.models_dir / "loras").lower(), "styles"),))
    with LegacyReader(lib.db_path, lib.images_dir) as reader:
        for types in (aliases, folders):
            want = [as_v2_row(r, types) for r in reader.iter_models()]
            got = list(reader.iter_models(type_of=types.v2_type))
            assert [m.model_dump() for m in got] == [m.model_dump() for m in want]
            assert [m.model_fields_set for m in got] == [m.model_fields_set for m in want]
        assert {r.type for r in got} != {r.type for r in reader.iter_models()}  # it mapped
        assert "styles" in {r.type for r in got}
