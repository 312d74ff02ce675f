"""Fixtures of the legacy-reader tests: one CASES library and its models, read once."""

from __future__ import annotations

import pytest

from backend.database.migration.legacy.reader import LegacyReader
from backend.database.migration.legacy.rows import LegacyModel
from backend.sample.legacy_factory import LegacyLibrary, make_legacy_library


@pytest.fixture(scope="package")
def library(tmp_path_factory: pytest.TempPathFactory) -> LegacyLibrary:
    """The CASES library (seed 3), shared read-only by the package's tests."""
    return make_legacy_library(tmp_path_factory.mktemp("legacy"), seed=3)


@pytest.fixture(scope="package")
def models(library: LegacyLibrary) -> dict[int, LegacyModel]:
    """Every model of ``library`` as the reader returns it (batches of 7), by legacy id."""
    with LegacyReader(library.db_path, library.images_dir) as reader:
        return {m.legacy_id: m for m in reader.iter_models(batch_size=7)}
