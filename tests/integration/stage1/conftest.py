"""Fixtures of the stage-1 tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.sample.legacy_factory import LegacyLibrary, make_legacy_library
from tests.helpers.library_snapshot import snapshot_tree


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[LegacyLibrary]:
    """The CASES library; the test fails if anything under it changed."""
    lib = make_legacy_library(tmp_path / "legacy")
    before = snapshot_tree(lib.root)
    yield lib
    assert snapshot_tree(lib.root) == before, "the legacy library was modified"
